// One provider cluster, as Flotilla sees it: a rate-limited client built from the GPUProvider's
// kubeconfig Secret, an informer on its nodes (cluster-wide, read-only) and one on Flotilla's pods in
// spec.namespace (label flotilla.dev/job-uid), each restarted with backoff when it stops.
//
// A connection is immutable in what it dials: when the kubeconfig's content or spec.namespace
// changes, the controller builds a new one (see `connectionKey`) and stops this one. Spec fields
// that only users read (priorityClassName, ipfsGateway, ipfsApi) are updated in place.
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_PRIORITY_CLASS_NAME } from '../api/gpuprovider-schema.ts';
import { LABEL_JOB_UID } from '../api/group.ts';
import type { GPUProviderSpec } from '../api/types.ts';
import { NodeSnapshotMemo } from '../core/inventory.ts';
import type { MalformedObject } from '../core/inventory.ts';
import { recordMalformedObject } from '../telemetry/metrics.ts';
import type { NodeSnapshot } from '../core/placement/types.ts';
import type { ConnectionFacts } from './health.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { Backoff, InformerEventType, InformerState } from '../runtime/resilient-informer.ts';
import { ProviderKubeConfig } from './kubeconfig.ts';
import type { ProviderClient, ProviderEvent } from './types.ts';

/** What identifies a connection: rebuilt when the kubeconfig content or the namespace changes. */
export const connectionKey = (kubeconfigHash: string, namespace: string) => `${kubeconfigHash}/${namespace}`;

/** How often spec.namespace is looked up again while it is missing, and at the latest when present. */
const NAMESPACE_RECHECK_MISSING_MS = 30_000;
const NAMESPACE_RECHECK_PRESENT_MS = 10 * 60_000;

/**
 * The heartbeat: when nothing else has answered for `everyMs`, GET /version with a deadline of
 * `timeoutMs`. A silent partition (packets dropped, TCP connections left open) fails no request —
 * client-node's watch just times out and reconnects, forever, without an error — so without this
 * a partitioned provider looked reachable and its jobs never failed over (client-go answers the
 * same hazard with HTTP/2 pings). Its own small rate limit, so a dispatch burst queued on the
 * provider's bucket cannot delay the probe into a false alarm.
 */
export interface Heartbeat {
  readonly everyMs: number;
  readonly timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: Heartbeat = { everyMs: 5_000, timeoutMs: 5_000 };
const HEARTBEAT_RATE_LIMIT = { qps: 1, burst: 2 };

/**
 * How much of a provider's collections the operator reads: list pages of `pageSize` objects, at most
 * `maxObjects` per collection (nodes; Flotilla's pods). Response sizes are ProviderKubeConfig's.
 */
export interface InputLimits {
  readonly pageSize: number;
  readonly maxObjects: number;
}

/** 500 per page as client-go's pager; 20,000 objects: four times Kubernetes' 5,000-node ceiling. */
export const DEFAULT_INPUT_LIMITS: InputLimits = { pageSize: 500, maxObjects: 20_000 };

/** What was left out of a provider's inventory as unreadable. */
export interface MalformedInput {
  /** Nodes and pods in the caches that nodeSnapshots skipped. */
  readonly objects: readonly MalformedObject[];
  /** Objects without a usable name, dropped before the caches since the connection was built. */
  readonly nameless: number;
}

export interface ProviderConnectionOptions {
  readonly name: string;
  readonly spec: GPUProviderSpec;
  readonly kubeConfig: ProviderKubeConfig;
  /** connectionKey(kubeconfigHash, spec.namespace). */
  readonly key: string;
  readonly backoff?: Backoff;
  readonly now?: () => number;
  /** Pod and node changes, and `provider` when the connection's health changed. */
  readonly onEvent: (event: ProviderEvent) => void;
  readonly heartbeat?: Heartbeat;
  readonly inputLimits?: InputLimits;
}

/** Object versions counted in the malformed-objects metric, kept at most this many. */
const MALFORMED_SEEN_MAX = 10_000;

export class ProviderConnection implements ProviderClient {
  readonly name: string;
  readonly namespace: string;
  readonly key: string;
  readonly kubeConfig: ProviderKubeConfig;
  readonly core: CoreV1Api;
  private spec: GPUProviderSpec;
  private readonly nodeInformer: ResilientInformer<V1Node>;
  private readonly podInformer: ResilientInformer<V1Pod>;
  private readonly now: () => number;
  private readonly onEvent: (event: ProviderEvent) => void;
  private namespaceMissing: boolean | undefined;
  private namespaceCheckedAt: number | undefined;
  private namespaceSeen: number | undefined;
  /** Bumped on every node or pod change: the node snapshots are recomputed only when it moved. */
  private version = 0;
  private snapshotCache: { version: number; nodes: NodeSnapshot[]; malformed: MalformedObject[] } | undefined;
  /** Re-reads only the nodes (and pods) that changed since the last recompute. */
  private readonly snapshotMemo = new NodeSnapshotMemo();
  private nameless = 0;
  /** kind/name/resourceVersion of malformed objects already counted in the metric. */
  private readonly malformedSeen = new Set<string>();
  private stopped = false;
  private readonly heartbeat: Heartbeat;
  private readonly probe: VersionApi;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private probeSeen: number | undefined;
  /** The last probe got no answer at all (timeout, connection refused or reset): the provider is silent. */
  private silence: { readonly since: number; readonly error: unknown } | undefined;

