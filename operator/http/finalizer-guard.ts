// Flotilla's finalizers on an AIJob are promises the operator keeps: flotilla.dev/settlement holds a
// deleted job until the work its providers did is paid; the lifecycle's finalizer holds it until
// its pods are stopped and its last attempt metered. A tenant with the built-in `edit` role may
// patch its AIJob's metadata, so without this guard it could delete a funded job, strip the
// settlement finalizer and leave its providers unpaid. Only the operator's own identity removes
// them. Pure: the webhook passes in who asked (AdmissionRequest.userInfo) and who the operator is
// (a SelfSubjectReview at start, operator/http/whoami.ts).

/** Finalizers only the operator may remove: every one in Flotilla's group. */
export const isFlotillaFinalizer = (f: string) => f.startsWith('flotilla.dev/');

/**
 * Why removing finalizers from `before` to `after` is refused for `username`, or undefined.
 * `operatorUsername` undefined (the operator could not learn who it is): nothing is refused, so a
 * misconfigured webhook never wedges the operator's own deletions.
 */
export function finalizerRemovalProblem(
  before: readonly string[] | undefined,
  after: readonly string[] | undefined,
  username: string | undefined,
  operatorUsername: string | undefined,
): string | undefined {
  if (operatorUsername === undefined || username === operatorUsername) return undefined;
  const kept = new Set(after ?? []);
  const removed = (before ?? []).filter((f) => isFlotillaFinalizer(f) && !kept.has(f));
  if (removed.length === 0) return undefined;
  return (
    `metadata.finalizers: ${removed.map((f) => JSON.stringify(f)).join(', ')} may be removed only by the Flotilla operator (${operatorUsername}); ` +
    "it removes them itself once the job's pods are stopped and its providers are paid"
  );
}
