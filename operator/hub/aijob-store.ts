// The hub side of AIJobs: an informer cache, and the only three writes the AIJob controller makes to
// the hub — status (status subresource), finalizers, Events. Custom objects go over the wire as
// plain JSON (client-node's typed serializers would drop fields they do not know).
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, API_VERSION, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus } from '../api/types.ts';
import { sameJson } from '../core/json.ts';
import type { StatusPatchOp } from '../core/status-patch.ts';
import { claimVerdict, MANAGED_BY_ANNOTATION } from '../core/lifecycle/claim.ts';
import type { JobEvent } from '../core/lifecycle/types.ts';
import { failpoint } from '../runtime/failpoint.ts';
import { recordWriteConflict } from '../telemetry/metrics.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import { EventRecorder } from './event-recorder.ts';
import type { InformerEventType, InformerState } from '../runtime/resilient-informer.ts';

/**
 * A JSON patch refused because a `test` failed: 422 with no causes (a validation error names its
 * fields; the apiserver answers a failed test with a bare "error in our request").
 */
export function failedTest(err: unknown): boolean {
  const e = err as { code?: number; body?: unknown };
  if (e.code !== 422) return false;
  const body = typeof e.body === 'string' ? safeParse(e.body) : e.body;
  const causes = (body as { details?: { causes?: unknown[] } } | undefined)?.details?.causes;
  return !Array.isArray(causes) || causes.length === 0;
}