  constructor(opts: ProviderConnectionOptions) {
    this.name = opts.name;
    this.spec = opts.spec;
    this.namespace = opts.spec.namespace;
    this.key = opts.key;
    this.kubeConfig = opts.kubeConfig;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.now = opts.now ?? Date.now;
    this.onEvent = opts.onEvent;
    this.heartbeat = opts.heartbeat ?? DEFAULT_HEARTBEAT;
    const probeConfig = new ProviderKubeConfig({
      rateLimit: HEARTBEAT_RATE_LIMIT,
      requestTimeoutMs: this.heartbeat.timeoutMs,
      responseLimits: opts.kubeConfig.responseLimits,
      addressPolicy: opts.kubeConfig.addressPolicy,
    });
    probeConfig.loadFromOptions({
      clusters: opts.kubeConfig.clusters,
      users: opts.kubeConfig.users,
      contexts: opts.kubeConfig.contexts,
      currentContext: opts.kubeConfig.currentContext,
    });
    probeConfig.clusterName = opts.name;
    this.probe = probeConfig.makeApiClient(VersionApi);
    const stateChanged = (_: InformerState) => {
      if (!this.stopped) this.onEvent({ kind: 'provider', provider: this.name });
    };
    const limits = opts.inputLimits ?? DEFAULT_INPUT_LIMITS;
    const bounded = {
      pageSize: limits.pageSize,
      maxObjects: limits.maxObjects,
      onMalformed: (_obj: unknown, _problem: string) => {
        this.nameless += 1;
        recordMalformedObject(this.name, 'unnamed');
      },
    };
    this.nodeInformer = new ResilientInformer<V1Node>({
      kubeConfig: this.kubeConfig,
      path: '/api/v1/nodes',
      list: (page) =>
        this.core.listNode({ ...(page.limit !== undefined ? { limit: page.limit } : {}), ...(page.continue ? { _continue: page.continue } : {}) }),
      ...bounded,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      now: this.now,
      // The image list a kubelet reports (tens of KB per node): placement never reads it.
      trim: (node) => {
        if (node.status) delete node.status.images;
      },
      onEvent: (type: InformerEventType, node: V1Node) => {
        this.version += 1;
        this.onEvent({ kind: 'node', provider: this.name, type, node });
      },
      onState: stateChanged,
    });
    this.podInformer = new ResilientInformer<V1Pod>({
      kubeConfig: this.kubeConfig,
      path: `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
      list: (page) =>
        this.core.listNamespacedPod({
          namespace: this.namespace,
          labelSelector: LABEL_JOB_UID,
          ...(page.limit !== undefined ? { limit: page.limit } : {}),
          ...(page.continue ? { _continue: page.continue } : {}),
        }),
      ...bounded,
      labelSelector: LABEL_JOB_UID,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      now: this.now,
      onEvent: (type: InformerEventType, pod: V1Pod) => {
        this.version += 1;
        this.onEvent({ kind: 'pod', provider: this.name, type, pod });
      },
      onState: stateChanged,
    });
  }

  start(): void {
    this.nodeInformer.start();
    this.podInformer.start();
    this.scheduleHeartbeat();
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.nodeInformer.stop();
    this.podInformer.stop();
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.beat().finally(() => this.scheduleHeartbeat()), this.heartbeat.everyMs);
    this.heartbeatTimer.unref();
  }

  /** One heartbeat: skipped while the informers heard from the server recently. */
  private async beat(): Promise<void> {
    const seen = this.lastSeen();
    if (!this.silence && seen !== undefined && this.now() - seen < this.heartbeat.everyMs) return;
    try {
      await this.probe.getCode();
      this.answeredProbe();
    } catch (err) {
      // An HTTP status is an answer (401, 500, …): the informers report what is wrong with it.
      if (hasHttpStatus(err)) this.answeredProbe();
      else if (!this.stopped && !this.silence) {
        this.silence = { since: this.now(), error: err };
        this.onEvent({ kind: 'provider', provider: this.name });
      }
    }
  }

  private answeredProbe(): void {
    if (this.stopped) return;
    this.probeSeen = this.now();
    if (!this.silence) return;
    this.silence = undefined;
    // A watch whose connection died in the silence reconnects by itself within client-node's
    // 30 s inactivity timeout; restarting a ListWatch by hand races its own done handler.
    this.onEvent({ kind: 'provider', provider: this.name });
  }

  // ── ProviderClient ───────────────────────────────────────────────────────────────────────────

  get priorityClassName(): string {
    return this.spec.priorityClassName ?? DEFAULT_PRIORITY_CLASS_NAME;
  }

  get ipfsGateway(): string | undefined {
    return this.spec.ipfsGateway;
  }

  get ipfsApi(): string | undefined {
    return this.spec.ipfsApi;
  }

  get ipfsApiAuthSecret(): string | undefined {
    return this.spec.ipfsApiAuthSecret;
  }

  get synced(): boolean {
    return this.nodeInformer.synced && this.podInformer.synced && !this.silence;
  }

  jobPods(jobUid: string): V1Pod[] {
    return this.podInformer.list(this.namespace).filter((p) => p.metadata?.labels?.[LABEL_JOB_UID] === jobUid);
  }

  node(name: string): V1Node | undefined {
    return this.nodeInformer.get(name);
  }

  get requests(): ReadonlyMap<string, number> {
    return this.kubeConfig.requests;
  }

  // ── for the controller and the registry ──────────────────────────────────────────────────────

  /** Spec fields read live (priorityClassName, ipfsGateway, ipfsApi); namespace changes rebuild instead. */
  updateSpec(spec: GPUProviderSpec): void {
    this.spec = spec;
  }

  nodes(): readonly V1Node[] {
    return this.nodeInformer.list();
  }

  /** Flotilla's pods in the namespace (all jobs). */
  pods(): readonly V1Pod[] {
    return this.podInformer.list(this.namespace);
  }

  /** Node snapshots from the caches; recomputed only after a node or pod changed. Malformed objects are left out. */
  nodeSnapshots(): readonly NodeSnapshot[] {
    return this.checked().nodes;
  }

  /** What was left out as unreadable (see InventoryValid). */
  malformed(): MalformedInput {
    return { objects: this.checked().malformed, nameless: this.nameless };
  }

  private checked(): { nodes: NodeSnapshot[]; malformed: MalformedObject[] } {
    if (this.snapshotCache?.version !== this.version) {
      const { nodes, malformed } = this.snapshotMemo.check(this.nodes(), this.pods());
      this.snapshotCache = { version: this.version, nodes, malformed };
      this.countMalformed(malformed);
    }
    return this.snapshotCache;
  }

  /** Each malformed object version once in the metric, however often the snapshots are recomputed. */
  private countMalformed(malformed: readonly MalformedObject[]): void {
    for (const m of malformed) {
      const obj = m.kind === 'node' ? this.nodeInformer.get(m.name) : this.podInformer.get(m.name, this.namespace);
      const key = `${m.kind}/${m.name}/${String(obj?.metadata?.resourceVersion ?? '')}`;
      if (this.malformedSeen.has(key)) continue;
      if (this.malformedSeen.size >= MALFORMED_SEEN_MAX) this.malformedSeen.clear();
      this.malformedSeen.add(key);
      recordMalformedObject(this.name, m.kind);
    }
  }

  /** Epoch ms of the provider API server's latest answer to any request of this connection. */
  lastSeen(): number | undefined {
    const seen = [this.nodeInformer.current.lastSeen, this.podInformer.current.lastSeen, this.namespaceSeen, this.probeSeen].filter(
      (t): t is number => t !== undefined,
    );
    return seen.length > 0 ? Math.max(...seen) : undefined;
  }

  facts(): ConnectionFacts {
    const nodes = this.nodeInformer.current;
    const pods = this.podInformer.current;
    const lastError =
      nodes.error !== undefined
        ? { error: nodes.error, action: 'listing and watching nodes' }
        : pods.error !== undefined
          ? { error: pods.error, action: `listing and watching pods in namespace ${this.namespace}` }
          : this.silence
            ? { error: this.silence.error, action: 'probing it (GET /version)' }
            : undefined;
    return {
      server: this.kubeConfig.server,
      ...(lastError ? { lastError } : {}),
      synced: this.synced,
      answered: this.lastSeen() !== undefined,
      ...(this.namespaceMissing !== undefined ? { namespaceMissing: this.namespaceMissing } : {}),
    };
  }

  /** Restarts of either informer after errors (for metrics and tests). */
  get restarts(): number {
    return this.nodeInformer.current.restarts + this.podInformer.current.restarts;
  }

  namespaceCheckDue(now: number): boolean {
    if (!this.synced) return false;
    if (this.namespaceCheckedAt === undefined) return true;
    const every = this.namespaceMissing ? NAMESPACE_RECHECK_MISSING_MS : NAMESPACE_RECHECK_PRESENT_MS;
    return now - this.namespaceCheckedAt >= every;
  }

  /**
   * Looks spec.namespace up. A least-privilege credential may not read namespaces (403): then the
   * namespace counts as present, and pods created there fail loudly if it is not.
   */
  async checkNamespace(now: number): Promise<void> {
    this.namespaceCheckedAt = now;
    const before = this.namespaceMissing;
    try {
      await this.core.readNamespace({ name: this.namespace });
      this.namespaceMissing = false;
      this.namespaceSeen = this.now();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404) {
        this.namespaceMissing = true;
        this.namespaceSeen = this.now();
      } else if (code === 403) {
        this.namespaceMissing = undefined;
      }
      // Anything else (a blip) keeps the last answer; the informers report the connection's health.
    }
    if (before !== this.namespaceMissing && !this.stopped) this.onEvent({ kind: 'provider', provider: this.name });
  }
}

function hasHttpStatus(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown };
  const status = typeof e.code === 'number' ? e.code : e.statusCode;
  return typeof status === 'number' && status >= 100;
}
