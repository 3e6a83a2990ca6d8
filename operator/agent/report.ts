// Reporting checkpoints to the operator (the receiving side: operator/controllers/aijob/checkpoint-report.ts).
// Pure: the request body, what a response means, and the one-slot queue of the report still to
// send. One slot because only the newest checkpoint matters: the next attempt resumes from the
// newest on record, so a newer checkpoint replaces an unsent older one instead of queueing behind it.
//
//   204          recorded                         → done
//   409          stale (older than recorded, or   → done, never retried: the operator will not
//                the attempt has ended)              take it however often it is sent
//   429          rate limited                     → retry after Retry-After (bounded)
//   5xx, network the operator or the hub is away  → retry at the next poll
//   other 4xx    malformed, bad token, no job     → dropped with an error log (retrying cannot help)
import type { JobIdentity } from './config.ts';

export interface CheckpointReportBody {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly attempt: number;
  readonly cid: string;
  /** RFC 3339. */
  readonly time: string;
}

export function reportBody(job: JobIdentity, cid: string, time: number): CheckpointReportBody {
  return { namespace: job.namespace, name: job.name, uid: job.uid, attempt: job.attempt, cid, time: new Date(time).toISOString() };
}

export type ReportOutcome =
  | { readonly kind: 'recorded' }
  | { readonly kind: 'stale'; readonly detail: string }
  | { readonly kind: 'rejected'; readonly detail: string }
  | { readonly kind: 'retry'; readonly afterMs: number; readonly detail: string };

/** The longest Retry-After honoured: a confused server must not silence reports for the whole run. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** The wait after a 429 that names no usable Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 5_000;

/** Retry-After as delay-seconds or an HTTP date, in ms from `now`, within [0, MAX_RETRY_AFTER_MS]. */
export function retryAfterMs(header: string | null | undefined, now: number): number {
  const raw = header?.trim() ?? '';
  let ms: number;
  if (/^\d+$/.test(raw)) ms = Number(raw) * 1000;
  // An HTTP date names its weekday or month; anything else Date.parse would take ("-5" is a year) is not one.
  else if (/[A-Za-z]{3}/.test(raw) && Number.isFinite(Date.parse(raw))) ms = Date.parse(raw) - now;
  else return DEFAULT_RETRY_AFTER_MS;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** What an HTTP answer to a report means; `detail` is the response's body, for the log. */
export function classifyReportResponse(status: number, retryAfter: string | null | undefined, detail: string, now: number): ReportOutcome {
  if (status === 204 || status === 200) return { kind: 'recorded' };
  if (status === 409) return { kind: 'stale', detail };
  if (status === 429) return { kind: 'retry', afterMs: retryAfterMs(retryAfter, now), detail };
  if (status >= 500) return { kind: 'retry', afterMs: 0, detail };
  return { kind: 'rejected', detail: `HTTP ${status}: ${detail}` };
}

/** A network failure (refused, reset, timed out): the same as a 5xx. */
export function networkFailure(message: string): ReportOutcome {
  return { kind: 'retry', afterMs: 0, detail: message };
}

export interface PendingReport {
  readonly cid: string;
  /** Epoch ms the checkpoint was found complete. */
  readonly time: number;
}

export interface ReportQueue {
  readonly pending?: PendingReport;
  /** No request before this (epoch ms): set by a 429. */
  readonly notBefore: number;
}

export const EMPTY_QUEUE: ReportQueue = { notBefore: 0 };

/** The queue with `report` as the one to send, replacing any unsent older one. */
export function enqueue(queue: ReportQueue, report: PendingReport): ReportQueue {
  return { ...queue, pending: report };
}

/** The report to send at `now`, if any. */
export function dueReport(queue: ReportQueue, now: number): PendingReport | undefined {
  return queue.pending !== undefined && now >= queue.notBefore ? queue.pending : undefined;
}

/** The queue after `sent` was answered with `outcome` at `now`. A newer report enqueued meanwhile stays. */
export function afterOutcome(queue: ReportQueue, sent: PendingReport, outcome: ReportOutcome, now: number): ReportQueue {
  const notBefore = outcome.kind === 'retry' && outcome.afterMs > 0 ? now + outcome.afterMs : queue.notBefore;
  const stillSent = queue.pending?.cid === sent.cid && queue.pending.time === sent.time;
  if (outcome.kind === 'retry' || !stillSent) return { ...queue, notBefore };
  return { notBefore };
}
