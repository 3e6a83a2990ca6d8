// End-to-end dispatch on the local federation (issue 9, items 2 and 5). A script that prints
// numbers, not a test. Needs a running federation (make federation-up).
//
//   node bench/dispatch.ts [--jobs 500] [--nodes 50] [--gpus-per-node 4] [--json out.json]
//                          [--hub-qps-variants 200] [--operator-env 'MALLOC_ARENA_MAX=2 …'] [--skip-baseline]
//                          [--operator-cpu-prof DIR]  (the operator writes a V8 .cpuprofile there when it stops)
//
// In one run, on a private corner (own GPU product, own KWOK nodes in provider-a/b/c, own
// GPUProviders and namespaces — see test/support/corner.ts):
//
//   1. baseline  the same number of equivalent pods (what Flotilla would create: buildPod()) sent
//                straight to the provider clusters by a plain client loop, round-robin, through
//                one RateLimitedKubeConfig per cluster at the operator's provider QPS/burst;
//                deleted again before step 2.
//   2. flotilla  the real operator (a separate process, scoped to the corner's hub namespace) and
//                N single-GPU AIJobs applied at once by a user client; per job apply → pod bound.
//   Both are observed the same way: a watch on each provider's lent namespace notes when a pod
//   first shows spec.nodeName. Ratio = Flotilla jobs/s ÷ raw pods/s.
//   3. API requests per job by cluster and verb from the operator's own /metrics
//      (flotilla_kube_api_requests_total, counted by every rate-limited client), before → after.
//   4. footprint of the operator process from /proc (RSS, CPU) during dispatch and at rest with
//      the N jobs running.
//   Then everything is deleted: jobs (the operator removes their pods and finalizers), the
//   operator, the GPUProviders, nodes and namespaces.
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { join } from 'node:path';
import { freePorts } from '../federation/daemon.ts';
import { registerWebhooks, renderChartWebhooks, unregisterWebhooks } from '../federation/operator-webhooks.ts';
import { GROUP, VERSION } from '../operator/api/group.ts';
import type { AIJob, AIJobManifest } from '../operator/api/types.ts';
import { buildPod, ANNOTATION_JOB_NAME } from '../operator/controllers/aijob/pod-template.ts';
import { loadConfig } from '../operator/config.ts';
import { OPERATOR_NODE_OPTIONS } from '../operator/runtime/node-options.ts';
import { RateLimitedKubeConfig } from '../operator/runtime/rate-limited-kubeconfig.ts';
import type { RateLimit } from '../operator/runtime/token-bucket.ts';
import { aijobManifest } from '../test/support/aijob.ts';
import { openCorner, removeCorner } from '../test/support/corner.ts';
import type { OpenCorner as Corner } from '../test/support/corner.ts';
import { clusterClients, pollUntil } from '../test/support/federation.ts';
import { startOperator } from '../test/support/operator.ts';
import type { OperatorProcess } from '../test/support/operator.ts';
import { inParallel } from '../test/support/parallel.ts';
import { CPU_GROUPS, cpuBetween, cpuBound, perJob as cpuPerJob, snapshotCpu } from './lib/machine-cpu.ts';
import type { CpuPerJob } from './lib/machine-cpu.ts';
import { cpuShare, startSampler } from './lib/proc.ts';
import type { ProcSample } from './lib/proc.ts';
import { delta, scrape, sumBy } from './lib/prometheus.ts';
import { fmt, markdownTable, summarize } from './lib/stats.ts';
import { changeOf } from './lib/aijob-writes.ts';
import type { LatencySummary } from './lib/stats.ts';

interface Options {
  readonly jobs: number;
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly clusters: readonly string[];
  readonly restSeconds: number;
  readonly json?: string;
  readonly skipBaseline: boolean;
  /** Extra Flotilla runs with the hub client at these QPS (burst 2×): what the hub budget costs. */
  readonly hubQpsVariants: readonly number[];
  /** More environment for the operator process (`--operator-env 'MALLOC_ARENA_MAX=2 NODE_OPTIONS=…'`): what a setting costs or saves. */
  readonly operatorEnv: Readonly<Record<string, string>>;
}

/** The operator's NODE_OPTIONS with V8's CPU profiler on, written to `dir` at exit (`--operator-cpu-prof`). */
const profiledNodeOptions = (dir: string) => `${OPERATOR_NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${dir}`;

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const json = value('--json');
  const cpuProfileDir = value('--operator-cpu-prof');
  return {
    jobs: Number(value('--jobs') ?? 500),
    nodes: Number(value('--nodes') ?? 50),
    gpusPerNode: Number(value('--gpus-per-node') ?? 4),
    clusters: (value('--clusters') ?? 'provider-a,provider-b,provider-c').split(','),
    restSeconds: Number(value('--rest-seconds') ?? 30),
    ...(json ? { json } : {}),
    skipBaseline: argv.includes('--skip-baseline'),
    hubQpsVariants: (value('--hub-qps-variants') ?? '')
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
    operatorEnv: {
      ...Object.fromEntries(
        (value('--operator-env') ?? '')
          .split(/\s+/)
          .filter((x) => x.includes('='))
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      ),
      ...(cpuProfileDir ? { NODE_OPTIONS: profiledNodeOptions(cpuProfileDir) } : {}),
    },
  };
}

