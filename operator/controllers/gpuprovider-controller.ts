// The GPUProvider controller (hub side): keeps one provider connection per GPUProvider and writes
// what it sees into the GPUProvider's status. Gather → decide → apply, one provider at a time:
//
//   GPUProvider informer ─┐                    ┌─ Secret (cache, or a direct read) → kubeconfig
//   Secret informers ─────┼─▶ WorkQueue ─▶ reconcile(name) ─ connection: keep, or rebuild on a new
//   provider events ──────┤   (per name)       │   kubeconfig hash / namespace; stop when deleted
//   resync (30 s) ────────┘                    ├─ facts → Reachable, Ready (providers/health.ts)
//                                              └─ planStatus → merge patch of /status, if changed
//
// Wiring (operator/main.ts, once leading):
//
//   const providers = startProviderConnections({ hub, rateLimit: { qps: 20, burst: 40 }, log });
//   const jobs = new AIJobController({ hub, registry: providers.registry, … });
//   … on shutdown: providers.stop();
//
// `registry` is the ProviderRegistry (operator/providers/types.ts) the AIJob reconciler reads:
// get(name) for a provider's client and caches, snapshots(decimals) for placement, subscribe() for
// pod, node and readiness changes. Failures never escape: a provider's broken Secret, kubeconfig,
// CA, credential or network is a condition on that GPUProvider; a hub error is retried with backoff.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { GPUProvider, GPUProviderStatus } from '../api/types.ts';
import { gpuInventory } from '../core/inventory.ts';
import { connectionKey, ProviderConnection } from '../providers/connection.ts';
import type { Heartbeat, InputLimits } from '../providers/connection.ts';
import type { ResponseLimits } from '../providers/bounded-response.ts';
import { inventoryValidVerdict, ProviderConfigError, readyVerdict, reachableVerdict } from '../providers/health.ts';
import type { KubeconfigPolicy } from '../providers/kubeconfig-policy.ts';
import { ResilientInformer } from '../runtime/resilient-informer.ts';
import type { Backoff } from '../runtime/resilient-informer.ts';
import { kubeconfigFromSecret, kubeconfigHash, loadProviderKubeConfig, resolveProviderServer, secretRefText } from '../providers/kubeconfig.ts';
import type { AddressLookup, SecretRef } from '../providers/kubeconfig.ts';
import { createProviderRegistry } from '../providers/registry.ts';
import type { FederatedProviderRegistry } from '../providers/registry.ts';
import type { RateLimit } from '../runtime/token-bucket.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { planStatus } from './gpuprovider-status.ts';
import { fencedVerdict } from '../core/fence.ts';
import type { FenceReport } from '../core/fence.ts';

export type ControllerLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Client-side rate limit of each provider client unless the operator says otherwise. */
export const DEFAULT_PROVIDER_RATE_LIMIT: RateLimit = { qps: 20, burst: 40 };

