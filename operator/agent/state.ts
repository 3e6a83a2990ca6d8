// The agent's note of the last checkpoint it restored or added, kept in the checkpoint folder itself
// (hidden, so neither the scan nor a trainer globbing for checkpoints sees it). It is what stops
// `run` from adding and reporting again the checkpoint `restore` just wrote, and, after the sidecar
// was restarted mid-attempt, the checkpoint it had already added.
import { constants } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { isCid } from '../core/lifecycle/report.ts';
import type { JobIdentity } from './config.ts';

export const STATE_FILE = '.flotilla-agent.json';

export interface AgentState {
  readonly name: string;
  readonly cid: string;
  readonly fingerprint: string;
  readonly origin: 'restored' | 'added';
  /** For an added checkpoint: the attempt that added it ("<uid>/<attempt>") and when it was found complete (epoch ms). */
  readonly attempt?: string;
  readonly time?: number;
}

export const attemptKey = (job: JobIdentity) => `${job.uid}/${job.attempt}`;

/** The state in `text`; undefined when it is not one (a damaged file is as good as none). */
export function parseAgentState(text: string): AgentState | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name === '' || typeof s.fingerprint !== 'string' || !isCid(s.cid)) return undefined;
  if (s.origin !== 'restored' && s.origin !== 'added') return undefined;
  return {
    name: s.name,
    cid: s.cid,
    fingerprint: s.fingerprint,
    origin: s.origin,
    ...(typeof s.attempt === 'string' ? { attempt: s.attempt } : {}),
    ...(typeof s.time === 'number' && Number.isFinite(s.time) ? { time: s.time } : {}),
  };
}

export async function readAgentState(dir: string): Promise<AgentState | undefined> {
  try {
    return parseAgentState(await readFile(join(dir, STATE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Written beside and renamed over, so a reader sees the old state or the new one, never half. */
export async function writeAgentState(dir: string, state: AgentState): Promise<void> {
  const tmp = join(dir, `${STATE_FILE}.${process.pid}.tmp`);
  // O_NOFOLLOW: the folder is the trainer's too; a symlink planted at the temp name is not written through.
  await writeFile(tmp, JSON.stringify(state) + '\n', { flag: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW });
  await rename(tmp, join(dir, STATE_FILE));
}

/** Every file the agent itself keeps in the checkpoint folder starts with this (the state, restore's temp folder). */
export const AGENT_FILE_PREFIX = '.flotilla-agent';

/**
 * Which relative paths under `root` are the agent's own files, when the checkpoint folder is
 * `root` or inside it: an output folder that holds the checkpoints uploads them, not the agent's notes.
 */
export function agentFilesUnder(root: string, checkpointPath: string | undefined): (path: string) => boolean {
  if (checkpointPath === undefined) return () => false;
  const rel = relative(root, checkpointPath).split(sep).join('/');
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) return () => false;
  return (path) => {
    const slash = path.lastIndexOf('/');
    return (slash < 0 ? '' : path.slice(0, slash)) === rel && path.slice(slash + 1).startsWith(AGENT_FILE_PREFIX);
  };
}
