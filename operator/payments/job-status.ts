// Status writes of the payment controllers. The AIJob controller writes the same status, so every
// write is a read-modify-write with a resourceVersion precondition: a conflict (409) re-reads the
// job from the API server and applies the change again. A change touches only the payment fields
// (funding, cost, settlement, the Funded and Settled conditions, the Settled phase); the only
// metadata they write is the settlement finalizer (setFinalizer).
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus } from '../api/types.ts';
import { findCondition, setCondition } from '../core/conditions.ts';
import { sameJson } from '../core/json.ts';
import type { AIJobStore } from '../hub/aijob-store.ts';

/**
 * Held on every funded AIJob so that deleting it waits until the work done is settled. Added by the
 * funding controller before it writes Funded=True (so nothing is placed without it), removed by the
 * settlement controller once the escrow is closed (settled or reclaimed) or shown empty; nothing
 * else writes it.
 */
export const SETTLEMENT_FINALIZER = 'flotilla.dev/settlement';

export function holdsSettlement(job: AIJob): boolean {
  return (job.metadata.finalizers ?? []).includes(SETTLEMENT_FINALIZER);
}

/** Returns the status to write, or undefined when nothing is to change. */
export type StatusChange = (job: AIJob) => AIJobStatus | undefined;

const MAX_CONFLICTS = 8;

export class JobStatusWriter {
  private readonly store: AIJobStore;
  private readonly custom: CustomObjectsApi;

  constructor(hub: KubeConfig, store: AIJobStore) {
    this.store = store;
    this.custom = hub.makeApiClient(CustomObjectsApi);
  }

  /**
   * Applies `change` to `job` and writes it; on a conflict re-reads and tries again. Resolves to the
   * job as written, the job unchanged when `change` had nothing to do, or undefined when it is gone.
   */
  async update(job: AIJob, change: StatusChange): Promise<AIJob | undefined> {
    return this.retryingConflicts(job, async (current) => {
      const next = change(current);
      return !next || sameJson(next, current.status ?? {}) ? current : this.store.patchStatus(current, next);
    });
  }

  /**
   * Adds (`present`) or removes one finalizer; on a conflict re-reads and tries again. Resolves to
   * the job as written (or unchanged when nothing was to do), undefined when it is gone.
   */
  async setFinalizer(job: AIJob, finalizer: string, present: boolean): Promise<AIJob | undefined> {
    return this.retryingConflicts(job, async (current) => {
      const list = current.metadata.finalizers ?? [];
      if (list.includes(finalizer) === present) return current;
      // Deletion started: the API server refuses new finalizers, and there is no need for one.
      if (present && current.metadata.deletionTimestamp) return current;
      return this.store.setFinalizers(current, present ? [...list, finalizer] : list.filter((f) => f !== finalizer));
    });
  }

  /**
   * Runs `write` (which returns the job itself when there is nothing to write); on a 409 re-reads
   * and runs it again, at most MAX_CONFLICTS times. Undefined when the job is gone.
   */
  private async retryingConflicts(job: AIJob, write: (current: AIJob) => Promise<AIJob>): Promise<AIJob | undefined> {
    let current: AIJob | undefined = job;
    for (let i = 0; current; i += 1) {
      try {
        return await write(current);
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) return undefined;
        if (code !== 409 || i >= MAX_CONFLICTS) throw err;
        current = await this.read(current);
      }
    }
    return undefined;
  }

  /** The job as the API server has it now (not the cache). */
  async read(job: AIJob): Promise<AIJob | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: job.metadata.namespace ?? '',
        name: job.metadata.name ?? '',
      })) as AIJob;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }
}

/** A copy of `status` with one condition set (lastTransitionTime moves only when status flips). */
export function withCondition(
  status: AIJobStatus,
  type: 'Funded' | 'Settled',
  value: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  now: Date,
  generation?: number,
): AIJobStatus {
  return {
    ...status,
    conditions: setCondition(status.conditions, { type, status: value, reason, message: message.slice(0, 4096) }, now.toISOString(), generation),
  };
}

export function conditionOf(job: AIJob, type: string) {
  return findCondition(job.status?.conditions, type);
}