/** Client limits: the operator's defaults (operator/config.ts) unless the environment overrides them. */
function limits(env: NodeJS.ProcessEnv = process.env): { hub: RateLimit; provider: RateLimit; events: RateLimit; workers: number } {
  const c = loadConfig({
    FLOTILLA_HUB_QPS: env.FLOTILLA_HUB_QPS,
    FLOTILLA_HUB_BURST: env.FLOTILLA_HUB_BURST,
    FLOTILLA_PROVIDER_QPS: env.FLOTILLA_PROVIDER_QPS,
    FLOTILLA_PROVIDER_BURST: env.FLOTILLA_PROVIDER_BURST,
    FLOTILLA_EVENT_QPS: env.FLOTILLA_EVENT_QPS,
    FLOTILLA_EVENT_BURST: env.FLOTILLA_EVENT_BURST,
    FLOTILLA_WORKERS: env.FLOTILLA_WORKERS,
  });
  return { hub: c.hubRateLimit, provider: c.providerRateLimit, events: c.eventRateLimit, workers: c.workers };
}

/** The user's client that applies the AIJobs: not Flotilla's, so generous (the apply is not what is measured). */
const USER_LIMIT: RateLimit = { qps: 500, burst: 500 };
const RUN_SECONDS = 86400;
const IMAGE = 'registry.example/trainer@sha256:' + 'c'.repeat(64);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stdout.write(`${line}\n`);
const load = () => loadavg().map((l) => Number(l.toFixed(2)));

/**
 * A watch that is started again (from a fresh list, as ADDED events) whenever the server ends it or it
 * fails: a long run must not silently stop seeing changes.
 */
function watchRestarting<T>(kc: KubeConfig, path: string, onEvent: (type: string, object: T) => void): { stop: () => void; restarts: () => number } {
  let stopped = false;
  let restarts = 0;
  let abort: AbortController | undefined;
  const again = () => {
    if (stopped) return;
    restarts += 1;
    setTimeout(() => void start(), 200);
  };
  const start = async () => {
    if (stopped) return;
    try {
      abort = await new Watch(kc).watch(
        path,
        {},
        (type: string, object: T) => {
          try {
            onEvent(type, object);
          } catch (err) {
            process.stderr.write(`watch ${path}: ${err instanceof Error ? err.stack : String(err)}\n`);
          }
        },
        (err: unknown) => {
          if (!stopped) process.stderr.write(`watch ${path} ended${err ? `: ${String(err)}` : ''}; restarting\n`);
          again();
        },
      );
    } catch {
      again();
    }
  };
  void start();
  return {
    stop: () => {
      stopped = true;
      abort?.abort();
    },
    restarts: () => restarts,
  };
}

/** Notes the first instant each pod of a namespace shows spec.nodeName (keyed by `keyOf(pod)`). */
function watchBindings(kc: KubeConfig, namespace: string, keyOf: (pod: V1Pod) => string | undefined, bound: Map<string, number>): { stop: () => void } {
  return watchRestarting<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, (_type, pod) => {
    const key = keyOf(pod);
    if (key !== undefined && pod.spec?.nodeName && !bound.has(key)) bound.set(key, Date.now());
  });
}

function manifest(corner: Corner, name: string, allowedProvider?: string): AIJobManifest {
  return aijobManifest({
    name,
    namespace: corner.hubNamespace,
    image: IMAGE,
    gpu: { products: [corner.product] },
    ...(allowedProvider ? { placement: { allowedProviders: [allowedProvider] } } : {}),
    // The simulated executor keeps the pod Running this long; no checkpoint annotation (no reports).
    sim: { runSeconds: RUN_SECONDS },
  });
}

/** The pod Flotilla would create for job `name` at `provider`, without Flotilla's labels (no operator adopts it). */
function equivalentPod(corner: Corner, name: string, provider: string): V1Pod {
  const job = {
    ...manifest(corner, name),
    metadata: { name, namespace: corner.hubNamespace, uid: `00000000-0000-4000-8000-${String(name.length).padStart(4, '0')}00000000` },
    spec: { ...manifest(corner, name).spec, output: { path: '/flotilla/output', pin: true }, recovery: { maxRestarts: 3, strategy: 'Failover' } },
  } as unknown as AIJob;
  const pod = buildPod(
    job,
    {
      provider,
      attempt: 1,
      replicas: [0],
      placement: {
        provider,
        product: corner.product,
        resourceName: 'nvidia.com/gpu',
        nodeSelector: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: [corner.product] }],
      },
    },
    0,
    { namespace: corner.lentNamespace, priorityClassName: 'flotilla-lent' },
    'bench',
  );
  return { ...pod, metadata: { ...pod.metadata, name: `raw-${name}`, labels: { 'flotilla.dev/bench': corner.id } } };
}

export interface RunFigures {
  readonly n: number;
  readonly wallSeconds: number;
  readonly perSecond: number;
  readonly applySeconds: number;
  readonly latencyMs: LatencySummary;
  /** Seconds from the first create until this share of the pods was bound (0.5, 0.9, 0.95, 0.99, 1). */
  readonly secondsToShare: Record<string, number>;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  /** The whole machine's CPU from the first create until every pod was bound, per job (absent in runs before it was measured). */
  readonly cpu?: CpuPerJob;
}

