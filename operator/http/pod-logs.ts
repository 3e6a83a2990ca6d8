// GET /api/v1/jobs/:namespace/:name/logs?replica=&attempt=&follow=&limitBytes=&tailLines=
//
// A replica's log, read from the provider's apiserver (pods/log of the pod the operator created for
// that replica of that attempt, container "main") and passed through as text/plain. Authorized as
// reading the job: `get aijobs <name>` in its namespace (the same SubjectAccessReview as
// GET /api/v1/jobs/:namespace/:name, so `kubectl`'s view and edit roles both read logs); the check
// comes before any lookup, so a 403 says nothing about whether the job exists.
//
// Bounds (the provider is asked for no more than these, and a follow is cut at its deadline):
//   limitBytes   default 1 MiB, at most 8 MiB per request (passed to the apiserver as limitBytes)
//   tailLines    optional, at most 100,000
//   follow       a stream held open at most 10 minutes; at most 16 followed streams at once (429 past it)
//   rate         log requests of all callers together take tokens of a bucket of their own
//                (2 per second, burst 10; 429 past it), so reading logs cannot spend the provider
//                client's budget that the controllers need
//
// Answers: 404 unknown job/replica/attempt or a pod the provider no longer has; 409 the provider's
// 400 (container not started, no log on the node); 502 any other failure at the provider.
// Only the leader holds provider connections: a standby answers 503 and the caller retries.
import type { Request, Response } from 'express';
import { Writable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { AIJob } from '../api/types.ts';
import { TokenBucket } from '../runtime/token-bucket.ts';
import type { RateLimit } from '../runtime/token-bucket.ts';

export const MAIN_CONTAINER = 'main';

export interface PodLogLimits {
  readonly defaultLimitBytes: number;
  readonly maxLimitBytes: number;
  readonly maxTailLines: number;
  readonly maxFollowMs: number;
  readonly maxFollows: number;
  readonly rate: RateLimit;
}

export const DEFAULT_POD_LOG_LIMITS: PodLogLimits = {
  defaultLimitBytes: 1024 * 1024,
  maxLimitBytes: 8 * 1024 * 1024,
  maxTailLines: 100_000,
  maxFollowMs: 10 * 60_000,
  maxFollows: 16,
  rate: { qps: 2, burst: 10 },
};

export interface LogQuery {
  readonly replica: number;
  /** Unset: the newest attempt. */
  readonly attempt?: number;
  readonly follow: boolean;
  readonly limitBytes: number;
  readonly tailLines?: number;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const nonNegative = (v: unknown): number | undefined => (typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : undefined);

/** The query string → LogQuery, or a 400 sentence. */
export function parseLogQuery(q: Record<string, unknown>, limits: PodLogLimits = DEFAULT_POD_LOG_LIMITS): Parsed<LogQuery> {
  const bad = (error: string): Parsed<LogQuery> => ({ ok: false, error });
  const replica = q.replica === undefined ? 0 : nonNegative(q.replica);
  if (replica === undefined) return bad('replica must be a replica index (0, 1, …)');
  const attempt = q.attempt === undefined ? undefined : nonNegative(q.attempt);
  if (q.attempt !== undefined && attempt === undefined) return bad('attempt must be an attempt index (0, 1, …)');
  if (q.follow !== undefined && q.follow !== 'true' && q.follow !== 'false') return bad('follow must be true or false');
  const limitBytes = q.limitBytes === undefined ? limits.defaultLimitBytes : nonNegative(q.limitBytes);
  if (limitBytes === undefined || limitBytes < 1) return bad(`limitBytes must be a positive number of bytes, at most ${limits.maxLimitBytes}`);
  const tailLines = q.tailLines === undefined ? undefined : nonNegative(q.tailLines);
  if (q.tailLines !== undefined && (tailLines === undefined || tailLines > limits.maxTailLines))
    return bad(`tailLines must be a number of lines, at most ${limits.maxTailLines}`);
  return {
    ok: true,
    value: {
      replica,
      ...(attempt !== undefined ? { attempt } : {}),
      follow: q.follow === 'true',
      limitBytes: Math.min(limitBytes, limits.maxLimitBytes),
      ...(tailLines !== undefined ? { tailLines } : {}),
    },
  };
}

export interface LogTarget {
  readonly provider: string;
  readonly attempt: number;
  readonly replica: number;
  readonly pod: string;
  readonly podUid: string;
}

/**
 * Which pod holds the log: status.attempts[] records, per attempt, the provider and the pods the
 * operator created by replica (and their uids, so a look-alike pod of the provider's is never read).
 */
export function logTarget(job: AIJob, q: Pick<LogQuery, 'replica' | 'attempt'>): Parsed<LogTarget> {
  const id = `AIJob ${job.metadata.namespace}/${job.metadata.name}`;
  const attempts = job.status?.attempts ?? [];
  if (attempts.length === 0) return { ok: false, error: `${id} has not started an attempt yet (phase ${job.status?.phase ?? 'Pending'}): no log` };
  const attempt = q.attempt === undefined ? attempts.at(-1) : attempts.find((a) => a.index === q.attempt);
  if (!attempt) return { ok: false, error: `${id} has no attempt ${q.attempt} (attempts: ${attempts.map((a) => a.index).join(', ')})` };
  if (q.replica >= job.spec.replicas) return { ok: false, error: `${id} has replicas 0…${job.spec.replicas - 1}; there is no replica ${q.replica}` };
  const pod = attempt.pods?.find((p) => p.replica === q.replica);
  if (!pod) return { ok: false, error: `attempt ${attempt.index} of ${id} has no pod for replica ${q.replica} (it was never created)` };
  return { ok: true, value: { provider: attempt.provider, attempt: attempt.index, replica: q.replica, pod: pod.name, podUid: pod.uid } };
}

/** What the endpoint needs of a provider connection. */
export interface LogProvider {
  readonly namespace: string;
  /** The pod from the connection's cache, if it is there. */
  cachedPod(name: string): V1Pod | undefined;
  /** The whole (bounded) log, as the provider's apiserver answers GET pods/log. */
  read(pod: string, opts: { limitBytes: number; tailLines?: number }): Promise<string>;
  /** Streams the log into `out` (follow=true); resolves with a function that stops the stream. */
  follow(pod: string, opts: { limitBytes: number; tailLines?: number }, out: Writable): Promise<() => void>;
}

export interface LogSource {
  /** The provider's connection; undefined when this replica holds none (standby) or the provider is unknown. */
  provider(name: string): LogProvider | undefined;
  /** True when this replica holds the provider connections (the leader). */
  readonly active: boolean;
}

/** The provider's answer → status and a sentence for the caller (URLs masked by `mask`). */
export function providerLogError(err: unknown, target: LogTarget, mask: (s: string) => string): { status: number; error: string } {
  const code = (err as { code?: unknown }).code;
  const body = (err as { body?: unknown }).body;
  let detail = '';
  try {
    detail =
      typeof body === 'string' ? ((JSON.parse(body) as { message?: string }).message ?? body) : ((body as { message?: string } | undefined)?.message ?? '');
  } catch {
    detail = typeof body === 'string' ? body : '';
  }
  if (!detail) detail = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
  const what = `the log of replica ${target.replica}, attempt ${target.attempt} (pod ${target.pod} at provider ${target.provider})`;
  if (code === 404) return { status: 404, error: `${what} is gone: the provider no longer has the pod` };
  // The apiserver's 400 is the pod's state ("container … is waiting to start", or the node's
  // "no logs found for container …"): the request was right, the log is not there (yet).
  if (code === 400) return { status: 409, error: `${what} is not available from the provider: ${mask(detail.slice(0, 500))}` };
  return {
    status: 502,
    error: `provider ${target.provider} could not serve ${what}${typeof code === 'number' ? ` (HTTP ${code})` : ''}: ${mask(detail.slice(0, 500))}`,
  };
}

export interface PodLogHandlerDeps {
  readonly source: LogSource;
  readonly limits?: PodLogLimits;
  readonly mask: (s: string) => string;
  readonly now?: () => number;
}

/** The endpoint's work after authorization and the job lookup (api.ts does those). */
export function podLogHandler(deps: PodLogHandlerDeps) {
  const limits = deps.limits ?? DEFAULT_POD_LOG_LIMITS;
  const bucket = new TokenBucket(limits.rate);
  let follows = 0;
  return async (job: AIJob, req: Request, res: Response): Promise<void> => {
    const parsed = parseLogQuery(req.query as Record<string, unknown>, limits);
    if (!parsed.ok) return void res.status(400).json({ error: parsed.error });
    const q = parsed.value;
    const target = logTarget(job, q);
    if (!target.ok) return void res.status(404).json({ error: target.error });
    const t = target.value;
    if (!deps.source.active)
      return void res.status(503).json({ error: 'this operator replica is not the leader and holds no provider connections; retry (the leader serves logs)' });
    const provider = deps.source.provider(t.provider);
    if (!provider) return void res.status(502).json({ error: `provider ${t.provider} is not connected to this operator: cannot read the log of pod ${t.pod}` });
    const cached = provider.cachedPod(t.pod);
    if (cached?.metadata?.uid && cached.metadata.uid !== t.podUid) {
      return void res.status(404).json({
        error: `pod ${t.pod} at provider ${t.provider} is not the pod the operator created (uid ${cached.metadata.uid}, not ${t.podUid}); its log is not this job's`,
      });
    }
    if (q.follow && follows >= limits.maxFollows)
      return void res
        .set('Retry-After', '10')
        .status(429)
        .json({ error: `${limits.maxFollows} logs are being followed already; retry later` });
    const token = bucket.tryTake();
    if (!token.ok)
      return void res
        .set('Retry-After', String(Math.ceil(token.retryAfterMs / 1000)))
        .status(429)
        .json({ error: 'too many log requests; retry shortly' });
    const opts = { limitBytes: q.limitBytes, ...(q.tailLines !== undefined ? { tailLines: q.tailLines } : {}) };
    // The bytes are whatever the job and the provider wrote: never sniffed into HTML by a browser.
    res.set('X-Content-Type-Options', 'nosniff');
    res.set('X-Flotilla-Log-Pod', `${t.provider}/${t.pod}`);
    res.set('X-Flotilla-Log-Limits', `limitBytes=${q.limitBytes}${q.follow ? `; followSeconds=${Math.round(limits.maxFollowMs / 1000)}` : ''}`);
    if (!q.follow) {
      let text: string;
      try {
        text = await provider.read(t.pod, opts);
      } catch (err) {
        const e = providerLogError(err, t, deps.mask);
        return void res.status(e.status).json({ error: e.error });
      }
      // limitBytes is asked of the provider, and held here too: a provider may ignore it.
      const bytes = Buffer.from(text, 'utf8');
      return void res.type('text/plain').send(bytes.length > q.limitBytes ? bytes.subarray(0, q.limitBytes) : bytes);
    }
    follows += 1;
    let stop: (() => void) | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const done = () => {
      if (deadline) clearTimeout(deadline);
      deadline = undefined;
      stop?.();
      stop = undefined;
    };
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        follows -= 1;
      }
    };
    res.on('close', () => {
      done();
      release();
    });
    // Not flushed yet: a provider that refuses the request still gets its status code through.
    res.status(200).type('text/plain');
    try {
      stop = await provider.follow(
        t.pod,
        opts,
        byteCapped(res, q.limitBytes, () => {
          done();
          res.end();
        }),
      );
    } catch (err) {
      release();
      const e = providerLogError(err, t, deps.mask);
      if (!res.headersSent) return void res.status(e.status).json({ error: e.error });
      res.end(`\n[flotilla] ${e.error}\n`);
      return;
    }
    if (res.writableEnded || res.destroyed) return void done();
    deadline = setTimeout(() => {
      done();
      res.end();
    }, limits.maxFollowMs);
    deadline.unref();
  };
}

/**
 * `out` behind a cap of `limit` bytes: what a provider streams beyond it is dropped and `onCap` is
 * called (the handler stops the stream and ends the answer). limitBytes is asked of the provider,
 * but a provider controls its API server and may ignore it.
 */
export function byteCapped(out: Writable, limit: number, onCap: () => void): Writable {
  let sent = 0;
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const room = limit - sent;
      if (room <= 0) return callback();
      const part = data.length > room ? data.subarray(0, room) : data;
      sent += part.length;
      // No back-pressure wait: at most `limit` bytes are ever buffered.
      out.write(part);
      if (sent >= limit) onCap();
      callback();
    },
    final(callback) {
      if (!out.writableEnded) out.end();
      callback();
    },
  });
}
