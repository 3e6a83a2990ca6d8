// The termination message `run` writes when it is stopped: the keys of Flotilla's reporting
// contract (operator/core/lifecycle/report.ts parses them), and only those that exist — a missing
// outputCID is for the operator to judge, so nothing is invented here.
import { isCid } from '../core/lifecycle/report.ts';

/** Kubernetes keeps at most 4096 bytes of a container's termination message. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;

export interface AgentResult {
  readonly outputCID?: string;
  readonly checkpoint?: { readonly cid: string; readonly time: number };
}

export function terminationMessage(result: AgentResult): string {
  if (result.outputCID !== undefined && !isCid(result.outputCID)) throw new Error(`outputCID ${result.outputCID} is not a CID`);
  if (result.checkpoint !== undefined && !isCid(result.checkpoint.cid)) throw new Error(`checkpointCID ${result.checkpoint.cid} is not a CID`);
  const message = JSON.stringify({
    ...(result.outputCID !== undefined ? { outputCID: result.outputCID } : {}),
    ...(result.checkpoint !== undefined ? { checkpointCID: result.checkpoint.cid, checkpointTime: new Date(result.checkpoint.time).toISOString() } : {}),
  });
  // Two CIDs (each at most 128 characters by the CID pattern) and a timestamp: far below the limit.
  if (Buffer.byteLength(message) > MAX_TERMINATION_MESSAGE_BYTES) throw new Error(`termination message is ${Buffer.byteLength(message)} bytes`);
  return message;
}