function figures(starts: ReadonlyMap<string, number>, bound: ReadonlyMap<string, number>, applyEnd: number, loadBefore: number[]): RunFigures {
  const t0 = Math.min(...starts.values());
  const lat: number[] = [];
  let last = t0;
  for (const [k, s] of starts) {
    const b = bound.get(k);
    if (b === undefined) continue;
    lat.push(b - s);
    last = Math.max(last, b);
  }
  const wall = (last - t0) / 1000;
  const offsets = [...bound.entries()]
    .filter(([k]) => starts.has(k))
    .map(([, b]) => (b - t0) / 1000)
    .sort((a, b) => a - b);
  const secondsToShare = Object.fromEntries(
    [0.5, 0.9, 0.95, 0.99, 1].map((q) => [String(q), offsets[Math.max(0, Math.ceil(q * starts.size) - 1)] ?? Number.NaN]),
  );
  return {
    n: lat.length,
    wallSeconds: wall,
    perSecond: lat.length / wall,
    applySeconds: (applyEnd - t0) / 1000,
    latencyMs: summarize(lat),
    secondsToShare,
    loadBefore,
    loadAfter: load(),
  };
}

async function baseline(corner: Corner, names: readonly string[], limit: RateLimit): Promise<RunFigures & { requests: Record<string, number> }> {
  const providers = [...corner.providers.values()];
  const clients = providers.map((p) => {
    const kc = RateLimitedKubeConfig.fromKubeConfig(clusterClients(p.cluster.name).kc, limit);
    return { p, kc, core: kc.makeApiClient(CoreV1Api) };
  });
  const bound = new Map<string, number>();
  const watches = providers.map((x) =>
    watchBindings(x.cluster.kc, corner.lentNamespace, (p) => (p.metadata?.labels?.['flotilla.dev/bench'] ? p.metadata.name : undefined), bound),
  );
  await sleep(1000);
  const pods = names.map((n, i) => ({ client: clients[i % clients.length]!, body: equivalentPod(corner, n, clients[i % clients.length]!.p.name) }));
  const starts = new Map<string, number>();
  const loadBefore = load();
  const cpuFrom = snapshotCpu({ self: process.pid });
  log(
    `baseline: creating ${pods.length} pods round-robin in ${clients.map((c) => c.p.cluster.name).join(', ')} at ${limit.qps} QPS / burst ${limit.burst} per cluster…`,
  );
  await Promise.all(
    pods.map(async ({ client, body }) => {
      starts.set(body.metadata?.name ?? '', Date.now());
      await client.core.createNamespacedPod({ namespace: corner.lentNamespace, body });
    }),
  );
  const applyEnd = Date.now();
  await pollUntil(
    'every baseline pod bound',
    async () => bound.size,
    (n) => n >= pods.length,
    600_000,
    250,
  );
  const result = { ...figures(starts, bound, applyEnd, loadBefore), cpu: cpuPerJob(cpuBetween(cpuFrom, snapshotCpu({ self: process.pid })), pods.length) };
  for (const w of watches) w.stop();
  const requests: Record<string, number> = {};
  for (const { p, kc } of clients) for (const [verb, n] of kc.requests) requests[`${p.cluster.name}/${verb}`] = n;
  log(
    `baseline: ${result.n} pods bound in ${result.wallSeconds.toFixed(1)} s → ${result.perSecond.toFixed(1)} pods/s; p50 ${fmt(result.latencyMs.p50)} ms p99 ${fmt(result.latencyMs.p99)} ms`,
  );
  // Out of the way before Flotilla's run: the operator's capacity view counts only its own pods.
  await Promise.all(
    providers.map((p) =>
      p.cluster.core.deleteCollectionNamespacedPod({
        namespace: corner.lentNamespace,
        labelSelector: `flotilla.dev/bench=${corner.id}`,
        gracePeriodSeconds: 0,
      }),
    ),
  );
  for (const p of providers) {
    await pollUntil(
      `${p.cluster.name}: baseline pods gone`,
      async () => (await p.cluster.core.listNamespacedPod({ namespace: corner.lentNamespace })).items.length,
      (n) => n === 0,
      300_000,
      1000,
    );
  }
  return { ...result, requests };
}

