// Status writes of the payment controllers. A change touches only the payment fields (funding,
// settlement, the Funded and Settled conditions, the Settled phase), and only those it changes are
// sent: as a JSON patch that tests what it replaces (core/status-patch.ts), so the AIJob
// controller's and the artifacts' writes to the same status do not refuse it; where that cannot be
// said (the job's first condition of a type beside others) or the test failed, as a
// read-modify-write with a resourceVersion precondition. A refusal (409) re-reads the job and
// applies the change again. The only metadata they write is the settlement finalizer
// (setFinalizer), added and removed without a resourceVersion (AIJobStore.addFinalizer,
// removeFinalizer), so a status write landing meanwhile does not refuse it either.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, GROUP, SETTLEMENT_FINALIZER, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus } from '../api/types.ts';
import { findCondition, setCondition } from '../core/conditions.ts';
import { sameJson } from '../core/json.ts';
import { guardedStatusPatch } from '../core/status-patch.ts';
import type { AIJobStore } from '../hub/aijob-store.ts';

export { SETTLEMENT_FINALIZER };

export function holdsSettlement(job: AIJob): boolean {
  return (job.metadata.finalizers ?? []).includes(SETTLEMENT_FINALIZER);
}

/** Returns the status to write, or undefined when nothing is to change. */
export type StatusChange = (job: AIJob) => AIJobStatus | undefined;

const MAX_CONFLICTS = 8;
const LAST_WRITES_KEPT = 512;
const WRITTEN_RECENTLY_MS = 10_000;

type Condition = NonNullable<AIJobStatus['conditions']>[number];
const sameCondition = (a: Condition | undefined, b: Condition | undefined) =>
  a !== undefined && b !== undefined && sameJson({ ...a, lastTransitionTime: '' }, { ...b, lastTransitionTime: '' });

/**
 * Whether every field `changed` writes (over `stored`) holds that value in `written` already — for
 * conditions, each one it changes (a new lastTransitionTime aside). The payments are the only
 * writer of their fields, so what they wrote stands until they write again.
 */
export function wroteAlready(changed: AIJobStatus, stored: AIJobStatus, written: AIJobStatus): boolean {
  const holds = (c: Condition, status: AIJobStatus) =>
    sameCondition(
      c,
      status.conditions?.find((x) => x.type === c.type),
    );
  return Object.entries(changed).every(([field, value]) =>
    field === 'conditions' ? (value as Condition[]).every((c) => holds(c, stored) || holds(c, written)) : sameJson(value, written[field as keyof AIJobStatus]),
  );
}

export class JobStatusWriter {
  private readonly store: AIJobStore;
  private readonly custom: CustomObjectsApi;
  /** By job uid: the version this writer last wrote, and the resourceVersion that write replaced. */
  private readonly lastWrite = new Map<string, { readonly replaced: string; readonly written: AIJob; readonly at: number }>();

  constructor(hub: KubeConfig, store: AIJobStore) {
    this.store = store;
    this.custom = hub.makeApiClient(CustomObjectsApi);
  }

  /**
   * Applies `change` to `job` and writes it; on a conflict re-reads and tries again. Resolves to the
   * job as written, the job unchanged when `change` had nothing to do, or undefined when it is gone.
   */
  async update(job: AIJob, change: StatusChange): Promise<AIJob | undefined> {
    let guarded = true;
    return this.retryingConflicts(this.fresher(job), async (current) => {
      const next = change(current);
      if (!next) return current;
      // Only the fields this change wrote: the others stay as stored, and the job's managedFields
      // show the payments as the writer of theirs alone.
      const stored: AIJobStatus = current.status ?? {};
      const changed = Object.fromEntries(Object.entries(next).filter(([field, value]) => !sameJson(value, stored[field as keyof AIJobStatus]))) as AIJobStatus;
      if (Object.keys(changed).length === 0) return current;
      // The same change this writer made moments ago, decided again from a cache that has not caught
      // up (a reconcile woken by an event older than our write): the write has landed already.
      const mine = this.recentlyWritten(current);
      if (mine && wroteAlready(changed, stored, mine.status ?? {})) return mine;
      // First try: tested on what it replaces (core/status-patch.ts), so the lifecycle's or the
      // artifacts' writes landing meanwhile do not refuse it. Refused, or not expressible that way
      // (a condition added): the resourceVersion precondition on a fresh read, as before.
      // The phase is tested too: whether a job is settleable (or still worth funding) is read from it.
      const ops = guarded ? guardedStatusPatch(stored, changed, ['phase']) : undefined;
      if (!ops) return this.wrote(current, this.store.patchStatus(current, changed));
      guarded = false;
      return this.wrote(current, this.store.patchStatusGuarded(current, ops));
    });
  }

  /**
   * Adds (`present`) or removes one finalizer; on a conflict re-reads and tries again. Resolves to
   * the job as written (or unchanged when nothing was to do), undefined when it is gone.
   */
  async setFinalizer(job: AIJob, finalizer: string, present: boolean): Promise<AIJob | undefined> {
    return this.retryingConflicts(this.fresher(job), async (current) => {
      const list = current.metadata.finalizers ?? [];
      if (list.includes(finalizer) === present) return current;
      // Added or removed by this writer moments ago; the cache has not caught up (see update()).
      const mine = this.recentlyWritten(current);
      if (mine && (mine.metadata.finalizers ?? []).includes(finalizer) === present) return mine;
      // Deletion started: the API server refuses new finalizers, and there is no need for one.
      if (present && current.metadata.deletionTimestamp) return current;
      return this.wrote(current, present ? this.store.addFinalizer(current, finalizer) : this.store.removeFinalizer(current, finalizer));
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

  /**
   * `job`, or the version this writer itself wrote over it: the informer cache lags our own writes,
   * and a reconcile woken by an older event used to decide from the version our last write replaced
   * — writing the same thing again, refused as stale (409) and read again. The resourceVersion is
   * compared for equality only (the version our write replaced), never ordered.
   */
  private fresher(job: AIJob): AIJob {
    const last = this.lastWrite.get(job.metadata.uid ?? '');
    return last && last.replaced === job.metadata.resourceVersion ? last.written : job;
  }

  /**
   * What this writer last wrote to the job, if within WRITTEN_RECENTLY_MS: long enough for the cache
   * to catch up, short enough that a leader change in between (another replica writing the same
   * fields) cannot make a remembered write stand in for a needed one for long — and level-based
   * reconciles write it again after.
   */
  private recentlyWritten(job: AIJob): AIJob | undefined {
    const last = this.lastWrite.get(job.metadata.uid ?? '');
    return last && Date.now() - last.at < WRITTEN_RECENTLY_MS ? last.written : undefined;
  }

  /** The job as `request` wrote it over `current`, remembered (fresher(), recentlyWritten()). */
  private async wrote(current: AIJob, request: Promise<AIJob>): Promise<AIJob> {
    const written = await request;
    this.remember(current.metadata.resourceVersion, written);
    return written;
  }

  private remember(replaced: string | undefined, written: AIJob): void {
    const uid = written.metadata.uid;
    if (!uid || replaced === undefined) return;
    this.lastWrite.delete(uid);
    this.lastWrite.set(uid, { replaced, written, at: Date.now() });
    // The cache catches up within moments; a few hundred jobs' last writes are plenty.
    if (this.lastWrite.size > LAST_WRITES_KEPT) this.lastWrite.delete(this.lastWrite.keys().next().value as string);
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
