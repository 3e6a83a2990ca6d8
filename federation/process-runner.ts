// Runs one exec-mode pod's containers as processes on this machine (process-plan.ts says what and
// in which order, process-rewrite.ts how each is started, process-status.ts what its exits mean).
//
//   run():  host dirs ─▶ init containers in order (regular: to completion, a non-zero exit ends the
//           pod; sidecar: started, left running) ─▶ regular containers together ─▶ all exited ─▶
//           sidecars SIGTERM in reverse order within terminationGracePeriodSeconds ─▶ SIGKILL ─▶ exits
//   stop(): (deletion) SIGTERM the regular and running init containers ─▶ their grace ─▶ SIGKILL ─▶
//           the sidecars the same way with what is left of it (at least 2 s); run() then reports nothing
//   kill(): (executor shutdown) SIGTERM everything at once ─▶ a short wait ─▶ SIGKILL
//
// Each process is a "container": its own process group (detached), SIGTERM goes to its first
// process as a runtime sends it to PID 1, and once that process exits (or the grace is over) the
// whole group gets SIGKILL, as a container's PID namespace is torn down. Its stdout and stderr are
// pipes the executor reads, as a runtime's shim does: every chunk goes as it is to the plain `log`
// and, as CRI records (process-logs.ts), to the `cri.log` KWOK serves as the pod's log.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { freePort } from './daemon.ts';
import { CriLineEncoder, criLogPath } from './process-logs.ts';
import { allContainers, containerOrder, terminationGraceSeconds } from './process-plan.ts';
import type { ContainerRole, PlannedContainer, PodLayout } from './process-plan.ts';
import { processPlan } from './process-rewrite.ts';
import type { ProcessContext } from './process-rewrite.ts';
import { MAX_MESSAGE_BYTES, exitCodeOf, terminationMessageOf } from './process-status.ts';
import type { ContainerExit } from './process-status.ts';

export type RunLog = (msg: string, fields?: Record<string, unknown>) => void;

/** The kubelet gives sidecars at least this long, even when the regular containers used up the grace. */
const MIN_SIDECAR_GRACE_MS = 2_000;
/** How much of a log is read for its tail (80 lines of 2048 bytes fit many times over). */
const LOG_TAIL_READ_BYTES = 64 * 1024;
/**
 * How long after its process exited (and its group was killed) a container's output may take to
 * drain. Only a process that left the group (setsid) can hold the pipes open longer: then they are
 * cut, as a runtime's shim stops copying when the container is gone.
 */
const OUTPUT_DRAIN_MS = 2_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** One rendezvous port per attempt key (process-plan.ts attemptKey), never handed out twice while this process lives. */
export class AttemptPorts {
  private readonly ports = new Map<string, Promise<number>>();
  private readonly taken = new Set<number>();

  portFor(key: string): Promise<number> {
    let port = this.ports.get(key);
    if (!port) {
      port = this.pick();
      this.ports.set(key, port);
      port.catch(() => this.ports.delete(key));
    }
    return port;
  }

  private async pick(): Promise<number> {
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      if (!this.taken.has(port)) {
        this.taken.add(port);
        return port;
      }
    }
    throw new Error('no free loopback port that was not already handed out');
  }
}

interface RunningProcess {
  readonly name: string;
  readonly role: ContainerRole;
  readonly pid: number | undefined;
  readonly exited: Promise<ContainerExit>;
  done: boolean;
}

/** What the processes get beyond the pod: resolved env sources, the rendezvous port, host env, paths. */
export type RunContext = Omit<ProcessContext, 'pod' | 'volumeDir' | 'terminationLog'>;

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* the group is gone */
  }
}

function signalProcess(p: RunningProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.done) return;
  try {
    process.kill(p.pid, signal);
  } catch {
    /* exited meanwhile */
  }
}

