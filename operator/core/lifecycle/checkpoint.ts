// A checkpoint reported while an attempt runs (POST /v1/checkpoints, see
// operator/controllers/aijob/checkpoint-report.ts). Pure: whether the report applies, and the status
// that records it. Only the open attempt the report names is updated, and only forward in time, so
// a late or replayed report never rewinds a job or touches a closed (possibly billed) attempt.
import type { AIJobStatus } from '../../api/types.ts';
import { attemptFieldsPatch } from '../status-patch.ts';
import type { StatusPatchOp } from '../status-patch.ts';
import { isCid } from './report.ts';

export interface CheckpointReport {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly attempt: number;
  readonly cid: string;
  /**
   * Epoch ms the checkpoint was taken, never later than the hub received the report: a preempted
   * attempt is billed up to it, so a time ahead of the hub's clock would bill work nobody saw.
   */
  readonly time: number;
}

export type ReportVerdict =
  /**
   * `ops`: the same change as a JSON patch tested on what makes it apply (the attempt at its
   * position, still open, with the checkpoint read), so it needs no resourceVersion.
   */
  | { readonly ok: true; readonly status: AIJobStatus; readonly ops: readonly StatusPatchOp[] }
  /** 409: nothing to do (stale attempt, older than what is recorded); the reporter should stop retrying it. */
  | { readonly ok: false; readonly code: 400 | 409; readonly error: string };

/** The body of a report request, or what is wrong with it (naming the field). */
export function parseCheckpointReport(body: unknown, now: number): CheckpointReport | string {
  if (typeof body !== 'object' || body === null) return 'body must be a JSON object';
  const b = body as Record<string, unknown>;
  for (const key of ['namespace', 'name', 'uid'] as const) if (typeof b[key] !== 'string' || b[key] === '') return `${key} must be a non-empty string`;
  if (typeof b.attempt !== 'number' || !Number.isInteger(b.attempt) || b.attempt < 1) return 'attempt must be a positive integer';
  if (!isCid(b.cid)) return `cid ${JSON.stringify(b.cid)?.slice(0, 80)} is not a CID`;
  const time = b.time === undefined ? now : Date.parse(String(b.time));
  if (!Number.isFinite(time)) return 'time must be an RFC 3339 timestamp';
  // Beyond clock skew a future time is a broken clock or a lie, and says so; within it, the hub's
  // receipt is the latest the checkpoint can have been taken.
  if (time > now + 60_000) return 'time is in the future';
  return { namespace: b.namespace as string, name: b.name as string, uid: b.uid as string, attempt: b.attempt, cid: b.cid, time: Math.min(time, now) };
}

export function applyCheckpoint(status: AIJobStatus, report: CheckpointReport): ReportVerdict {
  const attempt = status.attempts?.find((a) => a.index === report.attempt);
  if (!attempt) return { ok: false, code: 409, error: `attempt ${report.attempt} is not on record` };
  if (attempt.endTime) return { ok: false, code: 409, error: `attempt ${report.attempt} has ended (${attempt.reason ?? 'closed'})` };
  const recorded = Date.parse(attempt.checkpointTime ?? '');
  if (Number.isFinite(recorded) && recorded >= report.time)
    return { ok: false, code: 409, error: `a checkpoint as new or newer is recorded (${attempt.checkpointTime})` };
  const checkpointTime = new Date(report.time).toISOString();
  const attempts = status.attempts ?? [];
  const ops = attemptFieldsPatch(attempts, [
    // Still open (billing closes it) and still at the checkpoint read (only ever moved forward).
    { index: report.attempt, expect: { endTime: null, checkpointTime: attempt.checkpointTime ?? null }, set: { checkpointCID: report.cid, checkpointTime } },
  ]) as StatusPatchOp[];
  return {
    ok: true,
    status: { ...status, attempts: attempts.map((a) => (a.index === report.attempt ? { ...a, checkpointCID: report.cid, checkpointTime } : a)) },
    ops,
  };
}
