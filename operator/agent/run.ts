// `run`: the sidecar beside the trainer. Every poll it scans the checkpoint folder, and when the
// newest complete entry (completion.ts) is one it has not added or restored yet, adds it to Kubo
// and reports its CID (replica 0). Stopped (SIGTERM once the trainer exited, or the pod is being
// deleted), it flushes within FLOTILLA_AGENT_FLUSH_MS:
//
//   1. the last checkpoint: two scans 200 ms apart (the trainer has exited, so a full poll of
//      silence is not needed), added and reported if new
//   2. the output folder, added as a folder (its own CID), when it exists and is not empty
//   3. the termination message {outputCID?, checkpointCID?, checkpointTime?}
//
// Kubo or the report endpoint failing never fails the flush: the message says what was done, and a
// missing outputCID is for the operator to judge.
import { readdir, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../log.ts';
import { errorMessage } from '../log.ts';
import type { AgentConfig, ReportTarget } from './config.ts';
import { isNewCheckpoint, newestComplete } from './completion.ts';
import type { KnownCheckpoint } from './completion.ts';
import type { AgentKubo } from './kubo.ts';
import { afterOutcome, dueReport, EMPTY_QUEUE, enqueue, reportBody } from './report.ts';
import type { CheckpointReportBody, ReportOutcome, ReportQueue } from './report.ts';
import { scanCheckpoints, scanEntry } from './scan.ts';
import type { CheckpointScan, EntrySnapshot } from './scan.ts';
import { agentFilesUnder, attemptKey, readAgentState, writeAgentState } from './state.ts';
import { terminationMessage } from './termination.ts';

/** How long the final scan waits for an entry to settle (the trainer has exited; this only catches a straggling write). */
export const SETTLE_MS = 200;
/** Kept back from the flush budget for writing the termination message. */
const WRITE_RESERVE_MS = 500;
/** Node timers may fire a millisecond before Date.now() says the delay passed. */
const TIMER_SLACK_MS = 2;

export interface RunDeps {
  readonly kubo: AgentKubo;
  readonly log: Logger;
  readonly now: () => number;
  readonly send: (target: ReportTarget, body: CheckpointReportBody, signal?: AbortSignal) => Promise<ReportOutcome>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AgentRun {
  private readonly config: AgentConfig;
  private readonly deps: RunDeps;
  private previous?: CheckpointScan;
  /** The checkpoint last added or restored: not added again while it is the newest. */
  private known?: KnownCheckpoint & { readonly cid: string };
  /** When the current newest entry was first found complete (the report's time, kept across failed adds). */
  private found?: KnownCheckpoint & { readonly at: number };
  /** The newest checkpoint this attempt added: the termination message's. */
  private last?: { readonly cid: string; readonly time: number };
  /** The output folder's CID, once the flush added it. */
  private outputCID?: string;
  private queue: ReportQueue = EMPTY_QUEUE;
  private timer?: NodeJS.Timeout;
  private ticking: Promise<void> = Promise.resolve();
  private stopping = false;
  private flushing?: Promise<string>;
  /** Aborted when the flush's time is up: every Kubo and report request in flight ends then. */
  private readonly abort = new AbortController();
  /** Problems logged since the last success: each is logged once, not every poll of an outage. */
  private readonly problems = new Set<string>();
  private lastTickAt = -Infinity;

  /** The output folder, where it sits directly in the checkpoint folder: never a checkpoint. */
  private readonly notCheckpoints: ReadonlySet<string>;

  constructor(config: AgentConfig, deps: RunDeps) {
    this.config = config;
    this.deps = deps;
    const out = config.outputPath;
    this.notCheckpoints = new Set(out !== undefined && out !== '/' && dirname(out) === config.checkpointPath ? [basename(out)] : []);
  }

  async start(): Promise<void> {
    const dir = this.config.checkpointPath;
    const state = dir !== undefined ? await readAgentState(dir) : undefined;
    if (state) {
      this.known = state;
      const job = this.config.job;
      // Added by this same attempt before the sidecar restarted: still this attempt's checkpoint.
      // Reported again, since the crash may have come before the report; the operator answers a
      // report it has 409 (stale), which ends it.
      if (state.origin === 'added' && job && state.attempt === attemptKey(job) && state.time !== undefined) {
        this.last = { cid: state.cid, time: state.time };
        if (this.config.report) this.queue = enqueue(this.queue, this.last);
      }
      this.deps.log('info', 'known checkpoint', { entry: state.name, cid: state.cid, origin: state.origin });
    }
    this.deps.log('info', 'agent running', {
      checkpointPath: dir ?? null,
      outputPath: this.config.outputPath ?? null,
      rule: this.config.marker !== undefined ? `marker ${this.config.marker}` : `stable for ${this.config.pollMs} ms`,
      reports: this.config.report !== undefined,
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.stopping) return;
    // Two scans at least a poll apart, measured the way completion.ts measures them; a poll that
    // failed before scanning waits a full poll too.
    const since = this.deps.now() - Math.max(this.previous?.at ?? -Infinity, this.lastTickAt);
    const delay = Math.max(0, this.config.pollMs - since) + TIMER_SLACK_MS;
    this.timer = setTimeout(() => {
      this.lastTickAt = this.deps.now();
      this.ticking = this.tick()
        .catch((err: unknown) => this.problem('poll failed', err))
        .finally(() => this.schedule());
    }, delay);
  }

  private problem(msg: string, err: unknown, fields: Record<string, unknown> = {}): void {
    const error = errorMessage(err);
    const key = `${msg}: ${error}`;
    if (this.problems.has(key)) return;
    if (this.problems.size < 100) this.problems.add(key);
    this.deps.log('warn', msg, { ...fields, error });
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.config.addTimeoutMs)]);
  }

  private async scan(dir: string): Promise<CheckpointScan> {
    const scan = await scanCheckpoints(dir, {
      ...(this.config.marker !== undefined ? { marker: this.config.marker } : {}),
      limits: this.config.limits,
      now: this.deps.now,
      exclude: this.notCheckpoints,
    });
    for (const s of scan.skipped) this.problem('checkpoint entry skipped', s.reason, { entry: s.name });
    return scan;
  }

  private async tick(): Promise<void> {
    const dir = this.config.checkpointPath;
    if (dir !== undefined) {
      const scan = await this.scan(dir);
      const newest = newestComplete(this.previous, scan, {
        ...(this.config.marker !== undefined ? { marker: this.config.marker } : {}),
        minGapMs: this.config.pollMs,
      });
      this.previous = scan;
      if (newest && isNewCheckpoint(newest, this.known)) await this.addCheckpoint(dir, newest, scan.at, this.signal());
    }
    await this.sendDue(this.signal());
  }

  private async addCheckpoint(dir: string, entry: EntrySnapshot, at: number, signal: AbortSignal): Promise<void> {
    const same = this.found?.name === entry.name && this.found.fingerprint === entry.fingerprint;
    const time = same && this.found ? this.found.at : at;
    this.found = { name: entry.name, fingerprint: entry.fingerprint, at: time };
    let cid: string;
    try {
      cid = await this.deps.kubo.addWrapped(dir, entry.name, { limits: this.config.limits, signal });
    } catch (err) {
      return this.problem('could not add the checkpoint; trying again', err, { entry: entry.name });
    }
    // What was uploaded must be what was judged complete: an entry rewritten meanwhile waits to settle again.
    const after = await scanEntry(dir, entry.name, this.config.marker, this.config.limits).catch(() => undefined);
    if (after?.fingerprint !== entry.fingerprint) {
      this.deps.log('warn', 'the checkpoint changed while it was added; adding it again once it is stable', { entry: entry.name });
      return;
    }
    this.known = { name: entry.name, fingerprint: entry.fingerprint, cid };
    this.last = { cid, time };
    const job = this.config.job;
    await writeAgentState(dir, {
      name: entry.name,
      cid,
      fingerprint: entry.fingerprint,
      origin: 'added',
      ...(job ? { attempt: attemptKey(job) } : {}),
      time,
    }).catch((err: unknown) => this.problem('could not write the agent state file', err));
    this.problems.clear();
    this.deps.log('info', 'checkpoint added', { entry: entry.name, cid, completeAt: new Date(time).toISOString(), files: entry.files, bytes: entry.bytes });
    if (this.config.report) this.queue = enqueue(this.queue, { cid, time });
  }

  private async sendDue(signal: AbortSignal): Promise<void> {
    const target = this.config.report;
    const due = target ? dueReport(this.queue, this.deps.now()) : undefined;
    if (!target || !due) return;
    const outcome = await this.deps.send(target, reportBody(target.job, due.cid, due.time), signal);
    this.queue = afterOutcome(this.queue, due, outcome, this.deps.now());
    const fields = { cid: due.cid, completeAt: new Date(due.time).toISOString() };
    if (outcome.kind !== 'retry') this.problems.clear();
    if (outcome.kind === 'recorded') this.deps.log('info', 'checkpoint reported', fields);
    else if (outcome.kind === 'stale') this.deps.log('info', 'checkpoint report not taken (stale); not retrying it', { ...fields, detail: outcome.detail });
    else if (outcome.kind === 'rejected') this.deps.log('error', 'checkpoint report refused; not retrying it', { ...fields, detail: outcome.detail });
    else this.problem('checkpoint report failed; retrying', outcome.detail, { ...fields, retryInMs: outcome.afterMs || this.config.pollMs });
  }

  private async addOutput(): Promise<void> {
    const out = this.config.outputPath;
    if (out === undefined) return;
    const names = await readdir(out).catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') return [];
      throw err;
    });
    if (names.length === 0) {
      this.deps.log('info', 'no output to add (the output folder is missing or empty)', { outputPath: out });
      return;
    }
    const skip = agentFilesUnder(out, this.config.checkpointPath);
    this.outputCID = await this.deps.kubo.addFolder(out, { limits: this.config.limits, signal: this.abort.signal, skip });
    this.deps.log('info', 'output added', { cid: this.outputCID, outputPath: out });
  }

  /** Steps 1 and 2 of the flush; whatever each got is kept on the instance as it arrives. */
  private async flushWork(): Promise<void> {
    await this.ticking;
    const dir = this.config.checkpointPath;
    if (dir !== undefined) {
      try {
        const first = await this.scan(dir);
        await sleep(SETTLE_MS);
        const second = await this.scan(dir);
        const newest = newestComplete(first, second, { ...(this.config.marker !== undefined ? { marker: this.config.marker } : {}), minGapMs: 0 });
        if (newest && isNewCheckpoint(newest, this.known)) await this.addCheckpoint(dir, newest, second.at, this.abort.signal);
      } catch (err) {
        this.deps.log('warn', 'final checkpoint scan failed', { error: errorMessage(err) });
      }
    }
    // Together: the report is short, and must not eat the output's time.
    await Promise.all([
      this.addOutput().catch((err: unknown) => this.deps.log('error', 'could not add the output', { error: errorMessage(err) })),
      this.sendDue(this.abort.signal).catch((err: unknown) => this.deps.log('warn', 'final checkpoint report failed', { error: errorMessage(err) })),
    ]);
  }

  /** The flush; resolves with the termination message once it is written (or could not be). */
  flush(reason: string): Promise<string> {
    this.flushing ??= this.runFlush(reason);
    return this.flushing;
  }

  private async runFlush(reason: string): Promise<string> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.deps.log('info', 'flushing', { reason, withinMs: this.config.flushMs });
    const timeUp = new Promise<undefined>((resolve) => {
      const t = setTimeout(() => {
        this.abort.abort(new Error('the flush ran out of time'));
        resolve(undefined);
      }, this.config.flushMs - WRITE_RESERVE_MS);
      this.abort.signal.addEventListener('abort', () => clearTimeout(t), { once: true });
    });
    await Promise.race([this.flushWork(), timeUp]);
    if (!this.abort.signal.aborted) this.abort.abort(new Error('flushed'));
    else this.deps.log('warn', 'the flush ran out of time; writing what is done');
    const message = terminationMessage({
      ...(this.outputCID !== undefined ? { outputCID: this.outputCID } : {}),
      ...(this.last ? { checkpoint: this.last } : {}),
    });
    try {
      await writeFile(this.config.terminationLog, message);
      this.deps.log('info', 'termination message written', { path: this.config.terminationLog, message: JSON.parse(message) as unknown });
    } catch (err) {
      this.deps.log('error', 'could not write the termination message', { path: this.config.terminationLog, error: errorMessage(err) });
    }
    return message;
  }
}
