// The read side of the provider connections (ProviderRegistry in ./types.ts): what the AIJob
// reconciler and metrics use. The GPUProvider controller is its only writer: it records each
// GPUProvider, why it cannot connect (if so) and its live connection; everything a reader gets is
// computed from those at the moment it asks, so a snapshot is never staler than the informer caches.
import type { GPUProvider } from '../api/types.ts';
import { gpuInventory } from '../core/inventory.ts';
import type { ProviderSnapshot } from '../core/placement/types.ts';
import type { ProviderConnection } from './connection.ts';
import { connectionUsable } from './health.ts';
import type { ProviderConfigError, ProviderFacts } from './health.ts';
import { hasPricedGpus, providerSnapshot } from './snapshot.ts';
import type { ProviderClient, ProviderEvent, ProviderRegistry } from './types.ts';

export interface ProviderEntry {
  readonly provider: GPUProvider;
  /** Set when the Secret or kubeconfig is unusable; then there is no connection. */
  readonly configError?: ProviderConfigError;
  readonly connection?: ProviderConnection;
}

export type ProviderListener = (event: ProviderEvent) => void;

export class FederatedProviderRegistry implements ProviderRegistry {
  private readonly entries = new Map<string, ProviderEntry>();
  private readonly listeners = new Set<ProviderListener>();
  /** Listener errors, counted rather than thrown into the informer that delivered the event. */
  listenerErrors = 0;

  // ── ProviderRegistry ─────────────────────────────────────────────────────────────────────────

  /**
   * The client of a provider whose kubeconfig gave a connection (it may be reconnecting: check
   * `synced` before trusting its caches); undefined when there is none.
   */
  get(name: string): ProviderClient | undefined {
    return this.entries.get(name)?.connection;
  }

  /**
   * Every known GPUProvider, by name. `ready` says the connection is usable (reachable, synced,
   * namespace present); cordoned providers and those without priced GPUs stay `ready` here so the
   * placement engine names the precise reason ("cordoned", "no node with …") — the GPUProvider Ready
   * condition is False for them.
   */
  snapshots(priceDecimals: number): ProviderSnapshot[] {
    return [...this.entries.keys()].sort().map((name) => this.snapshot(name, priceDecimals) as ProviderSnapshot);
  }

  subscribe(listener: ProviderListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ── for the GPUProvider controller ───────────────────────────────────────────────────────────

  snapshot(name: string, priceDecimals: number): ProviderSnapshot | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    const nodes = entry.connection?.nodeSnapshots() ?? [];
    const facts = this.factsOf(entry);
    const notUsable = connectionUsable(facts);
    return providerSnapshot({
      provider: entry.provider,
      ...(notUsable ? { notUsable } : {}),
      nodes,
      pods: entry.connection?.pods() ?? [],
      priceDecimals,
    });
  }

  entry(name: string): ProviderEntry | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** Per provider: is the connection usable, and how many GPUs of each product are free on its usable nodes (for /metrics). */
  capacity(): Array<{ provider: string; ready: boolean; freeGpus: Map<string, number> }> {
    return this.names().map((provider) => {
      const entry = this.entries.get(provider) as ProviderEntry;
      const ready = connectionUsable(this.factsOf(entry)) === undefined;
      const inventory = ready ? gpuInventory(entry.connection?.nodeSnapshots() ?? []).inventory : [];
      return { provider, ready, freeGpus: new Map(inventory.map((e) => [e.product, e.free ?? 0])) };
    });
  }

  /** Everything the conditions are computed from. */
  facts(name: string): ProviderFacts | undefined {
    const entry = this.entries.get(name);
    return entry ? this.factsOf(entry) : undefined;
  }

  /**
   * Records a provider's current state. A connection that is replaced is stopped here; a
   * `provider` event goes out when the connection, the config error or the cordon changed.
   */
  set(entry: ProviderEntry): void {
    const name = entry.provider.metadata.name ?? '';
    const previous = this.entries.get(name);
    if (previous?.connection && previous.connection !== entry.connection) previous.connection.stop();
    this.entries.set(name, entry);
    const changed =
      !previous ||
      previous.connection !== entry.connection ||
      previous.configError?.message !== entry.configError?.message ||
      (previous.provider.spec.cordoned === true) !== (entry.provider.spec.cordoned === true) ||
      previous.provider.metadata.generation !== entry.provider.metadata.generation;
    if (changed) this.emit({ kind: 'provider', provider: name });
  }

  /** Forgets a deleted provider and stops its connection. */
  remove(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    entry.connection?.stop();
    this.entries.delete(name);
    this.emit({ kind: 'provider', provider: name });
  }

  /** Stops every connection (operator shutdown). */
  stopAll(): void {
    for (const name of [...this.entries.keys()]) this.remove(name);
  }

  emit(event: ProviderEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        this.listenerErrors += 1;
      }
    }
  }

  private factsOf(entry: ProviderEntry): ProviderFacts {
    const spec = entry.provider.spec;
    const base = entry.connection?.facts() ?? { synced: false, answered: false };
    return {
      ...base,
      ...(entry.configError ? { configError: entry.configError } : {}),
      namespace: spec.namespace,
      cordoned: spec.cordoned === true,
      hasPricedGpus: hasPricedGpus(entry.provider, entry.connection?.nodeSnapshots() ?? []),
    };
  }
}

/** The registry the operator shares between the GPUProvider controller (writer) and its readers. */
export function createProviderRegistry(): FederatedProviderRegistry {
  return new FederatedProviderRegistry();
}