/** For each job not bound yet: its attempt as the hub records it, its pod at the provider, and the provider scheduler's last word on it. */
async function describeStragglers(
  unbound: readonly string[],
  jobs: ReadonlyMap<string, AIJob>,
  clusters: ReadonlyArray<{ provider: string; cluster: { name: string; core: CoreV1Api } }>,
  namespace: string,
): Promise<void> {
  if (unbound.length === 0) return;
  log(`stragglers after 60 s: ${unbound.length}`);
  for (const name of unbound.slice(0, 10)) {
    const job = jobs.get(name);
    const attempt = job?.status?.attempts?.at(-1);
    const providerName = job?.status?.placement?.provider;
    const placed = clusters.find((c) => c.provider === providerName);
    log(`  ${name}: phase ${job?.status?.phase ?? '?'}, attempt ${attempt?.index ?? '-'} on ${providerName ?? '-'} nodes ${attempt?.nodes?.join(',') ?? '-'}`);
    for (const { cluster: c } of placed ? [placed] : clusters) {
      const pods = (await c.core.listNamespacedPod({ namespace })).items.filter((p) => p.metadata?.annotations?.[ANNOTATION_JOB_NAME] === name);
      for (const pod of pods) {
        const events = (await c.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod.metadata?.name ?? ''}` })).items;
        const failed = events.filter((e) => e.reason === 'FailedScheduling').at(-1);
        log(
          `    ${c.name}/${pod.metadata?.name}: ${pod.status?.phase} node ${pod.spec?.nodeName ?? '-'}; ${failed ? `FailedScheduling: ${failed.message}` : 'no FailedScheduling event'}`,
        );
      }
      const all = (await c.core.listNamespacedPod({ namespace })).items;
      const boundCount = all.filter((p) => p.spec?.nodeName && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').length;
      log(`    ${c.name}: ${all.length} pods in ${namespace}, ${boundCount} bound and not ended`);
    }
  }
}

export interface FlotillaFigures extends RunFigures {
  readonly runningSeconds: number;
  readonly toRunningMs: LatencySummary;
  readonly placedOn: Record<string, number>;
  /** Attempts of the measured jobs that ended before all were Running, by reason (e.g. Preempted: BindTimeout). */
  readonly closedAttempts: Record<string, number>;
  /** cluster/verb → requests per job, apply → all Running. */
  readonly dispatchRequests: Record<string, number>;
  /** What each write to an AIJob changed (seen by a watch), per job, apply → all Running. */
  readonly jobWrites: Record<string, number>;
  /** cluster/verb → requests per job, delete → all gone. */
  readonly deleteRequests: Record<string, number>;
  /** cluster/verb → requests per second at rest (N jobs Running). */
  readonly restRequestsPerSecond: Record<string, number>;
  /** Requests the client-side rate limiter held back, apply → all Running, by cluster. */
  readonly throttled: Record<string, { requests: number; waitSeconds: number }>;
  readonly reconciles: {
    meanDispatchMs: number;
    dispatch: number;
    rest: number;
    delete: number;
    /** Reconciles that threw (and were retried) during dispatch; during rest and delete. */
    failedDispatch: number;
    failedDelete: number;
    dispatchSeconds: number;
  };
  /** AIJob writes the hub refused as stale during dispatch (flotilla_aijob_write_conflicts_total); absent in runs before it was counted. */
  readonly writeConflicts?: number;
  readonly deleteSeconds: number;
  readonly footprint: {
    readonly startRssMiB: number;
    readonly peakRssMiB: number;
    readonly restRssMiB: number;
    /** At rest, MiB by kind: rss, heap_used, heap_total, external, array_buffers (absent in runs before it was measured). */
    readonly restMemoryMiB?: Record<string, number>;
    readonly dispatchCpu: number;
    /** CPU share from the apply until 95 % of the pods were bound (the busy part of the dispatch). */
    readonly busyCpu: number;
    readonly restCpu: number;
    readonly deleteCpu: number;
    readonly cpuSecondsTotal: number;
  };
}

async function flotilla(corner: Corner, names: readonly string[], opts: Options, lim: ReturnType<typeof limits>): Promise<FlotillaFigures> {
  const hubCluster = clusterClients('hub').kc.getCurrentCluster()?.name ?? 'kwok-hub';
  const label = (cluster: string) => {
    if (cluster === 'hub') return 'hub';
    if (cluster === hubCluster) return 'hub (events)';
    return corner.providers.get(cluster)?.cluster.name ?? 'other providers';
  };
  const keyed = (m: Map<string, number>) => {
    const out = new Map<string, number>();
    for (const [k, v] of m) {
      const [cluster, verb] = k.split('/') as [string, string];
      const key = `${label(cluster)}/${verb}`;
      out.set(key, (out.get(key) ?? 0) + v);
    }
    return out;
  };
  const requestsOf = async (port: number) => keyed(sumBy(await scrape(port), 'flotilla_kube_api_requests_total', ['cluster', 'verb']));
  const throttleOf = async (port: number) => {
    const samples = await scrape(port);
    return {
      requests: sumBy(samples, 'flotilla_kube_api_throttled_total', ['cluster', 'urgency']),
      wait: sumBy(samples, 'flotilla_kube_api_throttle_wait_seconds_total', ['cluster', 'urgency']),
    };
  };
  const reconcileSecondsOf = async (port: number) =>
    [...sumBy(await scrape(port), 'flotilla_reconcile_duration_seconds_sum', ['controller'], { controller: 'aijob' }).values()].reduce((a, b) => a + b, 0);
  const reconcilesOf = async (port: number) =>
    [...sumBy(await scrape(port), 'flotilla_reconcile_duration_seconds_count', ['controller'], { controller: 'aijob' }).values()].reduce((a, b) => a + b, 0);
  // Reconciles that threw and were retried (a 409 on a status write among them).
  const failedReconcilesOf = async (port: number) =>
    [...sumBy(await scrape(port), 'flotilla_reconcile_duration_seconds_count', ['controller'], { controller: 'aijob', outcome: 'error' }).values()].reduce(
      (a, b) => a + b,
      0,
    );

  const writeConflictsOf = async (port: number) =>
    [...sumBy(await scrape(port), 'flotilla_aijob_write_conflicts_total', ['writer']).values()].reduce((a, b) => a + b, 0);

  // The probes' port, and the port of the chart's admission webhooks, as a Helm install registers
  // them (scoped to the corner's namespace): the defaulting one adds the finalizer and the claim
  // when a job is created.
  const [port, webhookPort] = (await freePorts(2)) as [number, number];
  const webhooks = renderChartWebhooks({
    url: `https://127.0.0.1:${webhookPort}`,
    release: `bench-${corner.id}`,
    namespace: 'flotilla-system',
    watchNamespace: corner.hubNamespace,
  });
  const tlsDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-webhook-'));
  writeFileSync(join(tlsDir, 'tls.crt'), webhooks.certPem, { mode: 0o600 });
  writeFileSync(join(tlsDir, 'tls.key'), webhooks.keyPem, { mode: 0o600 });
  const operator: OperatorProcess = startOperator(corner.hubNamespace, {
    FLOTILLA_HTTP_PORT: String(port),
    FLOTILLA_WEBHOOK_HOST: '127.0.0.1',
    FLOTILLA_WEBHOOK_PORT: String(webhookPort),
    FLOTILLA_WEBHOOK_CERT_FILE: join(tlsDir, 'tls.crt'),
    FLOTILLA_WEBHOOK_KEY_FILE: join(tlsDir, 'tls.key'),
    FLOTILLA_HUB_QPS: String(lim.hub.qps),
    FLOTILLA_HUB_BURST: String(lim.hub.burst),
    FLOTILLA_PROVIDER_QPS: String(lim.provider.qps),
    FLOTILLA_PROVIDER_BURST: String(lim.provider.burst),
    FLOTILLA_EVENT_QPS: String(lim.events.qps),
    FLOTILLA_EVENT_BURST: String(lim.events.burst),
    FLOTILLA_WORKERS: String(lim.workers),
    // The operator's default lease timing (test/support/operator.ts shortens it for quick takeovers,
    // which would spend ~4 hub requests a second on renewals).
    FLOTILLA_LEASE_DURATION_MS: '15000',
    FLOTILLA_RENEW_DEADLINE_MS: '10000',
    FLOTILLA_LEASE_RETRY_MS: '2000',
    ...opts.operatorEnv,
  });
  const sampler = startSampler(operator.pid, 1000);
  const hubKc = clusterClients('hub').kc;
  const custom = hubKc.makeApiClient(CustomObjectsApi);
  const userKc = RateLimitedKubeConfig.fromKubeConfig(hubKc, USER_LIMIT);
  const user = userKc.makeApiClient(CustomObjectsApi);
  const create = (m: AIJobManifest) =>
    user.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace, body: m }) as Promise<AIJob>;

  const bound = new Map<string, number>();
  const providers = [...corner.providers.values()];
  const podWatches = providers.map((x) => watchBindings(x.cluster.kc, corner.lentNamespace, (p) => p.metadata?.annotations?.[ANNOTATION_JOB_NAME], bound));
  const running = new Map<string, number>();
  const placedOn = new Map<string, string>();
  let jobWatch: { stop: () => void; restarts: () => number } | undefined;
  const warmups = providers.map((p) => `warmup-${p.cluster.name}`);
  // Every write to a measured AIJob as the hub's watch shows it, classified by what it changed.
  const previous = new Map<string, AIJob>();
  const writes = new Map<string, number>();
  let counting = false;
  try {
    await pollUntil(
      'the operator ready',
      () =>
        fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200,
      120_000,
      500,
    );
    await registerWebhooks(hubKc, webhooks);
    jobWatch = watchRestarting<AIJob>(hubKc, `/apis/${GROUP}/${VERSION}/namespaces/${corner.hubNamespace}/aijobs`, (type, job) => {
      const name = job.metadata.name ?? '';
      if (counting && type === 'MODIFIED' && names.includes(name)) {
        const what = changeOf(previous.get(name), job);
        writes.set(what, (writes.get(what) ?? 0) + 1);
      }
      previous.set(name, job);
      if (job.status?.phase === 'Running' && !running.has(name)) {
        running.set(name, Date.now());
        const provider = job.status.placement?.provider;
        if (provider) placedOn.set(name, provider);
      }
    });
    // One job pinned to each provider proves every connection synced, and warms the JIT; not measured.
    for (const [i, p] of providers.entries()) await create(manifest(corner, warmups[i] as string, p.name));
    await pollUntil(
      'warm-up jobs Running',
      async () => warmups.filter((w) => running.has(w)).length,
      (n) => n === warmups.length,
      180_000,
      250,
    );
    await sleep(2000);
    const before = await requestsOf(port);
    const throttleBefore = await throttleOf(port);
    const reconcilesBefore = await reconcilesOf(port);
    const failedBefore = await failedReconcilesOf(port);
    const conflictsBefore = await writeConflictsOf(port);
    const reconcileSecondsBefore = await reconcileSecondsOf(port);
    const cpuStart = sampler.samples.at(-1) as ProcSample;

    const starts = new Map<string, number>();
    const loadBefore = load();
    const machine = { self: process.pid, operator: operator.pid };
    const cpuFrom = snapshotCpu(machine);
    counting = true;
    log(`flotilla: applying ${names.length} AIJobs at once (user client ${USER_LIMIT.qps} QPS / burst ${USER_LIMIT.burst})…`);
    await Promise.all(
      names.map(async (n) => {
        starts.set(n, Date.now());
        await create(manifest(corner, n));
      }),
    );
    const applyEnd = Date.now();
    log(`flotilla: applied in ${((applyEnd - Math.min(...starts.values())) / 1000).toFixed(1)} s; waiting for every pod to be bound…`);
    // A job still unbound a minute after the apply is a straggler: say what the operator decided
    // and what the provider's scheduler answered (FailedScheduling), so its cause can be found.
    const stragglers = setTimeout(() => {
      void describeStragglers(
        names.filter((n) => !bound.has(n)),
        previous,
        providers.map((x) => ({ provider: x.name, cluster: x.cluster })),
        corner.lentNamespace,
      ).catch((err: unknown) => log(`straggler report failed: ${String(err)}`));
    }, 60_000);
    await pollUntil(
      'every Flotilla pod bound',
      async () => names.filter((n) => bound.has(n)).length,
      (n) => n >= names.length,
      900_000,
      250,
    );
    clearTimeout(stragglers);
    const result = { ...figures(starts, bound, applyEnd, loadBefore), cpu: cpuPerJob(cpuBetween(cpuFrom, snapshotCpu(machine)), names.length) };
    log(
      `flotilla: ${result.n} jobs' pods bound in ${result.wallSeconds.toFixed(1)} s → ${result.perSecond.toFixed(1)} jobs/s; p50 ${fmt(result.latencyMs.p50)} ms p99 ${fmt(result.latencyMs.p99)} ms`,
    );
    await pollUntil(
      'every job Running',
      async () => names.filter((n) => running.has(n)).length,
      (n) => n >= names.length,
      600_000,
      250,
    );
    const allRunning = Date.now();
    await sleep(1000);
    counting = false;
    const closedAttempts: Record<string, number> = {};
    for (const n of names) {
      for (const a of previous.get(n)?.status?.attempts ?? []) {
        if (a.endTime && a.reason) closedAttempts[a.reason] = (closedAttempts[a.reason] ?? 0) + 1;
      }
    }
    const afterDispatch = await requestsOf(port);
    const throttleAfter = await throttleOf(port);
    const reconcilesDispatch = await reconcilesOf(port);
    const failedDispatch = await failedReconcilesOf(port);
    const conflictsDispatch = await writeConflictsOf(port);
    const reconcileSecondsDispatch = await reconcileSecondsOf(port);
    const cpuDispatchEnd = sampler.samples.at(-1) as ProcSample;

    // At rest: N jobs Running, nothing changing.
    log(`flotilla: all Running; ${opts.restSeconds} s at rest…`);
    const restStart = sampler.samples.at(-1) as ProcSample;
    await sleep(opts.restSeconds * 1000);
    const afterRest = await requestsOf(port);
    const reconcilesRest = await reconcilesOf(port);
    const restEnd = sampler.samples.at(-1) as ProcSample;
    // What the RSS holds at rest, as V8 splits it (the operator's flotilla_process_memory_bytes).
    const restMemory = Object.fromEntries(
      [...sumBy(await scrape(port), 'flotilla_process_memory_bytes', ['kind']).entries()].map(([kind, bytes]) => [
        kind,
        Math.round((bytes / 1048576) * 10) / 10,
      ]),
    );

    // Delete every job; the operator deletes the pods and drops its finalizer.
    log(`flotilla: deleting ${names.length + warmups.length} AIJobs…`);
    const deleteStart = Date.now();
    await inParallel([...names, ...warmups], 25, async (name) => {
      await custom
        .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace, name })
        .catch(() => undefined);
    });
    await pollUntil(
      'every AIJob gone',
      async () =>
        (
          (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace })) as {
            items: unknown[];
          }
        ).items.length,
      (n) => n === 0,
      900_000,
      1000,
    );
    const deleteSeconds = (Date.now() - deleteStart) / 1000;
    await sleep(1000);
    const afterDelete = await requestsOf(port);
    const reconcilesDelete = await reconcilesOf(port);
    const failedDelete = await failedReconcilesOf(port);
    const cpuDeleteEnd = sampler.samples.at(-1) as ProcSample;

    const perJob = (d: Map<string, number>) => Object.fromEntries([...d].filter(([, v]) => v > 0).map(([k, v]) => [k, v / names.length]));
    const throttled: Record<string, { requests: number; waitSeconds: number }> = {};
    // "hub (urgent)": the attempt writes that gate pod creation, served before the rest (token-bucket.ts).
    const throttleKey = (k: string) => {
      const [cluster, urgency] = k.split('/') as [string, string | undefined];
      return urgency === 'urgent' ? `${label(cluster)} (urgent)` : label(cluster);
    };
    for (const [k, n] of delta(throttleBefore.requests, throttleAfter.requests)) {
      const t = throttled[throttleKey(k)] ?? { requests: 0, waitSeconds: 0 };
      if (n > 0) throttled[throttleKey(k)] = { ...t, requests: t.requests + n };
    }
    for (const [k, w] of delta(throttleBefore.wait, throttleAfter.wait)) {
      const t = throttled[throttleKey(k)];
      if (t) throttled[throttleKey(k)] = { ...t, waitSeconds: t.waitSeconds + w };
    }
    const mib = (k: number) => k / 1024;
    const samples = sampler.samples;
    const counts = new Map<string, number>();
    for (const n of names) {
      const p = placedOn.get(n);
      if (p) counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    const toRunning = names.map((n) => (running.get(n) ?? Number.NaN) - (starts.get(n) ?? Number.NaN));
    return {
      ...result,
      runningSeconds: (allRunning - Math.min(...starts.values())) / 1000,
      toRunningMs: summarize(toRunning),
      closedAttempts,
      placedOn: Object.fromEntries([...counts].map(([p, n]) => [corner.providers.get(p)?.cluster.name ?? p, n])),
      dispatchRequests: perJob(delta(before, afterDispatch)),
      jobWrites: perJob(writes),
      deleteRequests: perJob(delta(afterRest, afterDelete)),
      restRequestsPerSecond: Object.fromEntries([...delta(afterDispatch, afterRest)].filter(([, v]) => v > 0).map(([k, v]) => [k, v / opts.restSeconds])),
      throttled,
      reconciles: {
        meanDispatchMs: (1000 * (reconcileSecondsDispatch - reconcileSecondsBefore)) / (reconcilesDispatch - reconcilesBefore),
        dispatch: reconcilesDispatch - reconcilesBefore,
        rest: reconcilesRest - reconcilesDispatch,
        delete: reconcilesDelete - reconcilesRest,
        failedDispatch: failedDispatch - failedBefore,
        failedDelete: failedDelete - failedDispatch,
        dispatchSeconds: (allRunning - Math.min(...starts.values())) / 1000,
      },
      writeConflicts: conflictsDispatch - conflictsBefore,
      deleteSeconds,
      footprint: {
        startRssMiB: mib(cpuStart.rssKiB),
        peakRssMiB: mib(Math.max(...samples.map((s) => s.hwmKiB))),
        restRssMiB: mib(restEnd.rssKiB),
        restMemoryMiB: restMemory,
        dispatchCpu: cpuShare(cpuStart, cpuDispatchEnd),
        busyCpu: cpuShare(cpuStart, sampler.samples.find((x) => x.at >= cpuStart.at + 1000 * (result.secondsToShare['0.95'] ?? 0)) ?? cpuDispatchEnd),
        restCpu: cpuShare(restStart, restEnd),
        deleteCpu: cpuShare(restEnd, cpuDeleteEnd),
        cpuSecondsTotal: cpuDeleteEnd.cpuSeconds,
      },
    };
  } finally {
    jobWatch?.stop();
    for (const w of podWatches) w.stop();
    sampler.stop();
    // Whatever is left (a failed run): delete the jobs while the operator still runs to drop finalizers.
    const left = (
      (await custom
        .listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace })
        .catch(() => ({ items: [] }))) as { items: AIJob[] }
    ).items;
    if (left.length > 0) {
      log(`cleanup: deleting ${left.length} AIJobs left behind…`);
      await inParallel(left, 25, async (j) => {
        await custom
          .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace, name: j.metadata.name ?? '' })
          .catch(() => undefined);
      });
      await pollUntil(
        'leftover AIJobs gone',
        async () =>
          (
            (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace })) as {
              items: unknown[];
            }
          ).items.length,
        (n) => n === 0,
        600_000,
        1000,
      ).catch((err: unknown) => log(`cleanup: ${String(err)}`));
    }
    await unregisterWebhooks(hubKc, webhooks).catch((err: unknown) => log(`cleanup: webhooks: ${String(err)}`));
    await operator.stop();
    rmSync(tlsDir, { recursive: true, force: true });
  }
}

