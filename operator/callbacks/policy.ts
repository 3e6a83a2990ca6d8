// When a job's callback is due, what it carries, and what an HTTP answer means. Pure.
//
// A callback is due when the job has spec.callbackURL, its phase is terminal (Succeeded, Failed,
// Settled), and status.callbacks has no record of that phase yet. The record is per phase, not per
// URL, and lives in status (which tenants cannot write): changing the URL or any annotation never
// calls a phase back twice. Delivery is at least once: the record is written after the receiver
// answered 2xx, so a crash in between repeats the POST with the same webhook-id, which receivers
// dedupe on.
import type { AIJob, AIJobStatus } from '../api/types.ts';
import { isTerminalPhase } from '../core/lifecycle/phases.ts';
import type { TerminalPhase } from '../core/lifecycle/phases.ts';

/** Where operators before status.callbacks recorded outcomes; still read, so their jobs are not called back again. */
export const ANNOTATION_DELIVERED = 'flotilla.dev/callback-delivered';
export const ANNOTATION_FAILED = 'flotilla.dev/callback-failed';
export type CallbackRecord = NonNullable<AIJobStatus['callbacks']>[number];

/** Jobs that finished longer ago than this get no callback (e.g. on first upgrade to a callback-aware operator). */
export const DEFAULT_MAX_AGE_MS = 24 * 3600_000;

const listed = (job: AIJob, annotation: string) =>
  (job.metadata.annotations?.[annotation] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function dueCallback(job: AIJob, now: number, maxAgeMs = DEFAULT_MAX_AGE_MS): TerminalPhase | undefined {
  if (!job.spec.callbackURL || job.metadata.deletionTimestamp) return undefined;
  const phase = job.status?.phase;
  if (!isTerminalPhase(phase)) return undefined;
  if ((job.status?.callbacks ?? []).some((r) => r.phase === phase)) return undefined;
  if (listed(job, ANNOTATION_DELIVERED).includes(phase) || listed(job, ANNOTATION_FAILED).includes(phase)) return undefined;
  const completed = Date.parse(job.status?.completionTime ?? '');
  if (Number.isFinite(completed) && now - completed > maxAgeMs) return undefined;
  return phase;
}

/** status.callbacks after recording `record` (one entry per phase; the first outcome stands). */
export function withRecord(job: AIJob, record: CallbackRecord): CallbackRecord[] {
  const records = job.status?.callbacks ?? [];
  return records.some((r) => r.phase === record.phase) ? [...records] : [...records, record];
}

/** What an Event says about an answer: its status code, never its body (the receiver's words are not ours to repeat into the cluster). */
export function answerSummary(status: number): string {
  return status >= 300 && status < 400 ? `HTTP ${status} (a redirect; redirects are not followed)` : `HTTP ${status}`;
}

export const deliveryId = (job: AIJob, phase: string) => `${job.metadata.uid ?? ''}.${phase}`;

export const eventType = (phase: TerminalPhase) => `aijob.${phase.toLowerCase()}`;

/** The Standard Webhooks payload: { type, timestamp, data }. */
export function callbackPayload(job: AIJob, phase: TerminalPhase, nowIso: string) {
  const status = job.status ?? {};
  return {
    type: eventType(phase),
    timestamp: nowIso,
    data: {
      apiVersion: job.apiVersion,
      kind: job.kind,
      namespace: job.metadata.namespace ?? '',
      name: job.metadata.name ?? '',
      uid: job.metadata.uid ?? '',
      phase,
      provider: status.placement?.provider ?? status.attempts?.at(-1)?.provider ?? null,
      outputCID: status.outputCID ?? null,
      receiptCID: status.receiptCID ?? null,
      cost: status.cost ?? null,
      settlement: status.settlement ?? null,
      attempts: status.attempts ?? [],
      conditions: status.conditions ?? [],
      startTime: status.startTime ?? null,
      completionTime: status.completionTime ?? null,
    },
  };
}

export type AnswerVerdict = 'delivered' | 'retry' | 'reject';

/**
 * 2xx delivered; 408, 429 and 5xx (and no answer) retried; any other status will not change by
 * retrying — 3xx included: a redirect is never followed (it could point anywhere, the policy's
 * checks were for the URL the tenant wrote).
 */
export function judgeAnswer(status: number | undefined): AnswerVerdict {
  if (status === undefined) return 'retry';
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'reject';
}
