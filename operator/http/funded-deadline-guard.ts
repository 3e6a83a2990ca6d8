// A deposit funds a job only if the payer cannot reclaim it before the job's deadline plus the
// settlement window (operator/core/funding.ts). That judgement is made once, when Funded turns
// True; if the tenant could then move spec.deadline later (or drop it), the job could run past the
// point where its payer may take the deposit back, and the providers' pay with it. So once a job
// is funded its deadline may only move earlier. Pure: the validating webhook passes in the stored
// and the submitted job.
import type { AIJob } from '../api/types.ts';
import { findCondition } from '../core/conditions.ts';

const funded = (job: AIJob | undefined) => findCondition(job?.status?.conditions, 'Funded')?.status === 'True';
const deadlineOf = (job: AIJob | undefined) => (job?.spec as { deadline?: string } | undefined)?.deadline;

/** Why the UPDATE from `before` to `after` moves a funded job's deadline out of reach, or undefined. */
export function fundedDeadlineProblem(before: AIJob | undefined, after: AIJob): string | undefined {
  if (!funded(before)) return undefined;
  const was = deadlineOf(before);
  const now = deadlineOf(after);
  if (was === now) return undefined;
  const wasMs = was === undefined ? undefined : Date.parse(was);
  const nowMs = now === undefined ? undefined : Date.parse(now);
  if (wasMs !== undefined && nowMs !== undefined && !Number.isNaN(wasMs) && !Number.isNaN(nowMs) && nowMs <= wasMs) return undefined;
  const from = was === undefined ? 'none' : was;
  const to = now === undefined ? 'none' : now;
  return (
    `spec.deadline: the job is funded, so its deadline may only move earlier (${from} → ${to}); ` +
    "the deposit was judged against the deadline it had (a later one could outlive the payer's reclaim deadline)"
  );
}
