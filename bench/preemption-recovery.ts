// Preemption recovery on the local federation: N running jobs on provider A are evicted at once
// (the eviction API, a pod-level signal), and for each job this prints
//
//   detection  signal → attempt 1 closed (status.attempts[0].endTime, written by the operator)
//   recovery   signal → the replacement pod bound to a node at provider B (seen by a watch here)
//
// as p50/p95/max; then, with the jobs and the operator gone, the floor under recovery that no
// operator can go below here:
//
//   provider B alone   the same pods (the replacements' spec, without Flotilla's labels) created at
//                      B at once by a plain client at the operator's provider limits → bound
//
// as p50/p95/max. The operator is the real one (a separate process, default rate limits). Not a
// test: it prints numbers. Usage: node bench/preemption-recovery.ts [jobs=50]
// Replicas report a checkpoint every 30 s here: each report is one hub write, so 50 jobs reporting
// every second would spend the operator's whole hub budget (50 QPS) on reports alone.
// (needs a running federation: make federation-up).
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { loadConfig } from '../operator/config.ts';
import { RateLimitedKubeConfig } from '../operator/runtime/rate-limited-kubeconfig.ts';
import { freePorts } from '../federation/daemon.ts';
import { scrape, sumBy } from './lib/prometheus.ts';
import { addProvider, clusterRef, cornerJob, createJob, deleteJob, jobPods, newCorner, providerOf, removeCorner, waitJob } from '../test/support/corner.ts';
import { clusterClients, pollUntil, readAIJob } from '../test/support/federation.ts';
import { startOperator } from '../test/support/operator.ts';

const jobs = Number(process.argv[2] ?? 50);
const hub = clusterClients('hub');
const corner = newCorner();
const A = `pe-${corner.id}-a`;
const B = `pe-${corner.id}-b`;
const ns = `bench-preempt-${corner.id}`;
const nodes = Math.ceil(jobs / 8);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const row = (label: string, xs: number[]) =>
  `${label.padEnd(10)} p50 ${String(Math.round(pct(xs, 50))).padStart(5)} ms   p95 ${String(Math.round(pct(xs, 95))).padStart(5)} ms   max ${String(Math.round(Math.max(...xs))).padStart(5)} ms   (n=${xs.length})`;

/** Notes in `bound` when each pod of the corner's lent namespace at that cluster first shows a node. */
function watchBindings(kc: KubeConfig, bound: Map<string, number>): Promise<AbortController> {
  return new Watch(kc).watch(
    `/api/v1/namespaces/${corner.lentNamespace}/pods`,
    {},
    (_type: string, pod: V1Pod) => {
      const name = pod.metadata?.name ?? '';
      if (pod.spec?.nodeName && !bound.has(name)) bound.set(name, Date.now());
    },
    () => undefined,
  );
}

/** The operator's event-loop figures since its previous collection (flotilla_event_loop_*), which this starts again. */
async function eventLoop(httpPort: number): Promise<{ max: number; mean: number; utilisation: number }> {
  const samples = await scrape(httpPort);
  const delay = sumBy(samples, 'flotilla_event_loop_delay_seconds', ['stat']);
  const utilisation = sumBy(samples, 'flotilla_event_loop_utilization', []);
  return { max: delay.get('max') ?? Number.NaN, mean: delay.get('mean') ?? Number.NaN, utilisation: [...utilisation.values()][0] ?? Number.NaN };
}

/**
 * The replacements' pods again, created at B at once by a plain client at the operator's provider
 * limits once the jobs' own pods are gone there: create → bound is what B itself takes to admit and
 * bind them, with no hub, no operator and no detection in it.
 */
