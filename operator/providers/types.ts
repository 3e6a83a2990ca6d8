// The contract between the provider connections (operator/providers, the GPUProvider controller)
// and their users (the AIJob reconciler, metrics). One ProviderClient per GPUProvider: a
// rate-limited client of the provider's apiserver plus informer caches of its nodes and of the pods
// in Flotilla's namespace there.
import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import type { ProviderSnapshot } from '../core/placement/types.ts';

export interface ProviderClient {
  /** GPUProvider name. */
  readonly name: string;
  /** GPUProvider spec.namespace: where Flotilla creates its pods in that cluster. */
  readonly namespace: string;
  /** GPUProvider spec.priorityClassName: the provider's low class for lent work. */
  readonly priorityClassName: string;
  /** GPUProvider spec.ipfsGateway, when set. */
  readonly ipfsGateway?: string | undefined;
  /** GPUProvider spec.ipfsApi, when set: where the job agent adds checkpoints and outputs. */
  readonly ipfsApi?: string | undefined;
  /** GPUProvider spec.ipfsApiAuthSecret, when set: the provider-side Secret with the agent's Authorization header. */
  readonly ipfsApiAuthSecret?: string | undefined;
  /** Rate-limited typed client of the provider's apiserver (every request takes a token). */
  readonly core: CoreV1Api;
  /** Both informers (nodes; pods in `namespace`) have listed at least once since (re)connecting. */
  readonly synced: boolean;
  /** Pods labelled flotilla.dev/job-uid=<uid> in `namespace`, from the cache. */
  jobPods(jobUid: string): V1Pod[];
  /** Every Flotilla pod in `namespace`, from the cache (all jobs). */
  pods(): readonly V1Pod[];
  /** A node from the cache. */
  node(name: string): V1Node | undefined;
  /** Epoch ms the provider's API server last answered any request of this connection. */
  lastSeen(): number | undefined;
  /** Requests sent to this provider so far, by HTTP method. */
  readonly requests: ReadonlyMap<string, number>;
}

export type ProviderEvent =
  | { readonly kind: 'pod'; readonly provider: string; readonly type: 'add' | 'update' | 'delete'; readonly pod: V1Pod }
  | { readonly kind: 'node'; readonly provider: string; readonly type: 'add' | 'update' | 'delete'; readonly node: V1Node }
  /** The connection was (re)built, lost, or its readiness changed. */
  | { readonly kind: 'provider'; readonly provider: string };

export interface ProviderRegistry {
  /** The client of a provider whose connection is established; undefined otherwise. */
  get(name: string): ProviderClient | undefined;
  /**
   * Every known GPUProvider as placement input, not-ready ones included (with their reason), so the
   * Unschedulable message can name them. Prices are converted to base units with `priceDecimals`.
   */
  snapshots(priceDecimals: number): ProviderSnapshot[];
  /** One provider's snapshot (as in snapshots()); undefined when no such GPUProvider is known. */
  snapshot(name: string, priceDecimals: number): ProviderSnapshot | undefined;
  /** Listener for pod, node and connection changes of every provider; returns an unsubscribe. */
  subscribe(listener: (event: ProviderEvent) => void): () => void;
}
