// Which operator instance runs a job. Two operators can see one AIJob: a cluster-wide one (`make
// run`) beside a namespace-scoped one (`make demo`), each leading under its own Lease. Both acted on
// the demo's job and both created pods. Now each job carries the name of the one operator that runs
// it, in an annotation written once with the job's resourceVersion as a precondition: of two
// operators claiming at once, the apiserver lets exactly one write land (the other gets 409, reads
// the job again and finds it taken). Every controller of an operator acts only on its own jobs.
//
//   annotation flotilla.dev/managed-by    this operator is …    it
//   ────────────────────────────────────  ────────────────────  ─────────────────────────────────────
//   absent                                 any                   claims it (the AIJob controller, first)
//   its own name                           the claimant          runs it
//   another name                           not the claimant      leaves it alone, says so once
//
// A tenant may name an operator at creation (as Kueue's spec.managedBy); once set the name is
// immutable (operator/http/webhooks.ts), so a job never changes hands under a running attempt.
// An operator's name is its Lease (namespace/name): the replicas of one Deployment share it, so a
// failover keeps running the jobs the previous leader claimed.
import type { AIJob } from '../../api/types.ts';
import { boundText } from '../bounded-text.ts';

export const MANAGED_BY_ANNOTATION = 'flotilla.dev/managed-by';

/**
 * The longest operator name (a Lease's namespace/name: 63 + 1 + 253). The annotation is the tenant's
 * to write: compared whole, but shown (log lines, webhook answers) only up to this length.
 */
export const MAX_OPERATOR_NAME = 317;

/** The operator a job is claimed by; undefined when unclaimed. */
export function claimOf(job: Pick<AIJob, 'metadata'>): string | undefined {
  const v = job.metadata.annotations?.[MANAGED_BY_ANNOTATION];
  return v === undefined || v === '' ? undefined : v;
}

export type ClaimVerdict = 'mine' | 'unclaimed' | { readonly other: string };

export function claimVerdict(job: Pick<AIJob, 'metadata'>, me: string): ClaimVerdict {
  const owner = claimOf(job);
  if (owner === undefined) return 'unclaimed';
  return owner === me ? 'mine' : { other: boundText(owner, MAX_OPERATOR_NAME) };
}

/**
 * Why an update from `before` to `after` may not be applied, or undefined. The claim is written
 * once — at creation by the tenant, or by the first operator's claim — and never changed or removed.
 */
export function claimChangeProblem(before: Pick<AIJob, 'metadata'> | undefined, after: Pick<AIJob, 'metadata'>): string | undefined {
  if (!before) return undefined;
  const was = claimOf(before);
  const now = claimOf(after);
  if (was === undefined || was === now) return undefined;
  return (
    `metadata.annotations["${MANAGED_BY_ANNOTATION}"]: the job is run by operator ${JSON.stringify(boundText(was, MAX_OPERATOR_NAME))}; ` +
    'the operator that runs a job cannot be changed or removed (delete the job and create it again to move it)'
  );
}
