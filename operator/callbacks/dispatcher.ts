// Delivers spec.callbackURL callbacks (leader only): a POST signed with the namespace's key when a
// job reaches a terminal phase, retried with exponential backoff through a WorkQueue (one delivery
// per job at a time), then recorded in status.callbacks and as an Event on the AIJob.
//
//   hub view event ─▶ dueCallback? ─▶ queue(key) ─▶ URL policy ─▶ POST (signed, vetted address, timeout)
//       ├ refused by the policy (internal address, credentials, own endpoint) ─▶ record Refused, Event
//       ├ 2xx ─▶ record Delivered, Event
//       ├ 408/429/5xx/network ─▶ throw → backoff
//       └ other status (3xx: redirects are not followed), or attempts used up ─▶ record Failed, Event
//
// Events and logs carry the status code, never the receiver's body (url-policy.ts, send.ts).
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { AIJOB, API_VERSION, GROUP, VERSION } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { recordCallback, recordWriteConflict } from '../telemetry/metrics.ts';
import { guardedStatusPatch } from '../core/status-patch.ts';
import { failedTest } from '../hub/aijob-store.ts';
import { answerSummary, callbackPayload, deliveryId, dueCallback, judgeAnswer, withRecord } from './policy.ts';
import type { CallbackRecord } from './policy.ts';
import type { TerminalPhase } from '../core/lifecycle/phases.ts';
import { CallbackRefused, postCallback } from './send.ts';
import { namespaceKey, signedHeaders } from './signature.ts';
import { EMPTY_POLICY } from './url-policy.ts';
import type { CallbackPolicy } from './url-policy.ts';

/** The Secret in each tenant namespace that holds its verification key (data key `key`). */
export const NAMESPACE_KEY_SECRET = 'flotilla-callback-key';
/** Where the operator keeps the master secret it generated, when none is configured. */
export const MASTER_SECRET = 'flotilla-callback-master';

export interface CallbackDispatcherOptions {
  readonly hub: KubeConfig;
  /** Reads a job from the hub cache by namespace/name. */
  readonly getJob: (key: string) => AIJob | undefined;
  /** Master signing secret (FLOTILLA_CALLBACK_SECRET[_FILE]); absent: generated once and kept in the Secret MASTER_SECRET of `namespace`. */
  readonly secret?: string;
  /** The operator's namespace (where MASTER_SECRET lives). */
  readonly namespace: string;
  /** Where callbacks may go (url-policy.ts). Default: no allow-list, no own endpoints. */
  readonly policy?: CallbackPolicy;
  readonly log: Logger;
  /** Attempts before giving up. Default 8 (≈ 4 minutes with the default backoff). */
  readonly maxAttempts?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

interface Outcome {
  readonly record: CallbackRecord;
  readonly message: string;
  /** The Event was recorded. */
  readonly reported: boolean;
}

class Undeliverable extends Error {
  override name = 'Undeliverable';
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

class Retryable extends Error {
  override name = 'Retryable';
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

const EVENT_REASON = { Delivered: 'CallbackDelivered', Failed: 'CallbackFailed', Refused: 'CallbackRefused' } as const;
const KEY_RECHECK_MS = 60_000;
/** Names status.callbacks' writes in the job's managedFields and in flotilla_aijob_write_conflicts_total. */
const CALLBACKS_FIELD_MANAGER = 'flotilla-callbacks';

export class CallbackDispatcher {
  private readonly opts: CallbackDispatcherOptions;
  private readonly queue: WorkQueue;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly attempts = new Map<string, number>();
  /** Outcomes by delivery id, until the record is visible in the cache. */
  private readonly outcomes = new Map<string, Outcome>();
  /** When each namespace's key Secret was last seen right. */
  private readonly keyChecked = new Map<string, number>();
  private master: Promise<string> | undefined;
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
      onError: (key, err, retryInMs) =>
        opts.log('warn', 'callback not delivered; retrying', { job: key, error: err instanceof Error ? err.message : String(err), retryInMs }),
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
    // Decided already by this process (the cache may not show our record yet): only record it.
    const outcome = this.outcomes.get(id) ?? (await this.attempt(key, job, phase));
    this.outcomes.set(id, outcome);
    if (!outcome.reported) {
      await this.event(job, outcome.record.outcome === 'Delivered' ? 'Normal' : 'Warning', EVENT_REASON[outcome.record.outcome], outcome.message);
      this.outcomes.set(id, { ...outcome, reported: true });
    }
    await this.record(job, outcome.record);
    if (this.outcomes.size > 10_000) this.outcomes.delete(this.outcomes.keys().next().value as string);
  }