export interface DispatchReport {
  readonly options: Options;
  readonly limits: ReturnType<typeof limits>;
  readonly userLimit: RateLimit;
  readonly corner: { id: string; product: string; clusters: string[]; nodesPerCluster: number; gpusPerNode: number };
  readonly baseline?: RunFigures & { requests: Record<string, number> };
  readonly flotilla: FlotillaFigures;
  readonly ratio?: number;
  /** What CPU per job alone allows the ratio to be on this machine (absent without a baseline or in runs before it was measured). */
  readonly cpuBound?: ReturnType<typeof cpuBound>;
  readonly variants: { hub: RateLimit; figures: FlotillaFigures; ratio?: number }[];
}

function print(r: DispatchReport): void {
  const f = r.flotilla;
  const lat = (s: LatencySummary) => [fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max)];
  log('');
  log(
    markdownTable(
      ['run', 'n', 'wall s', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'load before'],
      [
        ...(r.baseline
          ? [
              [
                'raw pods (baseline)',
                String(r.baseline.n),
                r.baseline.wallSeconds.toFixed(1),
                r.baseline.perSecond.toFixed(1),
                ...lat(r.baseline.latencyMs),
                r.baseline.loadBefore.join(' '),
              ],
            ]
          : []),
        ['Flotilla AIJobs → pod bound', String(f.n), f.wallSeconds.toFixed(1), f.perSecond.toFixed(1), ...lat(f.latencyMs), f.loadBefore.join(' ')],
        [
          'Flotilla AIJobs → phase Running',
          String(f.toRunningMs.n),
          f.runningSeconds.toFixed(1),
          (f.n / f.runningSeconds).toFixed(1),
          ...lat(f.toRunningMs),
          '',
        ],
      ],
    ),
  );
  if (r.ratio !== undefined) log(`\nratio Flotilla / raw throughput: ${r.ratio.toFixed(2)} (target ≥ 0.8)`);
  if (r.baseline?.cpu && f.cpu) {
    const [raw, flot] = [r.baseline.cpu, f.cpu];
    log(`\nthe machine's CPU per pod (raw) and per job (Flotilla), first create → last pod bound, ms:`);
    log(
      markdownTable(
        ['process group', 'raw loop', 'Flotilla'],
        [
          ...CPU_GROUPS.map((g) => [g, raw.ms[g].toFixed(1), flot.ms[g].toFixed(1)]),
          ['all', raw.totalMs.toFixed(1), flot.totalMs.toFixed(1)],
          ['cores busy', `${(100 * raw.utilisation).toFixed(0)} %`, `${(100 * flot.utilisation).toFixed(0)} %`],
        ],
      ),
    );
    if (r.cpuBound)
      log(
        `CPU per job bounds the ratio at ${r.cpuBound.ratio.toFixed(2)} on this machine; with an operator that used no CPU at all, ${r.cpuBound.withoutOperator.toFixed(2)}`,
      );
  }
  const total = Object.entries(f.dispatchRequests)
    .filter(([k]) => !k.startsWith('other'))
    .reduce((a, [, v]) => a + v, 0);
  log(`API requests per job, apply → Running (operator's own counters): ${total.toFixed(2)} (MultiKueue ~7.9)`);
  for (const [k, v] of Object.entries(f.dispatchRequests).sort()) log(`  ${k.padEnd(28)} ${v.toFixed(2)}`);
  log(`writes per job to the AIJob (hub watch), by what they changed:`);
  for (const [k, v] of Object.entries(f.jobWrites).sort((x, y) => y[1] - x[1])) log(`  ${v.toFixed(2)}  ${k}`);
  log(`API requests per job, delete → gone:`);
  for (const [k, v] of Object.entries(f.deleteRequests).sort()) log(`  ${k.padEnd(28)} ${v.toFixed(2)}`);
  log(`client-side throttling, apply → Running (requests held back, seconds waited in all): ${JSON.stringify(f.throttled)}`);
  for (const v of r.variants)
    log(
      `variant hub ${v.hub.qps}/${v.hub.burst}: ${v.figures.perSecond.toFixed(1)} jobs/s, p50 ${fmt(v.figures.latencyMs.p50)} ms p99 ${fmt(v.figures.latencyMs.p99)} ms${v.ratio !== undefined ? `, ratio ${v.ratio.toFixed(2)}` : ''}`,
    );
  log(
    `placed on: ${JSON.stringify(f.placedOn)}; reconciles: ${JSON.stringify(f.reconciles)}; AIJob writes refused as stale: ${f.writeConflicts ?? 'not counted'}`,
  );
  log(`footprint: ${JSON.stringify(f.footprint)}`);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const lim = limits();
  if (opts.jobs + 3 > opts.nodes * opts.gpusPerNode * opts.clusters.length) throw new Error('not enough GPUs in the corner for the jobs');
  log(`dispatch benchmark: ${opts.jobs} jobs, ${opts.clusters.length} × ${opts.nodes} nodes × ${opts.gpusPerNode} GPUs; load ${load().join(' ')}`);
  log(
    `limits: hub ${lim.hub.qps}/${lim.hub.burst}, provider ${lim.provider.qps}/${lim.provider.burst}, events ${lim.events.qps}/${lim.events.burst}, workers ${lim.workers}`,
  );
  const corner = await openCorner({
    prefix: 'bench-dispatch',
    clusters: opts.clusters,
    nodesPerProvider: opts.nodes,
    gpusPerNode: opts.gpusPerNode,
    price: '1.00',
    waitReady: true,
    log,
  });
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    log('interrupted: cleaning up…');
  });
  try {
    const names = Array.from({ length: opts.jobs }, (_, i) => `job-${String(i).padStart(4, '0')}`);
    const base = opts.skipBaseline ? undefined : await baseline(corner, names, lim.provider);
    if (interrupted) throw new Error('interrupted');
    const flot = await flotilla(corner, names, opts, lim);
    const variants: DispatchReport['variants'] = [];
    for (const qps of opts.hubQpsVariants) {
      if (interrupted) break;
      const hub = { qps, burst: 2 * qps };
      log(`\nvariant: hub client at ${qps} QPS / burst ${2 * qps}`);
      const figures = await flotilla(corner, names, opts, { ...lim, hub });
      variants.push({ hub, figures, ...(base ? { ratio: figures.perSecond / base.perSecond } : {}) });
    }
    const report: DispatchReport = {
      variants,
      options: opts,
      limits: lim,
      userLimit: USER_LIMIT,
      corner: { id: corner.id, product: corner.product, clusters: [...opts.clusters], nodesPerCluster: opts.nodes, gpusPerNode: opts.gpusPerNode },
      ...(base ? { baseline: base, ratio: flot.perSecond / base.perSecond } : {}),
      ...(base?.cpu && flot.cpu ? { cpuBound: cpuBound(base.cpu, flot.cpu) } : {}),
      flotilla: flot,
    };
    print(report);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    await removeCorner(corner, { wait: true, log });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
