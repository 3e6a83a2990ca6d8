// The job agent's configuration: environment variables only, because the operator sets them on the
// containers it builds (docs/agent.md lists them). Read and checked here, in one pure function, so a
// wrong value stops the agent at start with the variable named (exit 2) instead of surfacing as an
// odd failure minutes into a training run.
import { isCid } from '../core/lifecycle/report.ts';
import { positiveInt } from '../runtime/env.ts';

type Env = Readonly<Record<string, string | undefined>>;

export type AgentCommand = 'restore' | 'run';

export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

/** Who the agent reports for: the AIJob on the hub and this attempt. */
export interface JobIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly attempt: number;
}

/** Where checkpoints are reported (operator/controllers/aijob/checkpoint-report.ts). */
export interface ReportTarget {
  readonly url: string;
  readonly token: string;
  readonly job: JobIdentity;
}

export interface AgentLimits {
  /** Most content bytes a restore writes. */
  readonly maxBytes: number;
  /** Most files and folders in one restore, and in one checkpoint entry or output folder scanned. */
  readonly maxEntries: number;
  /** Deepest nesting of folders scanned, and of blocks restored. */
  readonly maxDepth: number;
}

export interface AgentConfig {
  /** Kubo RPC API base URL, no trailing slash. */
  readonly ipfsApi: string;
  /** The Authorization header sent to ipfsApi (FLOTILLA_IPFS_API_AUTH): the provider's Kubo API credential, when it asks for one. */
  readonly ipfsAuth?: string;
  readonly checkpointPath?: string;
  readonly outputPath?: string;
  readonly resumeFromCid?: string;
  readonly replica: number;
  /** The job and attempt, where FLOTILLA_JOB_NAME, FLOTILLA_JOB_UID and FLOTILLA_ATTEMPT are all set. */
  readonly job?: JobIdentity;
  /** Set only where this agent reports checkpoints: replica 0 with FLOTILLA_REPORT_URL. */
  readonly report?: ReportTarget;
  /** File name that marks a checkpoint folder complete; unset = the stable-fingerprint rule. */
  readonly marker?: string;
  readonly pollMs: number;
  readonly flushMs: number;
  readonly terminationLog: string;
  readonly limits: AgentLimits;
  /** How long restore keeps retrying an unreachable or failing Kubo before it gives up. */
  readonly restoreWindowMs: number;
  /** Longest one add (a checkpoint, the output) may take while running. */
  readonly addTimeoutMs: number;
}

export const DEFAULT_POLL_MS = 2_000;
export const DEFAULT_FLUSH_MS = 20_000;
export const DEFAULT_TERMINATION_LOG = '/dev/termination-log';
export const DEFAULT_AGENT_LIMITS: AgentLimits = { maxBytes: 64 * 1024 ** 3, maxEntries: 1_000_000, maxDepth: 64 };
const DEFAULT_RESTORE_WINDOW_MS = 120_000;
const DEFAULT_ADD_TIMEOUT_MS = 30 * 60_000;

// Kubernetes names: a namespace is a DNS label, an object name a DNS subdomain.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

const fail = (message: string): never => {
  throw new AgentConfigError(message);
};

function text(env: Env, key: string): string | undefined {
  const raw = env[key];
  return raw === undefined || raw === '' ? undefined : raw;
}