  /** One POST; throws to be retried with backoff, returns the outcome when there is one. */
  private async attempt(key: string, job: AIJob, phase: TerminalPhase): Promise<Outcome> {
    const id = deliveryId(job, phase);
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempt);
    const max = this.opts.maxAttempts ?? 8;
    const time = new Date(this.now()).toISOString();
    const url = job.spec.callbackURL as string;
    let code: number;
    try {
      code = await this.post(job, phase);
    } catch (err) {
      if (err instanceof CallbackRefused) {
        recordCallback('refused');
        this.attempts.delete(id);
        this.opts.log('warn', 'callback refused', { job: key, phase, reason: err.message });
        return { record: { phase, outcome: 'Refused', time }, message: `callback for ${phase} refused: ${err.message}`, reported: false };
      }
      const status = (err as { code?: unknown }).code;
      const withCode = typeof status === 'number' ? { code: status } : {};
      const final = err instanceof Undeliverable || attempt >= max;
      if (!final) {
        recordCallback('retry');
        throw err;
      }
      recordCallback('failed');
      this.attempts.delete(id);
      const message = `callback for ${phase} to ${url} failed after ${attempt} attempt(s): ${err instanceof Error ? err.message : String(err)}`;
      this.opts.log('warn', 'callback given up', { job: key, phase, attempts: attempt, error: message });
      return { record: { phase, outcome: 'Failed', time, ...withCode }, message, reported: false };
    }
    recordCallback('delivered');
    this.attempts.delete(id);
    this.opts.log('info', 'callback delivered', { job: key, phase, url, attempts: attempt, code });
    return {
      record: { phase, outcome: 'Delivered', time, code },
      message: `callback for ${phase} delivered to ${url} (HTTP ${code}, attempt ${attempt})`,
      reported: false,
    };
  }

  /** The answer's status code when delivered; throws Undeliverable (final), Retryable, or CallbackRefused. */
  private async post(job: AIJob, phase: TerminalPhase): Promise<number> {
    const now = this.now();
    const namespace = job.metadata.namespace ?? '';
    const body = JSON.stringify(callbackPayload(job, phase, new Date(now).toISOString()));
    const key = namespaceKey(await this.masterSecret(), namespace);
    await this.publishKey(namespace, key);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'flotilla-operator',
      ...signedHeaders(key, deliveryId(job, phase), Math.floor(now / 1000), body),
    };
    let status: number;
    try {
      status = await postCallback(job.spec.callbackURL as string, {
        headers,
        body,
        timeoutMs: this.opts.timeoutMs ?? 10_000,
        policy: this.opts.policy ?? EMPTY_POLICY,
      });
    } catch (err) {
      if (err instanceof CallbackRefused) throw err;
      const e = err as { code?: string; message?: string; name?: string };
      throw new Retryable(`no answer: ${e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timed out' : (e.code ?? e.message ?? String(err))}`);
    }
    const verdict = judgeAnswer(status);
    if (verdict === 'delivered') return status;
    if (verdict === 'reject') throw new Undeliverable(answerSummary(status), status);
    throw new Retryable(answerSummary(status), status);
  }

  /** The configured master secret, or the one kept in the operator's namespace (created on first use, shared by every replica). */
  private masterSecret(): Promise<string> {
    if (this.opts.secret) return Promise.resolve(this.opts.secret);
    this.master ??= this.loadOrCreateMaster().catch((err: unknown) => {
      this.master = undefined;
      throw err;
    });
    return this.master;
  }