async function providerAlone(specs: readonly V1PodSpec[]): Promise<void> {
  const b = providerOf(corner, B).cluster;
  const bound = new Map<string, number>();
  const watch = await watchBindings(b.kc, bound);
  try {
    await pollUntil(
      `the jobs' pods gone at ${B}`,
      async () => (await b.core.listNamespacedPod({ namespace: corner.lentNamespace })).items.length,
      (n) => n === 0,
      180_000,
    );
    const kc = RateLimitedKubeConfig.fromKubeConfig(b.kc, loadConfig({}).providerRateLimit);
    const core = kc.makeApiClient(CoreV1Api);
    const names = specs.map((_, i) => `alone-${i}`);
    const created = new Map<string, number>();
    await Promise.all(
      names.map(async (name, i) => {
        const { nodeName: _, ...unbound } = specs[i] as V1PodSpec;
        created.set(name, Date.now());
        await core.createNamespacedPod({
          namespace: corner.lentNamespace,
          body: { metadata: { name, labels: { 'flotilla.dev/bench': corner.id } }, spec: unbound },
        });
      }),
    );
    await pollUntil(
      'every pod bound',
      async () => names.filter((n) => bound.has(n)).length,
      (n) => n >= names.length,
      60_000,
    ).catch(async (err: unknown) => {
      const events = await b.core.listNamespacedEvent({ namespace: corner.lentNamespace, fieldSelector: 'reason=FailedScheduling' });
      throw new Error(`${String(err)}; the scheduler's last word: ${events.items.at(-1)?.message ?? 'none'}`);
    });
    process.stdout.write(
      `${row(
        `${B} alone`,
        names.map((n) => (bound.get(n) as number) - (created.get(n) as number)),
      )}   the same pods created there at once, no hub, no operator\n`,
    );
  } finally {
    watch.abort();
  }
  await b.core.deleteCollectionNamespacedPod({ namespace: corner.lentNamespace, labelSelector: `flotilla.dev/bench=${corner.id}`, gracePeriodSeconds: 0 });
}