function httpUrl(env: Env, key: string): string | undefined {
  const raw = text(env, key);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(`${key} must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${key} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

function absolutePath(env: Env, key: string): string | undefined {
  const raw = text(env, key);
  if (raw === undefined) return undefined;
  if (!raw.startsWith('/') || raw.includes('\0') || raw.split('/').includes('..')) fail(`${key} must be an absolute path without "..", got "${raw}"`);
  return raw === '/' ? raw : raw.replace(/\/+$/, '');
}

/** A whole number in [min, max] written in plain digits; unset → fallback. */
function boundedInt(env: Env, key: string, fallback: number, min: number, max: number): number {
  const n = positiveInt(env, key, fallback, AgentConfigError);
  if (n < min || n > max) fail(`${key} must be between ${min} and ${max}, got "${env[key]}"`);
  return n;
}

function replicaIndex(env: Env): number | undefined {
  const raw = text(env, 'FLOTILLA_REPLICA');
  if (raw === undefined) return undefined;
  if (!/^\d{1,6}$/.test(raw)) fail(`FLOTILLA_REPLICA must be an integer ≥ 0, got "${raw}"`);
  return Number(raw);
}

/** The job and attempt: each variable checked when set; all required where `requiredBy` says, else undefined unless all are set. */
function jobIdentity(env: Env, requiredBy: string | undefined): JobIdentity | undefined {
  const jobName = text(env, 'FLOTILLA_JOB_NAME');
  const [namespace = '', name = '', ...rest] = (jobName ?? '').split('/');
  if (jobName !== undefined && (rest.length > 0 || !NAMESPACE.test(namespace) || !OBJECT_NAME.test(name)))
    fail(`FLOTILLA_JOB_NAME must be "<namespace>/<name>", got "${jobName}"`);
  const uid = text(env, 'FLOTILLA_JOB_UID');
  if (uid !== undefined && !/^[\x21-\x7e]{1,128}$/.test(uid)) fail(`FLOTILLA_JOB_UID must be 1–128 printable characters without spaces, got "${uid}"`);
  const attempt = text(env, 'FLOTILLA_ATTEMPT') === undefined ? undefined : boundedInt(env, 'FLOTILLA_ATTEMPT', 1, 1, 1_000_000);
  if (requiredBy !== undefined) {
    if (jobName === undefined) fail(`FLOTILLA_JOB_NAME is required ${requiredBy}`);
    if (uid === undefined) fail(`FLOTILLA_JOB_UID is required ${requiredBy}`);
    if (attempt === undefined) fail(`FLOTILLA_ATTEMPT is required ${requiredBy}`);
  }
  return jobName !== undefined && uid !== undefined && attempt !== undefined ? { namespace, name, uid, attempt } : undefined;
}

/** The configuration of `command`, or an AgentConfigError naming the first variable that is wrong. */
export function parseAgentConfig(env: Env, command: AgentCommand): AgentConfig {
  const ipfsApi = httpUrl(env, 'FLOTILLA_IPFS_API') ?? fail('FLOTILLA_IPFS_API is required (the Kubo RPC API, e.g. http://127.0.0.1:5001)');
  const ipfsAuth = text(env, 'FLOTILLA_IPFS_API_AUTH');
  // One header value: printable, no line breaks (it is written into every request to Kubo).
  if (ipfsAuth !== undefined && !/^[\x20-\x7e]{1,4096}$/.test(ipfsAuth)) fail('FLOTILLA_IPFS_API_AUTH must be one header value: 1–4096 printable characters');
  const checkpointPath = absolutePath(env, 'FLOTILLA_CHECKPOINT_PATH');
  const outputPath = absolutePath(env, 'FLOTILLA_OUTPUT_PATH');
  if (command === 'run' && outputPath === undefined) fail('FLOTILLA_OUTPUT_PATH is required for run');
  const resumeFromCid = text(env, 'FLOTILLA_RESUME_FROM_CID');
  if (resumeFromCid !== undefined && !isCid(resumeFromCid))
    fail(`FLOTILLA_RESUME_FROM_CID must be a CID, got "${env.FLOTILLA_RESUME_FROM_CID?.slice(0, 120)}"`);
  const marker = text(env, 'FLOTILLA_CHECKPOINT_MARKER');
  if (marker !== undefined && (marker === '.' || marker === '..' || /[/\\\0]/.test(marker) || marker.length > 255))
    fail(`FLOTILLA_CHECKPOINT_MARKER must be a plain file name, got "${marker}"`);

  // Only replica 0 reports: every replica of a data-parallel gang holds the same checkpoint, and
  // one report per checkpoint is what the receiving side records.
  const reportUrl = httpUrl(env, 'FLOTILLA_REPORT_URL');
  const replica = replicaIndex(env);
  if (reportUrl !== undefined && replica === undefined) fail('FLOTILLA_REPLICA is required with FLOTILLA_REPORT_URL');
  let report: ReportTarget | undefined;
  if (reportUrl !== undefined && replica === 0) {
    const token = text(env, 'FLOTILLA_REPORT_TOKEN') ?? fail('FLOTILLA_REPORT_TOKEN is required with FLOTILLA_REPORT_URL');
    if (!/^[\x21-\x7e]{1,1024}$/.test(token)) fail('FLOTILLA_REPORT_TOKEN must be 1–1024 printable characters without spaces');
    report = { url: reportUrl, token, job: jobIdentity(env, 'with FLOTILLA_REPORT_URL') as JobIdentity };
  }
  const job = jobIdentity(env, undefined);

  const terminationLog = absolutePath(env, 'FLOTILLA_TERMINATION_LOG') ?? DEFAULT_TERMINATION_LOG;
  return {
    ipfsApi,
    ...(ipfsAuth !== undefined ? { ipfsAuth } : {}),
    ...(checkpointPath !== undefined ? { checkpointPath } : {}),
    ...(outputPath !== undefined ? { outputPath } : {}),
    ...(resumeFromCid !== undefined ? { resumeFromCid } : {}),
    replica: replica ?? 0,
    ...(job ? { job } : {}),
    ...(report ? { report } : {}),
    ...(marker !== undefined ? { marker } : {}),
    pollMs: boundedInt(env, 'FLOTILLA_AGENT_POLL_MS', DEFAULT_POLL_MS, 100, 600_000),
    flushMs: boundedInt(env, 'FLOTILLA_AGENT_FLUSH_MS', DEFAULT_FLUSH_MS, 1_000, 3_600_000),
    terminationLog,
    limits: {
      maxBytes: boundedInt(env, 'FLOTILLA_AGENT_MAX_BYTES', DEFAULT_AGENT_LIMITS.maxBytes, 1, Number.MAX_SAFE_INTEGER),
      maxEntries: boundedInt(env, 'FLOTILLA_AGENT_MAX_ENTRIES', DEFAULT_AGENT_LIMITS.maxEntries, 1, 100_000_000),
      maxDepth: DEFAULT_AGENT_LIMITS.maxDepth,
    },
    restoreWindowMs: boundedInt(env, 'FLOTILLA_AGENT_RESTORE_TIMEOUT_MS', DEFAULT_RESTORE_WINDOW_MS, 1_000, 86_400_000),
    addTimeoutMs: DEFAULT_ADD_TIMEOUT_MS,
  };
}