  private async loadOrCreateMaster(): Promise<string> {
    const read = async () => {
      const s = await this.core.readNamespacedSecret({ name: MASTER_SECRET, namespace: this.opts.namespace });
      const value = s.data?.secret ? Buffer.from(s.data.secret, 'base64').toString('utf8') : '';
      if (!value) throw new Error(`Secret ${this.opts.namespace}/${MASTER_SECRET} has no data key "secret"`);
      return value;
    };
    try {
      return await read();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 404) throw err;
    }
    assertLeading(`create the Secret ${this.opts.namespace}/${MASTER_SECRET}`);
    const value = `whsec_${randomBytes(32).toString('base64')}`;
    try {
      await this.core.createNamespacedSecret({
        namespace: this.opts.namespace,
        body: {
          metadata: { name: MASTER_SECRET, labels: { 'app.kubernetes.io/managed-by': 'flotilla' } },
          type: 'Opaque',
          data: { secret: Buffer.from(value).toString('base64') },
        },
      });
      this.opts.log('info', 'generated the callback master secret', { secret: `${this.opts.namespace}/${MASTER_SECRET}` });
      return value;
    } catch (err) {
      if ((err as { code?: unknown }).code === 409) return read(); // another replica was first
      throw err;
    }
  }

  /**
   * Keeps the namespace's verification key in its Secret NAMESPACE_KEY_SECRET (readable by the
   * namespace's editors, not its viewers). Best effort: the callback is signed either way.
   */
  private async publishKey(namespace: string, key: string): Promise<void> {
    if (this.now() - (this.keyChecked.get(namespace) ?? -Infinity) < KEY_RECHECK_MS) return;
    const body: V1Secret = {
      metadata: {
        name: NAMESPACE_KEY_SECRET,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'flotilla' },
        annotations: { 'flotilla.dev/purpose': "verifies the webhook-signature of this namespace's AIJob callbacks (Standard Webhooks)" },
      },
      type: 'Opaque',
      data: { key: Buffer.from(key).toString('base64') },
    };
    try {
      assertLeading(`publish the callback key of namespace ${namespace}`);
      const existing = await this.core.readNamespacedSecret({ name: NAMESPACE_KEY_SECRET, namespace }).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw err;
      });
      if (!existing) await this.core.createNamespacedSecret({ namespace, body });
      else if (existing.data?.key !== body.data?.key)
        await this.core.replaceNamespacedSecret({
          name: NAMESPACE_KEY_SECRET,
          namespace,
          body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion ?? '' } },
        });
      this.keyChecked.set(namespace, this.now());
      if (this.keyChecked.size > 10_000) this.keyChecked.delete(this.keyChecked.keys().next().value as string);
    } catch (err) {
      this.opts.log('warn', "could not publish the namespace's callback key", {
        namespace,
        secret: NAMESPACE_KEY_SECRET,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /**
   * Appends the outcome to status.callbacks as a JSON patch that tests the records it read (phases,
   * outcomes, codes and times: nothing the apiserver's encoder escapes), not the resourceVersion:
   * the lifecycle's or the payments' write of the same moment does not refuse it. A stale view of
   * the records fails (422, counted as a conflict) and is retried with backoff.
   */
  private async record(job: AIJob, record: CallbackRecord): Promise<void> {
    assertLeading(`record the callback of AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    const callbacks = withRecord(job, record);
    // Only the records change (no conditions, nothing undefined): there is always a patch.
    const ops = guardedStatusPatch(job.status ?? {}, { callbacks }) ?? [];
    const coordinates = { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '' };
    await this.custom
      .patchNamespacedCustomObjectStatus(
        { ...coordinates, fieldManager: CALLBACKS_FIELD_MANAGER, body: ops },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )
      .catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 409 || failedTest(err)) recordWriteConflict(CALLBACKS_FIELD_MANAGER, 'status');
        throw err;
      });
  }

  private async event(job: AIJob, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.now());
    await this.core
      .createNamespacedEvent({
        namespace: job.metadata.namespace ?? '',
        body: {
          metadata: { generateName: `${job.metadata.name}.`, namespace: job.metadata.namespace ?? '' },
          involvedObject: {
            apiVersion: API_VERSION,
            kind: AIJOB.kind,
            name: job.metadata.name ?? '',
            namespace: job.metadata.namespace ?? '',
            uid: job.metadata.uid ?? '',
          },
          reason,
          message: message.slice(0, 1024),
          type,
          source: { component: 'flotilla-operator' },
          reportingComponent: 'flotilla-operator',
          reportingInstance: 'flotilla-operator',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((err: unknown) =>
        this.opts.log('warn', 'could not record callback event', {
          job: `${job.metadata.namespace}/${job.metadata.name}`,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
  }
}