async function main(): Promise<void> {
  await hub.core.createNamespace({ body: { metadata: { name: ns } } });
  await addProvider(corner, { name: A, cluster: clusterRef('provider-a'), price: '1.00', nodes });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '2.00', nodes });
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const operator = startOperator(ns, {
    FLOTILLA_HTTP_PORT: String(httpPort),
    ...Object.fromEntries(
      ['FLOTILLA_WORKERS', 'FLOTILLA_HUB_QPS', 'FLOTILLA_HUB_BURST', 'FLOTILLA_PROVIDER_QPS', 'FLOTILLA_PROVIDER_BURST'].flatMap((k) =>
        process.env[k] ? [[k, process.env[k]]] : [],
      ),
    ),
    FLOTILLA_REPORT_PORT: String(port),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${port}`,
    FLOTILLA_REPORT_SECRET: 'preemption-bench-report-secret',
    // The operator's default lease timing, as in bench/dispatch.ts: test/support/operator.ts's 3 s
    // renew deadline was missed once while the hub served the 50 creates (the operator stepped down
    // and exited, as a leader must, and no Deployment was there to start it again).
    FLOTILLA_LEASE_DURATION_MS: '15000',
    FLOTILLA_RENEW_DEADLINE_MS: '10000',
    FLOTILLA_LEASE_RETRY_MS: '2000',
    // BENCH_CPU_PROFILE=<dir>: the operator writes a V8 CPU profile there when it stops.
    ...(process.env.BENCH_CPU_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}` } : {}),
  });
  const bound = new Map<string, number>();
  let replacementSpecs: V1PodSpec[] = [];
  const watch = await watchBindings(providerOf(corner, B).cluster.kc, bound);
  try {
    const names = Array.from({ length: jobs }, (_, i) => `job-${i}`);
    process.stdout.write(`starting ${jobs} single-GPU jobs on ${A} (${nodes} nodes × 8 GPUs per provider)…\n`);
    await Promise.all(names.map((n) => createJob(cornerJob(corner, ns, n, { gpus: 1, checkpointSeconds: 30 }))));
    const all = await Promise.all(names.map((n) => waitJob(ns, n, 'Running', (j) => j.status?.phase === 'Running', 300_000)));
    // A few may land on B when a burst outruns A's node cache; only those on A are evicted and measured.
    const running = all.filter((j) => j.status?.attempts?.[0]?.provider === A);
    // Let the start-up writes drain and the rate limiters refill: the measurement is of a steady state.
    await new Promise((r) => setTimeout(r, 5_000));
    process.stdout.write(`all ${jobs} running (${running.length} on ${A}); evicting every pod at ${A} at once…\n`);
    const a = providerOf(corner, A).cluster;
    const logFrom = operator.logs().length;
    await eventLoop(httpPort); // starts the operator's event-loop window
    const signalled = new Map<string, number>();
    // When A answered each eviction: A applies the signal while it answers, so a watch may carry it sooner.
    const accepted = new Map<string, number>();
    await Promise.all(
      running.map(async (job) => {
        const [pod] = await jobPods(corner, A, job.metadata.uid ?? '');
        const name = pod?.metadata?.name ?? '';
        signalled.set(job.metadata.name ?? '', Date.now());
        await a.core.createNamespacedPodEviction({ name, namespace: corner.lentNamespace, body: { metadata: { name, namespace: corner.lentNamespace } } });
        accepted.set(job.metadata.name ?? '', Date.now());
      }),
    );
    const moved = await Promise.all(
      running.map((j) => waitJob(ns, j.metadata.name ?? '', `resumed on ${B}`, (x) => x.status?.attempts?.[1]?.provider === B, 180_000)),
    );
    const storm = await eventLoop(httpPort);
    const replacements = moved.map((j) => `${j.metadata.name}-${(j.metadata.uid ?? '').slice(0, 8)}-a2-r0`);
    await pollUntil(
      'every replacement pod bound',
      async () => replacements.filter((r) => bound.has(r)).length,
      (n) => n >= replacements.length,
      180_000,
    );
    const detection: number[] = [];
    const recovery: number[] = [];
    const answered: number[] = [];
    for (const job of moved) {
      const name = job.metadata.name ?? '';
      const t0 = signalled.get(name) as number;
      detection.push(Date.parse(job.status?.attempts?.[0]?.endTime ?? '') - t0);
      answered.push((accepted.get(name) as number) - t0);
      const replacement = `${name}-${(job.metadata.uid ?? '').slice(0, 8)}-a2-r0`;
      recovery.push((bound.get(replacement) ?? Number.NaN) - t0);
    }
    process.stdout.write(`\npreemption recovery, ${moved.length} jobs evicted at once (eviction API → DisruptionTarget)\n`);
    process.stdout.write(`${row('detection', detection)}\n${row('recovery', recovery)}\n`);
    process.stdout.write(`${row('evicted', answered)}   ${A} answering the eviction requests (each signal lands while it answers)\n`);
    // Writes refused because another writer changed the job first: each costs a re-read and a retry.
    const retried = operator
      .logs()
      .slice(logFrom)
      .split('\n')
      .filter((l) => l.includes('"msg":"reconcile failed; retrying"'));
    const conflicts = retried.filter((l) => /\b409\b|[Cc]onflict|the object has been modified/.test(l)).length;
    process.stdout.write(
      `operator's event loop, eviction → every attempt closed and replaced: ran a timer up to ${Math.round(1000 * storm.max)} ms late (mean ${Math.round(1000 * storm.mean)} ms), busy ${Math.round(100 * storm.utilisation)} % of the time\n`,
    );
    process.stdout.write(`reconciles retried after the eviction: ${retried.length} (${conflicts} on a 409 conflict)\n`);
    // Each replacement's spec as the operator made it, for the provider-alone run.
    const atB = new Map(
      (await providerOf(corner, B).cluster.core.listNamespacedPod({ namespace: corner.lentNamespace })).items.map((p) => [p.metadata?.name, p.spec]),
    );
    replacementSpecs = replacements.flatMap((r) => (atB.get(r) ? [atB.get(r) as V1PodSpec] : []));
  } finally {
    await Promise.all(Array.from({ length: jobs }, (_, i) => deleteJob(ns, `job-${i}`).catch(() => undefined)));
    await operator.stop();
    watch.abort();
    if (replacementSpecs.length > 0) await providerAlone(replacementSpecs).catch((err: unknown) => process.stderr.write(`provider B alone: ${String(err)}\n`));
    await hub.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await removeCorner(corner);
    for (const n of [`job-0`]) if (await readAIJob(ns, n)) process.stdout.write('warning: jobs left behind\n');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