function readHead(file: string, bytes: number): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(bytes);
      return buf.subarray(0, readSync(fd, buf, 0, bytes, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

function readTail(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, size - length)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Appends all of `bytes`; false when the write failed (disk full, file removed). */
function appendAll(fd: number, bytes: Buffer): boolean {
  try {
    for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written);
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* nothing left to lose */
  }
}

/**
 * A container's stdout and stderr, read from its pipes as they come: appended raw to the plain log
 * (one file for both, as before the CRI file existed, so readers of `log` see no change) and as CRI
 * records to the CRI file. Synchronous writes: chunk order is arrival order in both files.
 */
class ContainerOutput {
  private readonly drained: Promise<void>;
  private readonly child: ChildProcess;

  constructor(child: ChildProcess, plainLog: string, criLog: string, onWriteError: () => void) {
    this.child = child;
    const plain = openSync(plainLog, 'a');
    const cri = openSync(criLog, 'a');
    let failed = false;
    const append = (fd: number, bytes: Buffer) => {
      if (bytes.length > 0 && !appendAll(fd, bytes) && !failed) {
        failed = true;
        onWriteError();
      }
    };
    const streams = [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const;
    this.drained = Promise.all(
      streams.map(
        ([name, stream]) =>
          new Promise<void>((resolve) => {
            if (!stream) return resolve();
            const encoder = new CriLineEncoder(name);
            stream.on('data', (chunk: Buffer) => {
              append(plain, chunk);
              append(cri, encoder.write(chunk, new Date()));
            });
            stream.on('error', () => undefined); // 'close' follows; what was read is kept
            stream.once('close', () => {
              append(cri, encoder.end(new Date()));
              resolve();
            });
          }),
      ),
    ).then(() => [plain, cri].forEach(closeQuietly));
  }

  /** Resolves once both pipes are drained and the files closed; pipes still open after `ms` are cut. */
  async closed(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        resolve();
      }, ms);
    });
    await Promise.race([this.drained, cut]);
    clearTimeout(timer);
    await this.drained;
  }
}

export class PodRun {
  /** Exits so far, by container name. */
  readonly exits = new Map<string, ContainerExit>();
  private readonly pod: V1Pod;
  private readonly layout: PodLayout;
  private readonly log: RunLog;
  private readonly fields: Record<string, unknown>;
  private readonly running = new Map<string, RunningProcess>();
  private readonly sidecars: RunningProcess[] = [];
  private stopping = false;
  private stopped?: Promise<void>;
  private sidecarsStopped?: Promise<void>;
  /** When the sidecars must be gone (SIGKILL after); a deletion may bring it forward. */
  private sidecarDeadline = Infinity;

  constructor(pod: V1Pod, layout: PodLayout, log: RunLog, fields: Record<string, unknown>) {
    this.pod = pod;
    this.layout = layout;
    this.log = log;
    this.fields = fields;
  }

  /** Whether stop() or kill() was called: the first grace given is the one that counts. */
  get stopRequested(): boolean {
    return this.stopped !== undefined;
  }

  /** Whether an earlier executor process started this pod (its host directory has pod.json). */
  static startedBefore(layout: PodLayout): boolean {
    return existsSync(layout.podFile);
  }

  /**
   * Runs the pod to its end: the exits, or undefined when it was stopped first (deleted, executor
   * shutting down) — a pod that is going away gets no status.
   */
  async run(context: () => Promise<RunContext>): Promise<ReadonlyMap<string, ContainerExit> | undefined> {
    this.prepareHostDirs();
    const ctx = await context();
    const order = containerOrder(this.pod);
    let initialized = true;
    for (const step of order.init) {
      if (this.stopping) break;
      const p = this.start(step, ctx);
      if (step.role === 'sidecar') {
        this.sidecars.push(p);
        continue;
      }
      if ((await p.exited).exitCode !== 0) {
        initialized = false;
        break;
      }
    }
    if (initialized && !this.stopping) await Promise.all(order.main.map((step) => this.start(step, ctx).exited));
    if (!this.stopping) await this.stopSidecars(Date.now() + terminationGraceSeconds(this.pod) * 1000);
    if (this.stopping) {
      await this.stopped;
      return undefined;
    }
    return this.exits;
  }

