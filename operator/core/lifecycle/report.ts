// What a replica reports back: the termination-message contract (docs/api.md, "Reporting back").
// A container writes JSON to /dev/termination-log when it ends — on success, on failure, and on the
// SIGTERM that announces a preemption or a reclaim deadline:
//
//   {"outputCID": "<cid>", "checkpointCID": "<cid>", "checkpointTime": "<RFC 3339>"}
//
// Every key is optional; unknown keys are ignored. Only the syntax of a CID is judged here (the
// same pattern the CRD enforces on spec.inputs); whether the content exists is the pinner's job.
import { CID_PATTERN } from '../../api/field-schemas.ts';

const CID = new RegExp(CID_PATTERN);

export function isCid(value: unknown): value is string {
  return typeof value === 'string' && CID.test(value);
}

export interface ReplicaReport {
  readonly outputCID?: string;
  readonly checkpointCID?: string;
  /** Epoch ms the checkpoint was taken (the report's checkpointTime, else when the pod ended). */
  readonly checkpointTime?: number;
  /** Set when the message was there but unusable: says what was wrong, for the OutputInvalid condition. */
  readonly invalid?: string;
}

/** Parses a termination message. `endedAt` dates a checkpoint reported without checkpointTime. */
export function parseTerminationMessage(message: string | undefined, endedAt?: number): ReplicaReport {
  if (message === undefined || message.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return { invalid: `termination message is not JSON: ${JSON.stringify(message.slice(0, 80))}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { invalid: `termination message is not a JSON object: ${JSON.stringify(message.slice(0, 80))}` };
  }
  const { outputCID, checkpointCID, checkpointTime } = parsed as Record<string, unknown>;
  const problems: string[] = [];
  if (outputCID !== undefined && !isCid(outputCID)) problems.push(`outputCID ${JSON.stringify(outputCID).slice(0, 80)} is not a CID`);
  if (checkpointCID !== undefined && !isCid(checkpointCID)) problems.push(`checkpointCID ${JSON.stringify(checkpointCID).slice(0, 80)} is not a CID`);
  const time = typeof checkpointTime === 'string' ? Date.parse(checkpointTime) : Number.NaN;
  const goodCheckpoint = isCid(checkpointCID);
  return {
    ...(isCid(outputCID) ? { outputCID } : {}),
    ...(goodCheckpoint ? { checkpointCID } : {}),
    ...(goodCheckpoint && (Number.isFinite(time) || endedAt !== undefined) ? { checkpointTime: Number.isFinite(time) ? time : (endedAt as number) } : {}),
    ...(problems.length > 0 ? { invalid: problems.join('; ') } : {}),
  };
}
