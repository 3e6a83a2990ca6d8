// Writes attempt outcomes into GPUProvider status.reputation on the hub, where the placement engine
// reads them back (providers/snapshot.ts). Read → fold (core/reputation.ts) → a JSON patch that
// tests status.reputation.revision (the value read) and replaces the reputation with the next
// revision: a compare-and-swap on the reputation alone, retried when another reputation write (an
// operator beside this one) landed first. It used to be a merge patch with the object's
// resourceVersion, refused by every write of the GPUProvider controller (inventory, lastSeen: once
// a second per provider in a burst); after six refusals the outcome was dropped — 3 of ~500 in the
// dispatch benchmark, and a provider churning its own nodes could have kept its failures off its
// record. One provider's outcomes are written one at a time so concurrent workers never lose an
// update. Reputation is statistics, not money: an outcome
// lost to a crash between the AIJob status write and this one is accepted, never double-counted.
// A provider violation (a pod it made with a job's labels) is a penalty folded the same way.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { GPUProvider } from '../api/types.ts';
import { foldOutcome, foldProvenMismatch, foldViolation } from '../core/reputation.ts';
import type { ProviderReputation } from '../api/types.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import type { AttemptOutcome } from '../core/reputation.ts';

const MAX_CONFLICT_RETRIES = 5;

export class ReputationWriter {
  private readonly custom: CustomObjectsApi;
  private readonly chains = new Map<string, Promise<void>>();
  /** Outcomes written, for tests and metrics. */
  written = 0;

  constructor(hub: KubeConfig) {
    this.custom = hub.makeApiClient(CustomObjectsApi);
  }

  /** Folds the outcome into its provider's reputation; resolves once written (or the provider is gone). */
  record(outcome: AttemptOutcome): Promise<void> {
    return this.chain(outcome.provider, (rep) => foldOutcome(rep, outcome));
  }

  /** A penalty for a provider-made pod with a job's labels (core/reputation.ts foldViolation). */
  recordViolation(provider: string): Promise<void> {
    return this.chain(provider, (rep) => foldViolation(rep));
  }

  /** A run here proven wrong by re-execution (docs/verification.md): the provider is distrusted from then on. */
  recordProvenMismatch(provider: string): Promise<void> {
    return this.chain(provider, (rep) => foldProvenMismatch(rep));
  }

  private chain(provider: string, fold: (rep: ProviderReputation | undefined) => ProviderReputation): Promise<void> {
    const previous = this.chains.get(provider) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.write(provider, fold));
    this.chains.set(provider, next);
    void next
      .finally(() => {
        if (this.chains.get(provider) === next) this.chains.delete(provider);
      })
      .catch(() => undefined);
    return next;
  }

  private async write(provider: string, fold: (rep: ProviderReputation | undefined) => ProviderReputation): Promise<void> {
    const ref = { group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: provider };
    for (let attempt = 0; ; attempt++) {
      let current: GPUProvider;
      try {
        current = (await this.custom.getClusterCustomObject(ref)) as GPUProvider;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return;
        throw err;
      }
      const before = current.status?.reputation;
      // The fields a fold does not name are kept, as the merge patch this replaced kept them.
      const reputation: ProviderReputation = { ...before, ...fold(before), revision: (before?.revision ?? 0) + 1 };
      assertLeading(`write the reputation of ${provider}`);
      try {
        const swap = compareAndSwap(current, reputation);
        if (swap) {
          await this.custom.patchClusterCustomObjectStatus({ ...ref, body: swap }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
        } else {
          // A reputation written before revisions existed (once per provider): the object's resourceVersion guards it.
          await this.custom.patchClusterCustomObjectStatus(
            { ...ref, body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: { reputation } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
        }
        this.written++;
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) return;
        // 422: a test failed (another reputation write landed first); 409: the resourceVersion moved (a reputation from before revisions).
        if ((code !== 409 && code !== 422) || attempt >= MAX_CONFLICT_RETRIES) throw err;
      }
    }
  }
}

/**
 * The JSON patch that writes `next` only if the reputation is still the one read: its revision
 * tested, or its absence (a test for null passes on a missing member); undefined for a reputation
 * from before revisions.
 */
function compareAndSwap(current: GPUProvider, next: ProviderReputation): object[] | undefined {
  const before = current.status?.reputation;
  if (current.status === undefined) {
    return [
      { op: 'test', path: '/status', value: null },
      { op: 'add', path: '/status', value: { reputation: next } },
    ];
  }
  if (before === undefined) {
    return [
      { op: 'test', path: '/status/reputation', value: null },
      { op: 'add', path: '/status/reputation', value: next },
    ];
  }
  if (before.revision === undefined) return undefined;
  return [
    { op: 'test', path: '/status/reputation/revision', value: before.revision },
    { op: 'replace', path: '/status/reputation', value: next },
  ];
}
