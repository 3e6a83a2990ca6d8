// What the AIJob controller checks before it acts on a job, because the admission webhooks may
// have been down (or not registered) when the job was created or changed:
//
//   1. the spec can run (core/validation/runnable.ts); if not, the job ends Failed, reason
//      InvalidSpec, the message naming the field — never a reconcile that throws forever or a pod
//      create the provider refuses on every retry;
//   2. its namespace's placement policy (core/placement/namespace-policy.ts): the job is placed
//      with its ask intersected with the policy; one that asks for what the policy forbids ends
//      Failed, reason PolicyViolation, when it is about to be placed (a running attempt is left
//      to finish). Until the namespace cache has synced nothing is placed. (A job without
//      spec.payment on a paid hub is held by the funding controller, core/funding.ts.)
//
// A job being deleted or already finished passes untouched. What the checks miss and the reconcile
// still cannot parse throws TerminalSpecError (core/terminal-error.ts); the controller ends the job
// through endRefused() below, the same way, instead of retrying it forever.
import type { AIJob, AIJobStatus } from '../../api/types.ts';
import { setCondition } from '../../core/conditions.ts';
import { isTerminal, openAttempt } from '../../core/lifecycle/plan.ts';
import { applyNamespacePolicy } from '../../core/placement/namespace-policy.ts';
import type { PolicyViolation } from '../../core/placement/namespace-policy.ts';
import { validateRunnable } from '../../core/validation/runnable.ts';
import type { RunnableLimits } from '../../core/validation/runnable.ts';
import type { AIJobStore } from '../../hub/aijob-store.ts';
import type { NamespaceCache } from '../../hub/namespace-cache.ts';
import type { Logger } from '../../log.ts';

export interface SpecGateOptions {
  readonly namespaces: NamespaceCache;
  readonly limits: RunnableLimits;
  readonly log: Logger;
  readonly now?: () => number;
}

export type GateOutcome =
  | { readonly proceed: AIJob }
  /** The gate wrote the job's status (or it must wait): the reconcile ends here. */
  | { readonly done: { readonly requeueAfterMs?: number } };

/** How often a job is looked at again while the namespace cache has not synced. */
const CACHE_WAIT_MS = 1_000;

export class SpecGate {
  private readonly opts: SpecGateOptions;
  private readonly now: () => number;

  constructor(opts: SpecGateOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  async admit(job: AIJob, store: AIJobStore): Promise<GateOutcome> {
    if (job.metadata.deletionTimestamp || isTerminal(job.status)) return { proceed: job };
    const invalid = validateRunnable(job.spec, this.opts.limits);
    if (invalid.length > 0) return this.fail(job, store, 'InvalidSpec', invalid);

    const policy = this.opts.namespaces.policy(job.metadata.namespace ?? '');
    if (!policy) return { done: { requeueAfterMs: CACHE_WAIT_MS } };
    // An unpaid job on a paid hub is the funding controller's to hold (Funded=False, PaymentRequired:
    // the namespace may allow it later), not a terminal violation here.
    const verdict = applyNamespacePolicy(job.spec, policy, { paymentsRequired: false });
    if (verdict.violations.length > 0 && !openAttempt(job.status)) return this.fail(job, store, 'PolicyViolation', verdict.violations);
    return { proceed: verdict.narrowed.length > 0 ? { ...job, spec: verdict.spec } : job };
  }

  private async fail(job: AIJob, store: AIJobStore, reason: RefusalReason, problems: readonly PolicyViolation[]): Promise<GateOutcome> {
    await endRefused(job, store, reason, problems, { now: this.now(), log: this.opts.log });
    return { done: {} };
  }
}

export type RefusalReason = 'InvalidSpec' | 'PolicyViolation';

/**
 * Ends the job Failed — Finished=True and Running=False with `reason`, the message naming each
 * field, an open attempt closed — and records a Warning Event. The one way a job is refused for
 * its spec: the gate's checks above, and a TerminalSpecError the reconcile threw (controller.ts).
 */
export async function endRefused(
  job: AIJob,
  store: AIJobStore,
  reason: RefusalReason,
  problems: readonly PolicyViolation[],
  ctx: { now: number; log: Logger },
): Promise<void> {
  const now = new Date(ctx.now).toISOString();
  const message = (reason === 'InvalidSpec' ? 'the spec cannot run: ' : 'namespace policy forbids it: ') + problems.map((p) => p.message).join('; ');
  const generation = job.metadata.generation;
  const previous: AIJobStatus = job.status ?? {};
  let conditions = setCondition(previous.conditions, { type: 'Finished', status: 'True', reason, message: message.slice(0, 32_768) }, now, generation);
  conditions = setCondition(conditions, { type: 'Running', status: 'False', reason: 'AttemptEnded', message: message.slice(0, 32_768) }, now, generation);
  // An open attempt (its pods refused by the provider, say) is closed: nothing more runs.
  const attempts = previous.attempts?.map((a) => (a.endTime ? a : { ...a, endTime: now, reason, message: message.slice(0, 4096) }));
  const status: AIJobStatus = {
    ...previous,
    phase: 'Failed',
    conditions,
    completionTime: now,
    ...(attempts ? { attempts } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  ctx.log('info', 'job refused for its spec', { job: `${job.metadata.namespace}/${job.metadata.name}`, reason, fields: problems.map((p) => p.field) });
  await store.patchStatus(job, status);
  void store.recordEvent(job, { type: 'Warning', reason, message: message.slice(0, 1024) }).catch(() => undefined);
}
