// The tail of each replica's log, kept with its attempt. When an attempt closes, the operator reads
// the last lines of every replica's main container from the provider — while the pods still exist:
// a job's own end leaves them Succeeded/Failed until the job is over, a preemption usually leaves
// them terminating — adds them to the hub's IPFS node as one folder (r0.log, r1.log, …) and records
// its CID on the attempt (status.attempts[].logTailCID), which the receipt names. The user keeps
// the end of every run's log after the provider has long deleted the pods.
//
// Bounded, because the provider serves these bytes and a closing attempt waits for them: at most
// LOG_TAIL_LINES lines and LOG_TAIL_BYTES bytes per replica, all replicas read at once, and
// LOG_TAIL_TIMEOUT_MS in all — a provider that does not answer in time costs its own job its log
// tail, nothing else. A pod already gone, or a provider that serves no log, simply has no entry.
import type { AIJobAttempt } from '../../api/types.ts';

export const LOG_TAIL_LINES = 200;
export const LOG_TAIL_BYTES = 64 * 1024;
export const LOG_TAIL_TIMEOUT_MS = 2_000;

/** One replica's log as read from the provider. */
export interface ReplicaLog {
  readonly replica: number;
  readonly text: string;
}

/** The pods whose logs to keep: the attempt's recorded replicas (pods the operator created). */
export function logTailPods(attempt: Pick<AIJobAttempt, 'pods'>): Array<{ replica: number; name: string }> {
  return (attempt.pods ?? []).map((p) => ({ replica: p.replica, name: p.name })).sort((a, b) => a.replica - b.replica);
}

/** The folder added to IPFS: r<replica>.log per replica that had any log, each cut to LOG_TAIL_BYTES (its end kept). */
export function logTailFiles(logs: readonly ReplicaLog[]): Array<{ path: string; content: Uint8Array }> {
  return logs
    .filter((l) => l.text.length > 0)
    .map((l) => {
      const bytes = Buffer.from(l.text, 'utf8');
      return { path: `r${l.replica}.log`, content: bytes.length > LOG_TAIL_BYTES ? bytes.subarray(bytes.length - LOG_TAIL_BYTES) : bytes };
    });
}

export interface LogTailPorts {
  /** The main container's log tail of one pod at the attempt's provider; rejects when there is none. */
  readonly read: (pod: string, opts: { tailLines: number; limitBytes: number }) => Promise<string>;
  /** Adds files as one folder to the hub's IPFS node (pinned); its CID. */
  readonly addFolder: (files: Array<{ path: string; content: Uint8Array }>) => Promise<string>;
}

/**
 * Reads every replica's tail and adds them as one folder; undefined when no replica had a log or the
 * whole thing took longer than `timeoutMs` (the attempt closes without, never later).
 */
export async function keepLogTail(attempt: Pick<AIJobAttempt, 'pods'>, ports: LogTailPorts, timeoutMs = LOG_TAIL_TIMEOUT_MS): Promise<string | undefined> {
  const pods = logTailPods(attempt);
  if (pods.length === 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const work = (async () => {
    const logs = await Promise.all(
      pods.map(async (p) => ({
        replica: p.replica,
        text: await ports.read(p.name, { tailLines: LOG_TAIL_LINES, limitBytes: LOG_TAIL_BYTES }).catch(() => ''),
      })),
    );
    const files = logTailFiles(logs);
    return files.length > 0 ? ports.addFolder(files) : undefined;
  })();
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined); // a late failure after the timeout has no one to tell
  }
}