export interface ProviderConnectionsOptions {
  /** Client of the hub: GPUProviders, their status, kubeconfig Secrets. */
  readonly hub: KubeConfig;
  /** Shared with the readers; created when absent. */
  readonly registry?: FederatedProviderRegistry;
  /** Per provider client (QPS, burst). Default DEFAULT_PROVIDER_RATE_LIMIT. */
  readonly rateLimit?: RateLimit;
  /** Deadline of a provider request other than a watch. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /** The heartbeat of quiet providers (providers/connection.ts). Default DEFAULT_HEARTBEAT. */
  readonly heartbeat?: Heartbeat;
  /** Every provider is reconciled at least this often. Default 30 s. */
  readonly resyncMs?: number;
  /** This leader's fence at a provider, once settled (providers/fence.ts): the Fenced condition. */
  readonly fence?: (provider: string) => FenceReport | undefined;
  /** status.lastSeen alone is written at most this often. Default 30 s. */
  readonly lastSeenRefreshMs?: number;
  /** Node and pod changes are folded into one reconcile per provider per this window. Default 1 s. */
  readonly eventDebounceMs?: number;
  /** Restart backoff of every informer (provider and hub). Default 0.5 s doubling to 30 s. */
  readonly informerBackoff?: Backoff;
  readonly workers?: number;
  /**
   * What a provider kubeconfig may say (providers/kubeconfig-policy.ts). Default: strict — https
   * only, no skip-verify, no loopback; local development passes allowInsecure.
   */
  readonly kubeconfigPolicy?: KubeconfigPolicy;
  /** Size limits of provider responses and watch events. Default DEFAULT_RESPONSE_LIMITS. */
  readonly responseLimits?: ResponseLimits;
  /** List page size and most objects per collection. Default DEFAULT_INPUT_LIMITS. */
  readonly inputLimits?: InputLimits;
  /** Reconcile only the GPUProviders with these labels (a label selector); default all of them. */
  readonly providerLabelSelector?: string;
  /** Resolves a provider server's host name (tests); default the system resolver. */
  readonly lookup?: AddressLookup;
  readonly log?: ControllerLog;
  /** Epoch milliseconds (status timestamps). */
  readonly clock?: { now(): number };
}

export interface ProviderConnections {
  readonly registry: FederatedProviderRegistry;
  /** The GPUProvider informer has listed once (every provider known to the registry has been seen). */
  readonly synced: boolean;
  /**
   * GPUProviders whose cluster caches have not listed yet (not connected, or connected and still
   * listing). Empty once every known provider is in view — what placement should wait for after a
   * start, so the first placements are not made on a partial federation.
   */
  notCaughtUp(): string[];
  /** Status patches sent so far, in all or for one provider (a quiet provider gets none). */
  statusPatches(provider?: string): number;
  /** Looks at a provider again now (e.g. its fence settled). */
  refresh(provider: string): void;
  stop(): void;
}

type GPUProviderObject = GPUProvider & { metadata: { name: string } };

const DEFAULTS = { requestTimeoutMs: 15_000, resyncMs: 30_000, lastSeenRefreshMs: 30_000, eventDebounceMs: 1_000, workers: 4 };

class GpuProviderController implements ProviderConnections {
  readonly registry: FederatedProviderRegistry;
  private readonly patches = new Map<string, number>();
  private readonly opts: ProviderConnectionsOptions & typeof DEFAULTS;
  private readonly log: ControllerLog;
  private readonly now: () => number;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly queue: WorkQueue;
  private readonly providers: ResilientInformer<GPUProviderObject>;
  private readonly secretInformers = new Map<string, ResilientInformer<V1Secret>>();
  /** Namespaces whose Secrets we may get by name but not list/watch: read directly on each reconcile. */
  private readonly directSecretNamespaces = new Set<string>();
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  /** Status as last written by us, with its resourceVersion, until the informer cache catches up. */
  private readonly written = new Map<string, { resourceVersion: string; status: GPUProviderStatus }>();
  private stopped = false;

