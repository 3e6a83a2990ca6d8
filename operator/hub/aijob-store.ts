// The hub side of AIJobs: an informer cache, and the only three writes the AIJob controller makes to
// the hub — status (status subresource), finalizers, Events. Custom objects go over the wire as
// plain JSON (client-node's typed serializers would drop fields they do not know).
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, API_VERSION, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus } from '../api/types.ts';
import type { JobEvent } from '../core/lifecycle/types.ts';
import { failpoint } from '../runtime/failpoint.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { InformerEventType, InformerState } from '../runtime/resilient-informer.ts';

export const jobKey = (namespace: string, name: string) => `${namespace}/${name}`;
const mergePatch = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface AIJobStoreOptions {
  /** Watch only this namespace (a namespace-scoped operator); absent: all. */
  readonly namespace?: string;
  readonly component?: string;
  /**
   * Client for Events, with a rate limit of its own (client-go's event recorder does the same), so
   * a burst of Events never delays a status write behind it. Absent: the main client.
   */
  readonly eventClient?: KubeConfig;
  readonly onEvent?: (type: InformerEventType, job: AIJob) => void;
  readonly onState?: (state: InformerState) => void;
}

export class AIJobStore {
  /** Raw wire objects (timestamps as strings), restarted with backoff when the watch fails. */
  readonly informer: ResilientInformer<AIJob>;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly component: string;

  constructor(kc: KubeConfig, opts: AIJobStoreOptions = {}) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = (opts.eventClient ?? kc).makeApiClient(CoreV1Api);
    this.component = opts.component ?? 'flotilla-operator';
    const ns = opts.namespace;
    const coords = { group: GROUP, version: VERSION, plural: AIJOB.plural };
    const list = () => (ns ? this.custom.listNamespacedCustomObject({ ...coords, namespace: ns }) : this.custom.listClusterCustomObject(coords)) as Promise<{ items: AIJob[] }>;
    this.informer = new ResilientInformer<AIJob>({
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${ns ? `namespaces/${ns}/` : ''}${AIJOB.plural}`,
      list,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.onState ? { onState: opts.onState } : {}),
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  get(key: string): AIJob | undefined {
    const [namespace, name] = key.split('/');
    return this.informer.get(name ?? '', namespace);
  }

  list(): readonly AIJob[] {
    return this.informer.list();
  }

  /** Writes status; fails with 409 if the job changed since `job` was read (no lost updates). */
  async patchStatus(job: AIJob, status: AIJobStatus): Promise<AIJob> {
    assertLeading(`write the status of AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    failpoint('before-status-write', { job: `${job.metadata.namespace}/${job.metadata.name}`, phase: status.phase });
    return (await this.custom.patchNamespacedCustomObjectStatus({
      group: GROUP, version: VERSION, plural: AIJOB.plural,
      namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '',
      body: { metadata: { resourceVersion: job.metadata.resourceVersion }, status },
    }, mergePatch())) as AIJob;
  }

  async setFinalizers(job: AIJob, finalizers: string[]): Promise<AIJob> {
    assertLeading(`set the finalizers of AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    return (await this.custom.patchNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: AIJOB.plural,
      namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '',
      body: { metadata: { resourceVersion: job.metadata.resourceVersion, finalizers } },
    }, mergePatch())) as AIJob;
  }

  async recordEvent(job: AIJob, event: JobEvent): Promise<void> {
    assertLeading(`record an Event on AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace: job.metadata.namespace ?? '',
      body: {
        metadata: { generateName: `${job.metadata.name}.`, namespace: job.metadata.namespace ?? '' },
        involvedObject: { apiVersion: API_VERSION, kind: AIJOB.kind, name: job.metadata.name ?? '', namespace: job.metadata.namespace ?? '', uid: job.metadata.uid ?? '', resourceVersion: job.metadata.resourceVersion ?? '' },
        reason: event.reason,
        message: event.message.slice(0, 1024),
        type: event.type,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
