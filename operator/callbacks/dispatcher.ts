// Delivers spec.callbackURL callbacks (leader only): a signed POST when a job reaches a terminal
// phase, retried with exponential backoff through a WorkQueue (one delivery per job at a time),
// then recorded as an annotation and an Event on the AIJob.
//
//   hub view event ─▶ dueCallback? ─▶ queue(key) ─▶ POST (signed, timeout) ─┬ 2xx ─▶ annotate delivered, Event
//                                                                         ├ 408/429/5xx/network ─▶ throw → backoff
//                                                                         └ other 4xx, or attempts used up ─▶ annotate failed, Event
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, API_VERSION, GROUP, VERSION } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { recordCallback } from '../telemetry/metrics.ts';
import { ANNOTATION_DELIVERED, ANNOTATION_FAILED, callbackPayload, deliveryId, dueCallback, judgeAnswer, withPhase } from './policy.ts';
import type { TerminalPhase } from './policy.ts';
import { signedHeaders } from './signature.ts';

export interface CallbackDispatcherOptions {
  readonly hub: KubeConfig;
  /** Reads a job from the hub cache by namespace/name. */
  readonly getJob: (key: string) => AIJob | undefined;
  /** Signing secret (FLOTILLA_CALLBACK_SECRET); without one, callbacks go unsigned. */
  readonly secret?: string;
  readonly log: Logger;
  /** Attempts before giving up. Default 8 (≈ 4 minutes with the default backoff). */
  readonly maxAttempts?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

interface Outcome {
  readonly delivered: boolean;
  readonly message: string;
  /** The Event was recorded. */
  readonly reported: boolean;
}

class Undeliverable extends Error {
  override name = 'Undeliverable';
}

export class CallbackDispatcher {
  private readonly opts: CallbackDispatcherOptions;
  private readonly queue: WorkQueue;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly attempts = new Map<string, number>();
  /** Outcomes by delivery id, until the annotation is visible in the cache. */
  private readonly outcomes = new Map<string, Outcome>();
  private readonly now: () => number;

  constructor(opts: CallbackDispatcherOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.custom = opts.hub.makeApiClient(CustomObjectsApi);
    this.core = opts.hub.makeApiClient(CoreV1Api);
    this.queue = new WorkQueue({
      workers: 4,
      baseBackoffMs: opts.baseBackoffMs ?? 1_000,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      onError: (key, err, retryInMs) => opts.log('warn', 'callback not delivered; retrying', { job: key, error: err instanceof Error ? err.message : String(err), retryInMs }),
    });
  }

  start(): void {
    this.queue.start((key) => this.deliver(key));
  }

  stop(): void {
    this.queue.shutdown();
  }

  /** Feed hub view events here; queues the job when a callback is due. */
  observe(job: AIJob): void {
    if (dueCallback(job, this.now())) this.queue.add(`${job.metadata.namespace}/${job.metadata.name}`);
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }

  private async deliver(key: string): Promise<void> {
    const job = this.opts.getJob(key);
    const phase = job ? dueCallback(job, this.now()) : undefined;
    if (!job || !phase) return;
    const id = deliveryId(job, phase);
    // Decided already by this process (the cache may not show our annotation yet): only record it.
    const outcome = this.outcomes.get(id) ?? await this.attempt(key, job, phase);
    if (!outcome) return;
    this.outcomes.set(id, outcome);
    await this.annotate(job, outcome.delivered ? ANNOTATION_DELIVERED : ANNOTATION_FAILED, phase);
    if (!outcome.reported) {
      await this.event(job, outcome.delivered ? 'Normal' : 'Warning', outcome.delivered ? 'CallbackDelivered' : 'CallbackFailed', outcome.message);
      this.outcomes.set(id, { ...outcome, reported: true });
    }
    if (this.outcomes.size > 10_000) this.outcomes.delete(this.outcomes.keys().next().value as string);
  }

  /** One POST; throws to be retried with backoff, returns the outcome when there is one. */
  private async attempt(key: string, job: AIJob, phase: TerminalPhase): Promise<Outcome | undefined> {
    const id = deliveryId(job, phase);
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempt);
    const max = this.opts.maxAttempts ?? 8;
    try {
      await this.post(job, phase);
    } catch (err) {
      const final = err instanceof Undeliverable || attempt >= max;
      if (!final) {
        recordCallback('retry');
        throw err;
      }
      recordCallback('failed');
      this.attempts.delete(id);
      const message = `callback for ${phase} to ${job.spec.callbackURL} failed after ${attempt} attempt(s): ${err instanceof Error ? err.message : String(err)}`;
      this.opts.log('warn', 'callback given up', { job: key, phase, attempts: attempt, error: message });
      return { delivered: false, message, reported: false };
    }
    recordCallback('delivered');
    this.attempts.delete(id);
    this.opts.log('info', 'callback delivered', { job: key, phase, url: job.spec.callbackURL, attempts: attempt });
    return { delivered: true, message: `callback for ${phase} delivered to ${job.spec.callbackURL} (attempt ${attempt})`, reported: false };
  }

  private async post(job: AIJob, phase: TerminalPhase): Promise<void> {
    const now = this.now();
    const body = JSON.stringify(callbackPayload(job, phase, new Date(now).toISOString()));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'flotilla-operator' };
    if (this.opts.secret) Object.assign(headers, signedHeaders(this.opts.secret, deliveryId(job, phase), Math.floor(now / 1000), body));
    else headers['webhook-id'] = deliveryId(job, phase);
    let status: number | undefined;
    let detail = '';
    try {
      const res = await fetch(job.spec.callbackURL as string, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
      status = res.status;
      detail = (await res.text().catch(() => '')).slice(0, 200);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`no answer: ${cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))}`);
    }
    const verdict = judgeAnswer(status);
    if (verdict === 'delivered') return;
    const message = `HTTP ${status}${detail ? `: ${detail}` : ''}`;
    if (verdict === 'reject') throw new Undeliverable(message);
    throw new Error(message);
  }

  private async annotate(job: AIJob, annotation: string, phase: string): Promise<void> {
    await this.custom.patchNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: AIJOB.plural,
      namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '',
      body: { metadata: { annotations: { [annotation]: withPhase(job, annotation, phase) } } },
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  private async event(job: AIJob, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.now());
    await this.core.createNamespacedEvent({
      namespace: job.metadata.namespace ?? '',
      body: {
        metadata: { generateName: `${job.metadata.name}.`, namespace: job.metadata.namespace ?? '' },
        involvedObject: { apiVersion: API_VERSION, kind: AIJOB.kind, name: job.metadata.name ?? '', namespace: job.metadata.namespace ?? '', uid: job.metadata.uid ?? '' },
        reason, message: message.slice(0, 1024), type,
        source: { component: 'flotilla-operator' }, reportingComponent: 'flotilla-operator', reportingInstance: 'flotilla-operator',
        firstTimestamp: now, lastTimestamp: now, count: 1,
      },
    }).catch((err: unknown) => this.opts.log('warn', 'could not record callback event', { job: `${job.metadata.namespace}/${job.metadata.name}`, error: err instanceof Error ? err.message : String(err) }));
  }
}