  constructor(opts: ProviderConnectionsOptions) {
    this.opts = { ...DEFAULTS, ...opts };
    this.registry = opts.registry ?? createProviderRegistry();
    this.log = opts.log ?? (() => undefined);
    this.now = opts.clock ? () => (opts.clock as { now(): number }).now() : Date.now;
    this.core = opts.hub.makeApiClient(CoreV1Api);
    this.custom = opts.hub.makeApiClient(CustomObjectsApi);
    this.queue = new WorkQueue({
      workers: this.opts.workers,
      onError: (key, err, retryInMs) => this.log('warn', 'GPUProvider reconcile failed; retrying', { provider: key, error: describe(err), retryInMs }),
    });
    const backoff = opts.informerBackoff ? { backoff: opts.informerBackoff } : {};
    this.providers = new ResilientInformer<GPUProviderObject>({
      kubeConfig: opts.hub,
      path: `/apis/${GROUP}/${VERSION}/${GPUPROVIDER.plural}`,
      // Plain JSON all the way: client-node's typed serializers drop the fields of our CRDs.
      list: () =>
        this.custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: GPUPROVIDER.plural,
          ...(opts.providerLabelSelector ? { labelSelector: opts.providerLabelSelector } : {}),
        }) as Promise<{ items: GPUProviderObject[] }>,
      ...(opts.providerLabelSelector ? { labelSelector: opts.providerLabelSelector } : {}),
      ...backoff,
      onEvent: (_type, gp) => {
        this.syncSecretInformers();
        this.queue.add(gp.metadata.name);
      },
      onState: (state) => {
        if (state.error !== undefined) this.log('warn', 'GPUProvider watch failed; restarting with backoff', { error: describe(state.error) });
      },
    });
  }

  get synced(): boolean {
    return this.providers.current.listed;
  }

  notCaughtUp(): string[] {
    return this.providers
      .list()
      .map((gp) => gp.metadata.name)
      .filter((name) => !this.registry.get(name)?.synced)
      .sort();
  }

  statusPatches(provider?: string): number {
    if (provider !== undefined) return this.patches.get(provider) ?? 0;
    let n = 0;
    for (const v of this.patches.values()) n += v;
    return n;
  }

  refresh(provider: string): void {
    if (!this.stopped) this.queue.add(provider);
  }

  start(): void {
    this.queue.start((name) => this.reconcile(name));
    this.providers.start();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.shutdown();
    for (const t of this.debounce.values()) clearTimeout(t);
    this.debounce.clear();
    this.providers.stop();
    for (const informer of this.secretInformers.values()) informer.stop();
    this.secretInformers.clear();
    this.registry.stopAll();
  }

  // ── watches ──────────────────────────────────────────────────────────────────────────────────

  /** One Secret informer per namespace that some GPUProvider's kubeconfigSecretRef names. */
  private syncSecretInformers(): void {
    if (this.stopped) return;
    const wanted = new Set(
      this.providers
        .list()
        .map((gp) => gp.spec?.kubeconfigSecretRef?.namespace)
        .filter((ns): ns is string => !!ns),
    );
    for (const [ns, informer] of this.secretInformers) {
      if (!wanted.has(ns)) {
        informer.stop();
        this.secretInformers.delete(ns);
      }
    }
    for (const ns of wanted) {
      if (this.secretInformers.has(ns) || this.directSecretNamespaces.has(ns)) continue;
      const informer = new ResilientInformer<V1Secret>({
        kubeConfig: this.opts.hub,
        path: `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`,
        list: () => this.core.listNamespacedSecret({ namespace: ns }),
        ...(this.opts.informerBackoff ? { backoff: this.opts.informerBackoff } : {}),
        onEvent: (_type, secret) => this.secretChanged(ns, secret.metadata?.name ?? ''),
        onState: (state) => {
          if (state.error === undefined) return;
          if (httpStatusOf(state.error) === 403) {
            // Least-privilege RBAC (get on named Secrets only, as charts/flotilla grants): no watch,
            // read each Secret at every reconcile instead; changes show within resyncMs.
            informer.stop();
            this.secretInformers.delete(ns);
            this.directSecretNamespaces.add(ns);
            this.log('info', 'may not list/watch Secrets; reading kubeconfig Secrets by name at each reconcile', {
              namespace: ns,
              resyncMs: this.opts.resyncMs,
            });
            return;
          }
          this.log('warn', 'Secret watch failed; reading Secrets directly meanwhile', { namespace: ns, error: describe(state.error) });
        },
      });
      this.secretInformers.set(ns, informer);
      informer.start();
    }
  }

  private secretChanged(namespace: string, name: string): void {
    for (const gp of this.providers.list()) {
      const ref = gp.spec?.kubeconfigSecretRef;
      if (ref?.namespace === namespace && ref.name === name) this.queue.add(gp.metadata.name);
    }
  }

  private providerEvent(name: string, kind: 'pod' | 'node' | 'provider'): void {
    if (this.stopped) return;
    if (kind === 'provider') {
      this.queue.add(name);
      return;
    }
    // Node heartbeats and pod updates come in bursts: one inventory pass per window is enough.
    if (this.debounce.has(name)) return;
    this.debounce.set(
      name,
      setTimeout(() => {
        this.debounce.delete(name);
        this.queue.add(name);
      }, this.opts.eventDebounceMs),
    );
  }

  // ── reconcile ────────────────────────────────────────────────────────────────────────────────

  private async readSecret(ref: SecretRef): Promise<V1Secret | undefined> {
    const informer = this.secretInformers.get(ref.namespace);
    if (informer?.synced) return informer.get(ref.name, ref.namespace);
    try {
      return await this.core.readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  private async reconcile(name: string): Promise<{ requeueAfterMs: number } | void> {
    if (this.stopped) return;
    const gp = this.providers.get(name);
    if (!gp) {
      if (this.registry.entry(name)) this.log('info', 'GPUProvider deleted; connection stopped', { provider: name });
      this.registry.remove(name);
      this.written.delete(name);
      return;
    }
    const kubeconfig = await this.kubeconfigOf(gp);
    // stop() may have run while the Secret was read: build nothing after it.
    if (this.stopped) return;
    await this.connect(gp, kubeconfig);
    if (this.stopped) return;
    const connection = this.registry.entry(name)?.connection;
    const now = this.now();
    if (connection?.namespaceCheckDue(now)) await connection.checkNamespace(now);

    const facts = this.registry.facts(name);
    if (!facts || this.stopped) return;
    const reachable = reachableVerdict(facts);
    const ready = readyVerdict(facts, reachable);
    const lastSeen = connection?.lastSeen();
    const fence = this.opts.fence?.(name);
    const plan = planStatus(
      this.currentStatus(gp),
      {
        ...(gp.metadata.generation !== undefined ? { generation: gp.metadata.generation } : {}),
        reachable,
        ready,
        ...(connection?.synced ? { inventoryValid: ((m) => inventoryValidVerdict(m.objects, m.nameless))(connection.malformed()) } : {}),
        ...(connection?.synced ? { inventory: gpuInventory(connection.nodeSnapshots()) } : {}),
        ...(lastSeen !== undefined ? { lastSeen } : {}),
        ...(fence ? { fenced: fencedVerdict(fence) } : {}),
      },
      now,
      this.opts.lastSeenRefreshMs,
    );
    for (const t of plan.transitions) {
      this.log(t.to === 'True' || t.from === undefined ? 'info' : 'warn', `GPUProvider ${t.type}=${t.to}`, {
        provider: name,
        reason: t.reason,
        message: t.message,
      });
    }
    if (plan.status) await this.patchStatus(name, plan.status);
    return { requeueAfterMs: this.opts.resyncMs };
  }

  /** The kubeconfig text, or why there is none. Hub errors other than 404 throw (retried). */
  private async kubeconfigOf(gp: GPUProviderObject): Promise<string | ProviderConfigError> {
    const ref = gp.spec.kubeconfigSecretRef;
    try {
      return kubeconfigFromSecret(await this.readSecret(ref), ref);
    } catch (err) {
      if (err instanceof ProviderConfigError) return err;
      throw err;
    }
  }

  /** Keeps, builds or drops the provider's connection for this kubeconfig and spec. */
  private async connect(gp: GPUProviderObject, kubeconfig: string | ProviderConfigError): Promise<void> {
    const name = gp.metadata.name;
    const existing = this.registry.entry(name)?.connection;
    if (kubeconfig instanceof ProviderConfigError) {
      if (existing) this.log('warn', 'provider kubeconfig unusable; connection stopped', { provider: name, reason: kubeconfig.reason });
      this.registry.set({ provider: gp, configError: kubeconfig });
      return;
    }
    const key = connectionKey(kubeconfigHash(kubeconfig), gp.spec.namespace);
    if (existing && existing.key === key) {
      existing.updateSpec(gp.spec);
      this.registry.set({ provider: gp, connection: existing });
      return;
    }
    const ref = gp.spec.kubeconfigSecretRef;
    const source = `Secret ${secretRefText(ref)} (key "${ref.key ?? 'kubeconfig'}")`;
    let kubeConfig;
    try {
      kubeConfig = loadProviderKubeConfig(kubeconfig, source, {
        rateLimit: this.opts.rateLimit ?? DEFAULT_PROVIDER_RATE_LIMIT,
        requestTimeoutMs: this.opts.requestTimeoutMs,
        ...(this.opts.kubeconfigPolicy ? { policy: this.opts.kubeconfigPolicy } : {}),
        ...(this.opts.responseLimits ? { responseLimits: this.opts.responseLimits } : {}),
      });
      // A host name is judged by what it resolves to (a name for 127.0.0.1 is loopback).
      await resolveProviderServer(kubeConfig, source, this.opts.kubeconfigPolicy, this.opts.lookup);
    } catch (err) {
      if (!(err instanceof ProviderConfigError)) throw err;
      if (existing) this.log('warn', 'provider kubeconfig refused; connection stopped', { provider: name, reason: err.reason });
      this.registry.set({ provider: gp, configError: err });
      return;
    }
    if (this.stopped) return;
    const connection = new ProviderConnection({
      name,
      spec: gp.spec,
      kubeConfig,
      key,
      ...(this.opts.informerBackoff ? { backoff: this.opts.informerBackoff } : {}),
      ...(this.opts.heartbeat ? { heartbeat: this.opts.heartbeat } : {}),
      ...(this.opts.inputLimits ? { inputLimits: this.opts.inputLimits } : {}),
      onEvent: (event) => {
        // A stale connection's late events are dropped: only the registered one speaks.
        if (this.registry.entry(name)?.connection !== connection) return;
        this.registry.emit(event);
        this.providerEvent(name, event.kind);
      },
    });
    this.log('info', existing ? 'provider kubeconfig or namespace changed; reconnecting' : 'connecting to provider', {
      provider: name,
      server: kubeConfig.server,
      namespace: gp.spec.namespace,
      rateLimit: kubeConfig.bucket.limit,
    });
    this.registry.set({ provider: gp, connection });
    connection.start();
  }

  private currentStatus(gp: GPUProviderObject): GPUProviderStatus | undefined {
    const mine = this.written.get(gp.metadata.name);
    if (!mine) return gp.status;
    // resourceVersions are etcd revisions; when the cache holds an older object, our write is newer.
    const cached = Number(gp.metadata.resourceVersion);
    const written = Number(mine.resourceVersion);
    if (Number.isFinite(cached) && Number.isFinite(written) && cached < written) return mine.status;
    this.written.delete(gp.metadata.name);
    return gp.status;
  }

  private async patchStatus(name: string, status: Partial<GPUProviderStatus>): Promise<void> {
    try {
      const updated = (await this.custom.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as GPUProvider;
      this.patches.set(name, (this.patches.get(name) ?? 0) + 1);
      if (updated?.metadata?.resourceVersion && updated.status) {
        this.written.set(name, { resourceVersion: updated.metadata.resourceVersion, status: updated.status });
      }
    } catch (err) {
      // Deleted meanwhile: the delete event reconciles it away.
      if ((err as { code?: unknown }).code === 404) return;
      throw err;
    }
  }
}

function httpStatusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  const v = typeof e?.code === 'number' ? e.code : e?.statusCode;
  return typeof v === 'number' ? v : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return String(err);
}

/**
 * Starts the GPUProvider controller against the hub and returns the registry it maintains. Call
 * once per leadership term; stop() stops every informer and provider connection.
 */
export function startProviderConnections(opts: ProviderConnectionsOptions): ProviderConnections {
  const controller = new GpuProviderController(opts);
  controller.start();
  return controller;
}
