// `restore`: puts the checkpoint the attempt resumes from (FLOTILLA_RESUME_FROM_CID) into the
// checkpoint folder before the trainer starts, so any container resumes by finding its own
// checkpoint where it left it.
//
//   CID ─▶ block/get ─▶ hash check (verified-dag.ts) ─▶ <ckpt>/.flotilla-agent-restore-<pid>/<name>/…
//                                                     ─▶ rename to <ckpt>/<name>   (never seen half-written)
//                                                     ─▶ <ckpt>/.flotilla-agent.json {name, cid, fingerprint}
//
// A checkpoint CID the agent made wraps exactly one entry under its original name; anything else
// is refused. Kubo failures are retried with backoff for FLOTILLA_AGENT_RESTORE_TIMEOUT_MS; a DAG
// that does not verify is not (the same bytes would come back).
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DagVerificationError, DagWalker } from '../artifacts/verified-dag.ts';
import { FolderSink } from '../artifacts/folder-sink.ts';
import { KuboError } from '../artifacts/kubo.ts';
import { exponentialBackoffMs } from '../core/backoff.ts';
import type { Logger } from '../log.ts';
import type { AgentConfig } from './config.ts';
import type { AgentKubo } from './kubo.ts';
import { scanEntry } from './scan.ts';
import { readAgentState, writeAgentState } from './state.ts';

export const RESTORE_TEMP_PREFIX = '.flotilla-agent-restore-';
const BLOCK_TIMEOUT_MS = 60_000;
const BACKOFF = { baseMs: 1_000, maxMs: 15_000 };

/**
 * Writes the walk under `root`. Files and folders are made writable by everyone: the trainer may
 * run as another user than the agent, and it must be able to rotate (delete) restored
 * checkpoints; the folder is the pod's own volume.
 */
class CheckpointSink extends FolderSink {
  private sawRoot = false;
  private topLevel = 0;

  constructor(root: string) {
    super(root, { shared: true });
  }

  protected override target(path: string): string {
    if (!this.sawRoot) throw new DagVerificationError('the CID is a file, not a folder wrapping one checkpoint entry');
    if (!path.includes('/') && ++this.topLevel > 1)
      throw new DagVerificationError('the CID wraps more than one entry; a checkpoint the agent added wraps exactly one');
    return super.target(path);
  }

  override async directory(path: string): Promise<void> {
    if (path === '') this.sawRoot = true;
    else await super.directory(path);
  }
}

export interface RestoreDeps {
  readonly kubo: AgentKubo;
  readonly log: Logger;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface Restored {
  readonly name: string;
  readonly cid: string;
  readonly files: number;
  readonly bytes: number;
}

/** One try: the whole DAG into a fresh temp folder, then renamed into place. */
async function restoreOnce(dir: string, cid: string, config: AgentConfig, deps: RestoreDeps, signal: AbortSignal): Promise<Restored> {
  const temp = join(dir, `${RESTORE_TEMP_PREFIX}${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp);
  const sink = new CheckpointSink(temp);
  try {
    const summary = await new DagWalker(deps.kubo.blockReader(BLOCK_TIMEOUT_MS, signal), sink, config.limits).walk(cid, '');
    const [name, ...more] = await readdir(temp);
    if (name === undefined || more.length > 0)
      throw new DagVerificationError(`the CID wraps ${more.length + (name ? 1 : 0)} entries; a checkpoint the agent added wraps exactly one`);
    const target = join(dir, name);
    if (existsSync(target)) {
      // An entry of that name is there already (a reused volume): the restored one replaces it.
      deps.log('warn', 'replacing an existing entry with the restored checkpoint', { entry: name });
      await rename(target, join(temp, `${name}.replaced`));
    }
    await rename(join(temp, name), target);
    return { name, cid, files: summary.files, bytes: summary.bytes };
  } finally {
    await sink.closeAll();
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * Restores FLOTILLA_RESUME_FROM_CID into FLOTILLA_CHECKPOINT_PATH; undefined when there is nothing
 * to restore or it is there already. Throws (after retrying Kubo failures for the configured
 * window) with a message for the one-line exit reason.
 */
export async function restoreCheckpoint(config: AgentConfig, deps: RestoreDeps): Promise<Restored | undefined> {
  const { checkpointPath: dir, resumeFromCid: cid } = config;
  if (dir === undefined || cid === undefined) {
    deps.log('info', 'nothing to restore', { checkpointPath: dir ?? null, resumeFrom: cid ?? null });
    return undefined;
  }
  await mkdir(dir, { recursive: true });
  const state = await readAgentState(dir);
  if (state?.cid === cid && existsSync(join(dir, state.name))) {
    deps.log('info', 'checkpoint already restored', { cid, entry: state.name });
    return undefined;
  }
  // Leftovers of a restore that was killed (another pid's temp folder).
  for (const name of await readdir(dir)) if (name.startsWith(RESTORE_TEMP_PREFIX)) await rm(join(dir, name), { recursive: true, force: true });

  const deadline = deps.now() + config.restoreWindowMs;
  const signal = AbortSignal.timeout(config.restoreWindowMs);
  for (let failures = 0; ;) {
    try {
      deps.log('info', 'restoring checkpoint', { cid, into: dir });
      const restored = await restoreOnce(dir, cid, config, deps, signal);
      const snap = await scanEntry(dir, restored.name, config.marker, config.limits);
      if (!snap) throw new Error(`${join(dir, restored.name)} disappeared right after the restore`);
      await writeAgentState(dir, { name: restored.name, cid, fingerprint: snap.fingerprint, origin: 'restored' });
      deps.log('info', 'checkpoint restored', { ...restored });
      return restored;
    } catch (err) {
      if (err instanceof DagVerificationError) throw new Error(`checkpoint ${cid} cannot be restored: ${err.message}`, { cause: err });
      if (!(err instanceof KuboError)) throw err;
      failures += 1;
      const wait = exponentialBackoffMs(failures, BACKOFF);
      if (deps.now() + wait >= deadline) throw new Error(`could not restore ${cid} within ${config.restoreWindowMs / 1000}s: ${err.message}`, { cause: err });
      deps.log('warn', 'restore failed; retrying', { cid, error: err.message, retryInMs: wait, failures });
      await deps.sleep(wait);
    }
  }
}
