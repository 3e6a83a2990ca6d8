// The hub's namespaces, cached by an informer, for their placement policy annotations
// (core/placement/namespace-policy.ts). The AIJob controller re-checks every job against its
// namespace's policy at placement, and the webhooks judge against it; both read this cache rather
// than GET the namespace each time (namespaces are few and change rarely).
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Namespace } from '@kubernetes/client-node';
import { parseNamespacePolicy } from '../core/placement/namespace-policy.ts';
import type { NamespacePolicy } from '../core/placement/namespace-policy.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { InformerState } from '../runtime/resilient-informer.ts';

export interface NamespaceCacheOptions {
  readonly onState?: (state: InformerState) => void;
  /** A namespace was added, changed or deleted (its jobs may now be placeable, or not). */
  readonly onChange?: (namespace: string) => void;
}

export class NamespaceCache {
  readonly informer: ResilientInformer<V1Namespace>;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, opts: NamespaceCacheOptions = {}) {
    const core = kc.makeApiClient(CoreV1Api);
    this.core = core;
    this.informer = new ResilientInformer<V1Namespace>({
      kubeConfig: kc,
      path: '/api/v1/namespaces',
      list: () => core.listNamespace() as Promise<{ items: V1Namespace[] }>,
      ...(opts.onChange ? { onEvent: (_type: unknown, ns: V1Namespace) => opts.onChange?.(ns.metadata?.name ?? '') } : {}),
      ...(opts.onState ? { onState: opts.onState } : {}),
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  get synced(): boolean {
    return this.informer.synced;
  }

  /** The namespace's annotations; undefined while not synced or when it does not exist. */
  annotations(name: string): Readonly<Record<string, string>> | undefined {
    if (!this.synced) return undefined;
    const ns = this.informer.get(name);
    return ns ? (ns.metadata?.annotations ?? {}) : undefined;
  }

  /** From the cache when it can say, else read from the hub (the webhook before the first sync). */
  async annotationsOrRead(name: string): Promise<Readonly<Record<string, string>>> {
    return this.annotations(name) ?? (await this.core.readNamespace({ name })).metadata?.annotations ?? {};
  }

  /** The namespace's policy; undefined while the cache cannot say (not synced, namespace unknown). */
  policy(name: string): NamespacePolicy | undefined {
    const annotations = this.annotations(name);
    return annotations ? parseNamespacePolicy(annotations) : undefined;
  }
}
