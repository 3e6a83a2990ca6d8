// Pure decisions of the artifacts controller: which CIDs a job needs pinned on the hub, what its
// OutputPinned condition should say after a pin attempt, and which CIDs may be unpinned when a job
// that asked for it is deleted. No I/O; the controller gathers and applies.
import { AIJOB_CONDITION, AIJOB_REASON } from '../api/conditions.ts';
import type { AIJob, Condition } from '../api/types.ts';
import { findCondition } from '../core/conditions.ts';
import type { ConditionUpdate } from '../core/conditions.ts';
import { checkCid } from './cid.ts';

/** Opt-in deletion policy: with this annotation set to "true", deleting the job unpins what it pinned. */
export const ANNOTATION_UNPIN_ON_DELETE = 'flotilla.dev/unpin-on-delete';
/** Held by jobs with ANNOTATION_UNPIN_ON_DELETE until their pins are released. */
export const ARTIFACTS_FINALIZER = 'flotilla.dev/artifacts';

export interface JobPins {
  /** status.outputCID, when the job has one and spec.output.pin is true. */
  readonly output?: string;
  /** Every attempts[].checkpointCID, oldest first, once each. */
  readonly checkpoints: readonly string[];
  /** Every attempts[].logTailCID (added pinned by the AIJob controller; listed so unpin-on-delete releases them). */
  readonly logTails: readonly string[];
}

export function jobPins(job: AIJob): JobPins {
  const output = job.spec.output.pin !== false ? job.status?.outputCID : undefined;
  const checkpoints = [...new Set((job.status?.attempts ?? []).flatMap((a) => (a.checkpointCID ? [a.checkpointCID] : [])))];
  const logTails = [...new Set((job.status?.attempts ?? []).flatMap((a) => (a.logTailCID ? [a.logTailCID] : [])))];
  return { ...(output ? { output } : {}), checkpoints, logTails };
}

/** Whether OutputPinned already says `cid` is pinned (then nothing is asked of Kubo again). */
export function outputAlreadyPinned(job: AIJob, cid: string): boolean {
  const c = findCondition(job.status?.conditions, AIJOB_CONDITION.OutputPinned);
  return c?.status === 'True' && c.reason === AIJOB_REASON.Pinned && c.message.includes(cid);
}

export type PinOutcome = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** OutputPinned after trying to pin `cid`; a CID that does not parse is never sent to Kubo. */
export function outputPinnedCondition(cid: string, outcome: PinOutcome): ConditionUpdate {
  const type = AIJOB_CONDITION.OutputPinned;
  const parsed = checkCid(cid);
  if (!parsed.ok) return { type, status: 'False', reason: AIJOB_REASON.PinFailed, message: `status.outputCID is not a valid CID: ${parsed.message}` };
  if (outcome.ok) return { type, status: 'True', reason: AIJOB_REASON.Pinned, message: `${cid} is pinned on the hub's IPFS node` };
  return { type, status: 'False', reason: AIJOB_REASON.PinFailed, message: `${outcome.message}; retrying` };
}

/** True when `update` would change the condition list (lastTransitionTime aside). */
export function conditionDiffers(conditions: readonly Condition[] | undefined, update: ConditionUpdate): boolean {
  const c = findCondition(conditions, update.type);
  return !c || c.status !== update.status || c.reason !== update.reason || c.message !== update.message;
}

export function wantsUnpinOnDelete(job: AIJob): boolean {
  return job.metadata.annotations?.[ANNOTATION_UNPIN_ON_DELETE] === 'true';
}

/** Every CID this job made the hub pin (output, checkpoints, receipt); inputs are the submitter's and stay. */
export function pinnedByJob(job: AIJob): string[] {
  const pins = jobPins(job);
  return [
    ...new Set([...(pins.output ? [pins.output] : []), ...pins.checkpoints, ...pins.logTails, ...(job.status?.receiptCID ? [job.status.receiptCID] : [])]),
  ];
}

/**
 * What deleting `job` may unpin: its own pins minus any CID another job still references (Kubo pins
 * are not counted, so two jobs with the same output share one pin).
 */
export function releasablePins(job: AIJob, others: readonly AIJob[]): string[] {
  const stillUsed = new Set(
    others.filter((o) => o.metadata.uid !== job.metadata.uid).flatMap((o) => [...pinnedByJob(o), ...(o.spec.inputs ?? []).map((i) => i.cid)]),
  );
  return pinnedByJob(job).filter((cid) => !stillUsed.has(cid));
}