  /** The pod is being deleted: regular containers get `graceSeconds`, then the sidecars what is left (at least 2 s). */
  stop(graceSeconds: number): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      const deadline = Date.now() + graceSeconds * 1000;
      const regular = [...this.running.values()].filter((p) => p.role !== 'sidecar');
      regular.forEach((p) => signalProcess(p, 'SIGTERM'));
      await this.waitExited(regular, () => deadline);
      regular.forEach((p) => signalGroup(p.pid, 'SIGKILL'));
      await Promise.all(regular.map((p) => p.exited));
      await this.stopSidecars(Math.max(deadline, Date.now() + MIN_SIDECAR_GRACE_MS));
    })();
    return this.stopped;
  }

  /** The executor is shutting down: SIGTERM every process, SIGKILL what is left after `graceMs`. */
  async kill(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopped ??= Promise.resolve();
    const all = [...this.running.values()];
    all.forEach((p) => signalProcess(p, 'SIGTERM'));
    const deadline = Date.now() + graceMs;
    await this.waitExited(all, () => deadline);
    all.forEach((p) => signalGroup(p.pid, 'SIGKILL'));
    await Promise.all(all.map((p) => p.exited));
  }

  private prepareHostDirs(): void {
    mkdirSync(this.layout.dir, { recursive: true });
    writeFileSync(this.layout.podFile, JSON.stringify(this.pod, null, 2));
    for (const v of this.pod.spec?.volumes ?? []) mkdirSync(this.layout.volume(v.name), { recursive: true });
    for (const c of allContainers(this.pod)) {
      mkdirSync(dirname(this.layout.log(c.name)), { recursive: true });
      writeFileSync(this.layout.terminationLog(c.name), '');
      writeFileSync(this.layout.log(c.name), '');
      // Exists before the Logs object names it: KWOK answers a read of a missing file with an error.
      writeFileSync(criLogPath(this.layout, c.name), '');
    }
  }

  /** Sidecars in reverse order, each SIGTERM then waited for until the deadline; SIGKILL for what is left. */
  private stopSidecars(deadline: number): Promise<void> {
    this.sidecarDeadline = Math.min(this.sidecarDeadline, deadline);
    this.sidecarsStopped ??= (async () => {
      for (const p of [...this.sidecars].reverse()) {
        signalProcess(p, 'SIGTERM');
        await this.waitExited([p], () => this.sidecarDeadline);
      }
      this.sidecars.forEach((p) => signalGroup(p.pid, 'SIGKILL'));
      await Promise.all(this.sidecars.map((p) => p.exited));
    })();
    return this.sidecarsStopped;
  }

  private async waitExited(processes: readonly RunningProcess[], deadline: () => number): Promise<void> {
    while (processes.some((p) => !p.done) && Date.now() < deadline()) {
      await Promise.race([Promise.all(processes.map((p) => p.exited)), sleep(Math.min(100, deadline() - Date.now()))]);
    }
  }

  private start(step: PlannedContainer, ctx: RunContext): RunningProcess {
    const c = step.container;
    const fields = { ...this.fields, container: c.name, role: step.role };
    const terminationLog = this.layout.terminationLog(c.name);
    const plan = processPlan(c, { ...ctx, pod: this.pod, volumeDir: this.layout.volume, terminationLog });
    for (const { name, why } of plan.leftOut) this.log('env variable left out', { ...fields, env: name, why });
    const startedAt = new Date();
    const notStarted = (message: string): RunningProcess => {
      const exit: ContainerExit = { exitCode: 128, reason: 'StartError', startedAt, finishedAt: startedAt, message };
      this.exits.set(c.name, exit);
      this.log('process could not start', { ...fields, error: message });
      return { name: c.name, role: step.role, pid: undefined, exited: Promise.resolve(exit), done: true };
    };
    if (!plan.spec) return notStarted(plan.error ?? 'no command');
    // The kubelet creates a mount's missing subPath as a directory when the container starts.
    for (const m of c.volumeMounts ?? []) if (m.subPath) mkdirSync(`${this.layout.volume(m.name)}/${m.subPath}`, { recursive: true });
    const [program, ...args] = plan.spec.argv;
    const child = spawn(program, args, { cwd: plan.spec.cwd, env: { ...plan.spec.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = new ContainerOutput(child, this.layout.log(c.name), criLogPath(this.layout, c.name), () =>
      this.log('writing the container log failed; later output may be missing', fields),
    );
    const pid = child.pid;
    const p: RunningProcess = {
      name: c.name,
      role: step.role,
      pid,
      done: false,
      exited: new Promise<ContainerExit>((resolve) => {
        const ended = async (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
          if (p.done) return;
          p.done = true;
          this.running.delete(c.name);
          signalGroup(pid, 'SIGKILL'); // the container's other processes go with its first one
          const finishedAt = new Date();
          // The log's tail may become the termination message: all of the output first.
          await output.closed(error ? 0 : OUTPUT_DRAIN_MS);
          const exitCode = error ? 128 : exitCodeOf(code, signal ? constants.signals[signal] : undefined);
          const message = error
            ? error.message
            : terminationMessageOf(c, exitCode, readHead(terminationLog, MAX_MESSAGE_BYTES), readTail(this.layout.log(c.name), LOG_TAIL_READ_BYTES));
          const exit: ContainerExit = { exitCode, startedAt, finishedAt, message, ...(error ? { reason: 'StartError' } : {}) };
          this.exits.set(c.name, exit);
          this.log(error ? 'process could not start' : 'process exited', {
            ...fields,
            pid,
            code,
            signal,
            exitCode,
            ...(error ? { error: error.message } : {}),
          });
          resolve(exit);
        };
        child.once('exit', (code, signal) => void ended(code, signal));
        // Only a failed spawn (no pid) ends here; a later 'error' is a failed kill of a live process.
        child.once('error', (err) => {
          if (pid === undefined) void ended(null, null, err);
        });
      }),
    };
    if (pid !== undefined) {
      this.running.set(c.name, p);
      this.log('process started', { ...fields, pid, program, cwd: plan.spec.cwd });
    }
    return p;
  }
}