/** A refused JSON-patch test, as the 409 every writer already answers by reading again. */
function staleWrite(job: AIJob, what: string): Error {
  return Object.assign(new Error(`the ${what} of AIJob ${job.metadata.namespace}/${job.metadata.name} changed since read (a JSON-patch test failed)`), {
    code: 409,
  });
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const jobKey = (namespace: string, name: string) => `${namespace}/${name}`;
const mergePatch = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = () => setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/**
 * An AIJob informer someone else runs (the operator's HubView): stores that share it keep no cache
 * and open no watch of their own. One process used to hold four caches of every AIJob (the view, the
 * AIJob, payments and artifacts controllers) and the hub sent it every change four times.
 */
export interface SharedJobInformer {
  readonly jobInformer: ResilientInformer<AIJob>;
  /** The namespace its watch is scoped to (absent: all); a store must share only an informer of its own scope. */
  readonly namespace: string | undefined;
  onJob(listener: (type: InformerEventType, job: AIJob) => void): () => void;
}

export interface AIJobStoreOptions {
  /** Watch only this namespace (a namespace-scoped operator); absent: all. */
  readonly namespace?: string;
  /** Read jobs from this informer instead of watching them here (its scope must be `namespace`'s). */
  readonly shared?: SharedJobInformer;
  readonly component?: string;
  /**
   * Client for Events, with a rate limit of its own (client-go's event recorder does the same), so
   * a burst of Events never delays a status write behind it. Absent: the main client.
   */
  readonly eventClient?: KubeConfig;
  readonly onEvent?: (type: InformerEventType, job: AIJob) => void;
  readonly onState?: (state: InformerState) => void;
  /**
   * This operator's name (core/lifecycle/claim.ts). Set: get() hides jobs claimed by another
   * operator — and, with `claimedOnly`, jobs no operator has claimed yet — so the controller acts on
   * its own jobs only. list() still holds every job in the watch scope (for decisions about shared
   * things, such as whether another job still needs a pinned CID).
   */
  readonly owner?: string;
  readonly claimedOnly?: boolean;
  /**
   * The lifecycle's store (the writer of status.attempts): every status it writes carries the cost
   * those attempts add up to (core/metering.ts meteredCost), in the same write. Undefined: the cost
   * is left as it is.
   */
  readonly costOf?: (job: AIJob, status: AIJobStatus) => AIJobStatus['cost'];
}

export class AIJobStore {
  /** Raw wire objects (timestamps as strings), restarted with backoff when the watch fails. */
  readonly informer: ResilientInformer<AIJob>;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly component: string;
  readonly events: EventRecorder;
  private readonly owner: string | undefined;
  private readonly claimedOnly: boolean;
  private readonly shared: SharedJobInformer | undefined;
  private readonly onEvent: ((type: InformerEventType, job: AIJob) => void) | undefined;
  private readonly costOf: AIJobStoreOptions['costOf'];
  private unsubscribe: (() => void) | undefined;

  constructor(kc: KubeConfig, opts: AIJobStoreOptions = {}) {
    this.owner = opts.owner;
    this.claimedOnly = opts.claimedOnly === true;
    this.costOf = opts.costOf;
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = (opts.eventClient ?? kc).makeApiClient(CoreV1Api);
    this.component = opts.component ?? 'flotilla-operator';
    this.events = new EventRecorder(this.core, this.component);
    const ns = opts.namespace;
    this.shared = opts.shared;
    this.onEvent = opts.onEvent;
    if (opts.shared) {
      if (opts.shared.namespace !== ns)
        throw new Error(`a store of namespace ${ns ?? '(all)'} cannot share an informer of ${opts.shared.namespace ?? '(all)'}`);
      // Its watch failures are the sharer's to report (HubView logs them once).
      this.informer = opts.shared.jobInformer;
      return;
    }
    const coords = { group: GROUP, version: VERSION, plural: AIJOB.plural };
    const list = () =>
      (ns ? this.custom.listNamespacedCustomObject({ ...coords, namespace: ns }) : this.custom.listClusterCustomObject(coords)) as Promise<{ items: AIJob[] }>;
    this.informer = new ResilientInformer<AIJob>({
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${ns ? `namespaces/${ns}/` : ''}${AIJOB.plural}`,
      list,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.onState ? { onState: opts.onState } : {}),
    });
  }

  start(): void {
    if (!this.shared) return this.informer.start();
    if (this.unsubscribe) return;
    this.unsubscribe = this.shared.onJob((type, job) => this.onEvent?.(type, job));
    // What an informer of its own would say on its first list: every job there now. The sharer's
    // adds still to come (it may not have listed yet) reach the listener above.
    for (const job of this.informer.list()) this.onEvent?.('add', job);
  }

  stop(): void {
    if (this.shared) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
    } else this.informer.stop();
    this.events.stop();
  }

  /** Where a request about `job` goes. */
  private coordinates(job: AIJob) {
    return { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '' };
  }

  /** The job, if this operator may act on it (see AIJobStoreOptions.owner). */
  get(key: string): AIJob | undefined {
    const [namespace, name] = key.split('/');
    const job = this.informer.get(name ?? '', namespace);
    return job && this.mayActOn(job) ? job : undefined;
  }

  /** The job as the API server has it now (for a retry after 409; the cache may lag). */
  async read(job: AIJob): Promise<AIJob> {
    return (await this.custom.getNamespacedCustomObject(this.coordinates(job))) as AIJob;
  }

  /** The job as cached, whoever runs it. */
  peek(key: string): AIJob | undefined {
    const [namespace, name] = key.split('/');
    return this.informer.get(name ?? '', namespace);
  }

  mayActOn(job: AIJob): boolean {
    if (this.owner === undefined) return true;
    const verdict = claimVerdict(job, this.owner);
    return verdict === 'mine' || (verdict === 'unclaimed' && !this.claimedOnly);
  }

  /**
   * Claims the job for `owner`, adding `finalizers` in the same write. The resourceVersion is the
   * precondition: of two operators claiming at once exactly one lands, the other gets 409.
   */
  async claim(job: AIJob, owner: string, finalizers?: string[]): Promise<AIJob> {
    assertLeading(`claim AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    return this.counted(
      'claim',
      this.custom.patchNamespacedCustomObject(
        {
          ...this.coordinates(job),
          fieldManager: this.component,
          body: {
            metadata: { resourceVersion: job.metadata.resourceVersion, annotations: { [MANAGED_BY_ANNOTATION]: owner }, ...(finalizers ? { finalizers } : {}) },
          },
        },
        mergePatch(),
      ),
    );
  }

  list(): readonly AIJob[] {
    return this.informer.list();
  }

  /** Writes status; fails with 409 if the job changed since `job` was read (no lost updates). */
  async patchStatus(job: AIJob, status: AIJobStatus): Promise<AIJob> {
    assertLeading(`write the status of AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    failpoint('before-status-write', { job: `${job.metadata.namespace}/${job.metadata.name}`, phase: status.phase });
    // A merge patch replaces the top-level status fields it names: the status as written is the
    // stored one with those replaced.
    const cost = this.costOf?.(job, { ...job.status, ...status });
    const body = cost && !sameJson(cost, job.status?.cost) ? { ...status, cost } : status;
    return this.counted(
      'status',
      this.custom.patchNamespacedCustomObjectStatus(
        {
          ...this.coordinates(job),
          fieldManager: this.component,
          body: { metadata: { resourceVersion: job.metadata.resourceVersion }, status: body },
        },
        mergePatch(),
      ),
    );
  }

  /**
   * Writes status with a JSON patch whose tests are its preconditions (core/status-patch.ts), with no
   * resourceVersion: a write of fields it does not touch lands meanwhile without refusing it. A
   * failed test is thrown as a 409, counted as a conflict.
   */
  async patchStatusGuarded(job: AIJob, ops: readonly StatusPatchOp[]): Promise<AIJob> {
    assertLeading(`write the status of AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    failpoint('before-status-write', { job: `${job.metadata.namespace}/${job.metadata.name}` });
    return this.counted(
      'status',
      this.custom.patchNamespacedCustomObjectStatus({ ...this.coordinates(job), fieldManager: this.component, body: ops }, jsonPatch()),
      job,
    );
  }

  /**
   * Adds one finalizer by server-side apply of that finalizer alone, under a field manager named
   * after it: finalizers are a set to the apiserver, so the apply neither needs a resourceVersion
   * (a status write landing meanwhile does not refuse it) nor touches anyone else's finalizer, and
   * applying it twice adds it once. The uid is a precondition: a job deleted and created again
   * under the same name is not touched (409).
   */
  async addFinalizer(job: AIJob, finalizer: string): Promise<AIJob> {
    assertLeading(`add the finalizer ${finalizer} to AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    return this.counted(
      'finalizers',
      this.custom.patchNamespacedCustomObject(
        {
          ...this.coordinates(job),
          fieldManager: finalizer,
          force: true,
          body: {
            apiVersion: API_VERSION,
            kind: AIJOB.kind,
            metadata: { name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid, finalizers: [finalizer] },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
  }

  /**
   * Removes one finalizer (every copy of it) by a JSON patch that tests each position before it
   * removes it: whoever added it (this operator's apply, the defaulting webhook under the tenant's
   * field manager, an older operator's merge patch), and whatever else changed meanwhile. Refused
   * only when the finalizers moved (the test failed: 422), thrown as the 409 every caller retries.
   * Finalizer names are qualified names, so the apiserver's byte-for-byte test of each string
   * cannot differ from the JSON written here (no characters Go's encoder escapes).
   */
  async removeFinalizer(job: AIJob, finalizer: string): Promise<AIJob> {
    const at = (job.metadata.finalizers ?? []).flatMap((f, i) => (f === finalizer ? [i] : [])).reverse();
    if (at.length === 0) return job;
    assertLeading(`remove the finalizer ${finalizer} from AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    const patch = at.flatMap((i) => [
      { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
      { op: 'remove', path: `/metadata/finalizers/${i}` },
    ]);
    return this.counted(
      'finalizers',
      this.custom.patchNamespacedCustomObject({ ...this.coordinates(job), fieldManager: this.component, body: patch }, jsonPatch()),
      job,
    );
  }

  /**
   * The write's result. A refusal as stale — 409, or a JSON-patch test of `job` that failed (422,
   * thrown as the 409 every caller retries) — is counted under this store's component, then rethrown.
   */
  private async counted(write: 'status' | 'claim' | 'finalizers', request: Promise<unknown>, job?: AIJob): Promise<AIJob> {
    try {
      return (await request) as AIJob;
    } catch (err) {
      const stale = job && failedTest(err) ? staleWrite(job, write) : err;
      if ((stale as { code?: number }).code === 409) recordWriteConflict(this.component, write);
      throw stale;
    }
  }

  /** Records an Event about the job (hub/event-recorder.ts: routine ones are aggregated across jobs). */
  recordEvent(job: AIJob, event: JobEvent): Promise<void> {
    return this.events.record(job, event);
  }
}
