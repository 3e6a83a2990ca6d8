// A read-only view of the hub that every replica keeps, leader or standby: informer caches of the
// AIJobs (in the watched namespace, or all) and of the GPUProviders. The JSON API, the admission
// webhooks, /readyz, the job metrics and the callbacks read from it; nothing here writes.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, GPUProvider } from '../api/types.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { InformerEventType, InformerState } from '../runtime/resilient-informer.ts';

export type JobListener = (type: InformerEventType, job: AIJob) => void;

export interface HubViewOptions {
  /** Only AIJobs of this namespace (a namespace-scoped operator); absent: all namespaces. */
  readonly namespace?: string;
  readonly onState?: (informer: 'aijobs' | 'gpuproviders', state: InformerState) => void;
}

/** What readers need of the hub view (and what tests of the HTTP layer provide). */
export interface HubReader {
  readonly synced: boolean;
  /** Informers not synced yet, with why, for /readyz. */
  notSynced(): string[];
  jobs(namespace?: string): readonly AIJob[];
  job(namespace: string, name: string): AIJob | undefined;
  providers(): readonly GPUProvider[];
  provider(name: string): GPUProvider | undefined;
}

export class HubView implements HubReader {
  readonly jobInformer: ResilientInformer<AIJob>;
  readonly providerInformer: ResilientInformer<GPUProvider>;
  readonly namespace: string | undefined;
  private readonly listeners = new Set<JobListener>();

  constructor(kc: KubeConfig, opts: HubViewOptions = {}) {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const ns = opts.namespace;
    this.namespace = ns;
    const jobs = { group: GROUP, version: VERSION, plural: AIJOB.plural };
    this.jobInformer = new ResilientInformer<AIJob>({
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${ns ? `namespaces/${ns}/` : ''}${AIJOB.plural}`,
      // Plain JSON: client-node's typed serializers would drop our CRDs' fields.
      list: () => (ns ? custom.listNamespacedCustomObject({ ...jobs, namespace: ns }) : custom.listClusterCustomObject(jobs)) as Promise<{ items: AIJob[] }>,
      onEvent: (type, job) => {
        for (const listener of this.listeners) {
          try {
            listener(type, job);
          } catch {
            /* a listener's failure is its own */
          }
        }
      },
      ...(opts.onState ? { onState: (s: InformerState) => opts.onState?.('aijobs', s) } : {}),
    });
    this.providerInformer = new ResilientInformer<GPUProvider>({
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${GPUPROVIDER.plural}`,
      list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural }) as Promise<{ items: GPUProvider[] }>,
      ...(opts.onState ? { onState: (s: InformerState) => opts.onState?.('gpuproviders', s) } : {}),
    });
  }

  onJob(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  start(): void {
    this.jobInformer.start();
    this.providerInformer.start();
  }

  stop(): void {
    this.jobInformer.stop();
    this.providerInformer.stop();
  }

  get synced(): boolean {
    return this.jobInformer.synced && this.providerInformer.synced;
  }

  notSynced(): string[] {
    const out: string[] = [];
    for (const [name, informer] of [
      ['aijobs', this.jobInformer],
      ['gpuproviders', this.providerInformer],
    ] as const) {
      if (informer.synced) continue;
      const { error, listed } = informer.current;
      out.push(`hub ${name} informer ${listed ? 'disconnected' : 'not listed yet'}${error !== undefined ? `: ${describe(error)}` : ''}`);
    }
    return out;
  }

  jobs(namespace?: string): readonly AIJob[] {
    return this.jobInformer.list(namespace);
  }

  job(namespace: string, name: string): AIJob | undefined {
    return this.jobInformer.get(name, namespace);
  }

  providers(): readonly GPUProvider[] {
    return this.providerInformer.list();
  }

  provider(name: string): GPUProvider | undefined {
    return this.providerInformer.get(name);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: number; message?: string; body?: unknown };
  if (typeof e?.code === 'number') {
    const body = typeof e.body === 'string' ? e.body : '';
    const m = /"message":"([^"]+)"/.exec(body);
    return `HTTP ${e.code}${m ? `: ${m[1]}` : ''}`;
  }
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
