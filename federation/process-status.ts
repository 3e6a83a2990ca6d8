// The status an exec-mode pod (process-plan.ts) ends with, from its processes' exits: what the
// kubelet writes when a pod's containers have exited. Pure; the runner patches it onto /status as a
// strategic merge, as the simulated executor's terminatedStatus does (the per-container and condition
// shapes are workload.ts's).
//
//   phase                   Succeeded when every regular container (and every regular init
//                           container) exited 0, else Failed; sidecars do not count
//   containerStatuses       each regular container terminated {exitCode, reason Completed|Error,
//                           startedAt, finishedAt, message}, or waiting PodInitializing if it never ran
//   initContainerStatuses   the same for init containers, sidecars included (a sidecar's own
//                           termination message — the job agent writes its output CID there)
//   message                 the termination-log file (at most 4096 bytes); when that is empty, the
//                           exit non-zero and terminationMessagePolicy FallbackToLogsOnError, the
//                           log's last 80 lines (at most 2048 bytes)
import type { V1Container, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { allContainers, isSidecar } from './process-plan.ts';
import { completedCondition, completedContainerStatus } from './workload.ts';

export const MAX_MESSAGE_BYTES = 4096;
export const LOG_TAIL_LINES = 80;
export const LOG_TAIL_BYTES = 2048;

export interface ContainerExit {
  readonly exitCode: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly message: string;
  /** Default: Completed for exit code 0, Error otherwise (StartError for a process that never started). */
  readonly reason?: string;
}

/** A process's exit code as a container runtime reports it: a death by signal n is 128 + n. */
export function exitCodeOf(code: number | null, signalNumber: number | undefined): number {
  if (code !== null) return code;
  return signalNumber !== undefined ? 128 + signalNumber : 1;
}

/** The last `bytes` bytes of `text`, starting at a character boundary. */
function lastBytes(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let start = buf.length - bytes;
  while (start < buf.length && ((buf[start] ?? 0) & 0xc0) === 0x80) start += 1; // skip continuation bytes
  return buf.subarray(start).toString('utf8');
}

/** The first `bytes` bytes of `text`, ending at a character boundary. */
function firstBytes(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = bytes;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return buf.subarray(0, end).toString('utf8');
}

/** The kubelet's fallback message: the log's last 80 lines, at most its last 2048 bytes. */
export function logTail(log: string): string {
  const lines = log.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lastBytes(lines.slice(-LOG_TAIL_LINES).join('\n'), LOG_TAIL_BYTES);
}

/** A container's termination message from its termination-log file and (the end of) its log. */
export function terminationMessageOf(container: Pick<V1Container, 'terminationMessagePolicy'>, exitCode: number, file: string, log: string): string {
  if (file === '' && exitCode !== 0 && container.terminationMessagePolicy === 'FallbackToLogsOnError') return logTail(log);
  return firstBytes(file, MAX_MESSAGE_BYTES);
}

function containerStatus(c: V1Container, exit: ContainerExit | undefined): V1ContainerStatus {
  if (!exit) return completedContainerStatus(c, { waiting: { reason: 'PodInitializing' } });
  const { exitCode, startedAt, finishedAt, message } = exit;
  const reason = exit.reason ?? (exitCode === 0 ? 'Completed' : 'Error');
  return completedContainerStatus(c, { terminated: { exitCode, reason, startedAt, finishedAt, ...(message ? { message } : {}) } });
}

const exitedZero = (exits: ReadonlyMap<string, ContainerExit>, c: V1Container) => exits.get(c.name)?.exitCode === 0;

/** Every regular init container and every regular container exited 0 (sidecars do not count). */
export function podSucceeded(pod: V1Pod, exits: ReadonlyMap<string, ContainerExit>): boolean {
  const regularInit = (pod.spec?.initContainers ?? []).filter((c) => !isSidecar(c));
  return [...regularInit, ...(pod.spec?.containers ?? [])].every((c) => exitedZero(exits, c));
}

/** The strategic-merge body for /status once the pod's processes have exited (`exits` by container name). */
export function execStatus(pod: V1Pod, exits: ReadonlyMap<string, ContainerExit>, finishedAt: Date): { status: Record<string, unknown> } {
  const init = pod.spec?.initContainers ?? [];
  const notInitialized = init.filter((c) => !isSidecar(c) && !exitedZero(exits, c)).map((c) => c.name);
  return {
    status: {
      phase: podSucceeded(pod, exits) ? 'Succeeded' : 'Failed',
      conditions: [
        completedCondition('Ready', finishedAt),
        completedCondition('ContainersReady', finishedAt),
        ...(notInitialized.length > 0
          ? [completedCondition('Initialized', finishedAt, 'ContainersNotInitialized', `containers with incomplete status: [${notInitialized.join(' ')}]`)]
          : []),
      ],
      containerStatuses: (pod.spec?.containers ?? []).map((c) => containerStatus(c, exits.get(c.name))),
      ...(init.length > 0 ? { initContainerStatuses: init.map((c) => containerStatus(c, exits.get(c.name))) } : {}),
    },
  };
}

/** What a pod started by an earlier executor process ends with: its processes stopped with that executor. */
export function lostStatus(pod: V1Pod, startedAt: Date, now: Date): { status: Record<string, unknown> } {
  const lost: ContainerExit = {
    exitCode: 137,
    reason: 'ContainerStatusUnknown',
    startedAt,
    finishedAt: now,
    message: 'the federation executor restarted while this container ran; its process was stopped with the old executor',
  };
  const names = allContainers(pod).map((c) => c.name);
  return execStatus(pod, new Map(names.map((n) => [n, lost])), now);
}
