// A ProviderRegistry over snapshots held in memory, for the scheduler's unit tests and benchmark:
// the scheduler's own bookkeeping is what they exercise (the real registry is covered against real
// provider clusters by the integration suites).
import type { ProviderSnapshot } from '../../operator/core/placement/types.ts';
import type { V1Pod } from '@kubernetes/client-node';
import type { ProviderClient, ProviderEvent, ProviderRegistry } from '../../operator/providers/types.ts';

export class MemoryRegistry implements ProviderRegistry {
  readonly snaps = new Map<string, ProviderSnapshot>();
  /** Per provider, the Flotilla pods its cache would show (only `pods()` of its client is served). */
  readonly podsOf = new Map<string, V1Pod[]>();
  private readonly listeners = new Set<(e: ProviderEvent) => void>();

  constructor(snapshots: readonly ProviderSnapshot[] = []) {
    for (const s of snapshots) this.snaps.set(s.name, s);
  }

  get(name: string): ProviderClient | undefined {
    const pods = this.podsOf.get(name);
    return pods ? ({ name, pods: () => pods } as unknown as ProviderClient) : undefined;
  }

  snapshots(): ProviderSnapshot[] {
    return [...this.snaps.values()];
  }

  snapshot(name: string): ProviderSnapshot | undefined {
    return this.snaps.get(name);
  }

  subscribe(listener: (e: ProviderEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces a provider's snapshot and says so, as a node event of `node` would. */
  update(snapshot: ProviderSnapshot, node = ''): void {
    this.snaps.set(snapshot.name, snapshot);
    this.emit({ kind: 'node', provider: snapshot.name, type: 'update', node: { metadata: { name: node } } });
  }

  emit(event: ProviderEvent): void {
    for (const l of this.listeners) l(event);
  }
}
