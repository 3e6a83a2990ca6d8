// The scheduler (operator/scheduler/scheduler.ts) as the operator runs it, without a cluster: its
// providers come from a registry held in memory (test/support/memory-registry.ts). Prints numbers.
//
//   node bench/scheduler.ts [--providers 100] [--nodes 1000] [--jobs 2000] [--pending 500,5000] [--json out.json]
//
//   1. decision   one request() per new job at P providers × N nodes, every earlier placement still
//                 reserved (none bound): what a reconcile waits for. Baseline in the same run: the
//                 path the AIJob controller took before the scheduler — every provider's snapshot with
//                 every outstanding reservation applied, then placeJob() (which indexes everything)
//                 per decision — on a sample of the same jobs. Also the garbage collections during the
//                 decisions: one that meets a collection takes its pause, so the tail follows allocation.
//   1b. burst     the same decisions while the providers bind each placement 20 decisions later (its
//                 pods counted in the provider's snapshot, a pod event per replica): most decisions
//                 first re-read and re-index the provider that changed, as in the operator during a burst
//                 (the memory registry keeps a node that did not change as the same object, as the
//                 connection's NodeSnapshotMemo does; what that re-read costs itself is part 3).
//   2. waiting    a full federation (3 providers × 50 nodes × 4 GPUs, every GPU taken) and Q jobs
//                 waiting (a few shapes). The cost of one provider node event that changes nothing
//                 placement reads (a heartbeat), of one that frees a GPU (one job placed) — each sent 7
//                 times, the median CPU reported, with the searches and the waiting jobs the scheduler
//                 looked at per event — and the scheduler's CPU at rest over one retry period; for
//                 Q = 500 and 5,000, to show how each grows with the queue.
//   3. re-read    one provider's node snapshots from its informer caches after one pod changed, at N
//                 nodes and 2N pods: what every provider event costs before the scheduler sees it;
//                 baseline the full recompute each event paid before NodeSnapshotMemo.
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LABEL_ATTEMPT, LABEL_JOB_UID } from '../operator/api/group.ts';
import { checkedNodeSnapshots, NodeSnapshotMemo } from '../operator/core/inventory.ts';
import { placeJob } from '../operator/core/placement/place-job.ts';
import { withReservation } from '../operator/core/placement/reservation.ts';
import type { JobDemand, Placement, ProviderSnapshot } from '../operator/core/placement/types.ts';
import type { QueueEntry } from '../operator/core/scheduling/queue.ts';
import { RETRY_MS, Scheduler } from '../operator/scheduler/scheduler.ts';
import { MemoryRegistry } from '../test/support/memory-registry.ts';
import { aJob, gpuNode, gpuProvider, seededRandom, syntheticDemand, syntheticFederation } from '../test/support/placement-fixtures.ts';
import { fmt, markdownTable, summarize } from './lib/stats.ts';
import type { LatencySummary } from './lib/stats.ts';

interface Options {
  readonly providers: number;
  readonly nodes: number;
  readonly jobs: number;
  readonly pending: readonly number[];
  readonly baselineSample: number;
  readonly json?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      providers: { type: 'string', default: '100' },
      nodes: { type: 'string', default: '1000' },
      jobs: { type: 'string', default: '2000' },
      pending: { type: 'string', default: '500,5000' },
      'baseline-sample': { type: 'string', default: '20' },
      json: { type: 'string' },
    },
  });
  return {
    providers: Number(values.providers),
    nodes: Number(values.nodes),
    jobs: Number(values.jobs),
    pending: values.pending.split(',').map(Number),
    baselineSample: Number(values['baseline-sample']),
    ...(values.json ? { json: values.json } : {}),
  };
}

const NOW = Date.UTC(2026, 11, 5);
const quiet = () => undefined;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

const entry = (i: number, demand: JobDemand): QueueEntry => ({
  key: `ns/job-${i}`,
  namespace: 'ns',
  priority: 0,
  createdAt: NOW + i,
  recovery: false,
  attempt: 1,
  demand,
});

/** The seeded federation and jobs parts 1 and 1b decide, the same in both. */
function decisionSetup(o: Options) {
  const random = seededRandom(42);
  const federation = syntheticFederation(random, { providers: o.providers, nodesPerProvider: o.nodes, edgeCases: true });
  const names = federation.map((p) => p.name);
  const demands = Array.from({ length: o.jobs }, () => syntheticDemand(random, names, NOW));
  const registry = new MemoryRegistry(federation);
  const scheduler = new Scheduler({ registry, priceDecimals: 6, onVerdict: quiet, log: quiet, now: () => NOW });
  return { federation, demands, registry, scheduler };
}

/**
 * The garbage collections while `run` runs (count, pauses in all): a decision that meets one takes
 * its pause, so the decisions' tail follows how much they allocate.
 */
async function collections<T>(run: () => T): Promise<{ result: T; gcs: number; gcMs: number }> {
  const seen: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.push(e.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  const result = run();
  await new Promise((r) => setTimeout(r, 50)); // entries are delivered asynchronously
  observer.disconnect();
  return { result, gcs: seen.length, gcMs: seen.reduce((a, b) => a + b, 0) };
}

/** Part 1: request() latency with reservations outstanding, against the old per-reconcile path. */
async function decisions(o: Options) {
  const { federation, demands, scheduler } = decisionSetup(o);
  const times: number[] = [];
  const placedTimes: number[] = [];
  const placed: Array<{ placement: Placement; demand: JobDemand }> = [];
  let outcomes = 0;
  const gc = await collections(() => {
    for (const [i, demand] of demands.entries()) {
      const started = performance.now();
      const answer = scheduler.request(entry(i, demand), `uid-${i}`);
      const took = performance.now() - started;
      times.push(took);
      if ('verdict' in answer && answer.verdict.outcome === 'Placed') {
        placedTimes.push(took);
        outcomes += 1;
        placed.push({ placement: answer.verdict.placement, demand });
      }
    }
  });
  // The old path, on the last jobs (every earlier placement outstanding): snapshots with every
  // reservation applied, then placeJob.
  const baseline: number[] = [];
  const byName = new Map(federation.map((p) => [p.name, p]));
  for (let i = o.jobs - o.baselineSample; i < o.jobs; i++) {
    const started = performance.now();
    const snapshots: ProviderSnapshot[] = [...byName.values()].map((s) => {
      let reserved = s;
      for (const r of placed) if (r.placement.provider === s.name) reserved = withReservation(reserved, r.placement, r.demand);
      return reserved;
    });
    placeJob(demands[i] as JobDemand, snapshots, NOW);
    baseline.push(performance.now() - started);
  }
  scheduler.stop();
  return {
    scheduler: summarize(times),
    placedOnly: summarize(placedTimes),
    baseline: summarize(baseline),
    placed: outcomes,
    reserved: scheduler.sizes().reserved,
    stats: { ...scheduler.stats },
    gcs: gc.gcs,
    gcMs: gc.gcMs,
  };
}

/**
 * Part 1b: the same decisions during a burst, as the operator meets them: the providers bind what was
 * placed LAG decisions earlier (its pods counted in the provider's snapshot, a pod event per replica,
 * the reservation released), so most decisions first re-read and re-index a provider that changed.
 */
const LAG = 20;

async function decisionsInBurst(o: Options) {
  const { demands, registry, scheduler } = decisionSetup(o);
  scheduler.start();
  const times: number[] = [];
  const unbound: Array<{ uid: string; placement: Placement; demand: JobDemand }> = [];
  let bound = 0;
  const rebuilds = scheduler.stats.providerRebuilds;
  const gc = await collections(() => {
    for (const [i, demand] of demands.entries()) {
      if (unbound.length >= LAG) {
        const { uid, placement, demand: was } = unbound.shift() as (typeof unbound)[number];
        const provider = registry.snaps.get(placement.provider) as ProviderSnapshot;
        registry.snaps.set(placement.provider, withReservation(provider, placement, was));
        for (const [r, node] of placement.assignments.entries()) {
          const pod = { metadata: { name: `${uid}-${r}`, labels: { [LABEL_JOB_UID]: uid, [LABEL_ATTEMPT]: '1' } }, spec: { containers: [], nodeName: node } };
          registry.emit({ kind: 'pod', provider: placement.provider, type: 'update', pod });
        }
        bound += 1;
      }
      const started = performance.now();
      const answer = scheduler.request(entry(i, demand), `uid-${i}`);
      times.push(performance.now() - started);
      if ('verdict' in answer && answer.verdict.outcome === 'Placed') unbound.push({ uid: `uid-${i}`, placement: answer.verdict.placement, demand });
    }
  });
  scheduler.stop();
  return {
    decisions: summarize(times),
    bound,
    providerRebuilds: scheduler.stats.providerRebuilds - rebuilds,
    reserved: scheduler.sizes().reserved,
    gcs: gc.gcs,
    gcMs: gc.gcMs,
  };
}

/** A provider whose every GPU is taken: nodes × 4 GPUs, `free` free on the first node. */
function full(name: string, nodes: number, free: number): ProviderSnapshot {
  const b = gpuProvider(name).price('NVIDIA-BENCH-H100', '1.00');
  for (let i = 0; i < nodes; i++)
    b.nodes(
      gpuNode(`${name}-${i}`)
        .product('NVIDIA-BENCH-H100', 4, 81920)
        .freeGpus(i === 0 ? free : 0),
    );
  return b.build();
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
/** How many times part 2 sends each event. */
const EVENTS = 7;
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function cpuOf(fn: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Part 2: Q waiting jobs on a full federation; what one event costs, and the scheduler at rest. */
async function waiting(q: number) {
  const providers = ['a', 'b', 'c'].map((n) => full(`provider-${n}`, 50, 0));
  const registry = new MemoryRegistry(providers);
  const woken: string[] = [];
  const scheduler = new Scheduler({ registry, priceDecimals: 6, onVerdict: (k) => woken.push(k), log: quiet });
  scheduler.start();
  // A few shapes: 1, 2 and 4 GPUs, as a burst of real jobs would have.
  const shapes = [1, 2, 4].map((gpus) => aJob().products('NVIDIA-BENCH-H100').gpus(gpus).build());
  const enqueue = await cpuOf(async () => {
    for (let i = 0; i < q; i++) scheduler.request(entry(i, shapes[i % shapes.length] as JobDemand), `uid-${i}`);
  });
  await settle();
  // Each event EVENTS times, its median CPU reported: one event is a few ms, and the first of a run
  // pays the JIT's compiles (the 500 case runs first).
  const searches0 = scheduler.stats.searches;
  const heartbeats: number[] = [];
  for (let k = 0; k < EVENTS; k++) {
    heartbeats.push(
      await cpuOf(async () => {
        registry.update(providers[0] as ProviderSnapshot, 'provider-a-7');
        await settle();
      }),
    );
  }
  const heartbeatSearches = (scheduler.stats.searches - searches0) / EVENTS;
  const searches1 = scheduler.stats.searches;
  const visited1 = scheduler.stats.visited;
  const woken1 = woken.length;
  const frees: number[] = [];
  for (let k = 1; k <= EVENTS; k++) {
    // One more GPU free on provider-a-0 each time: the placements before still hold theirs (never bound here).
    frees.push(
      await cpuOf(async () => {
        registry.update(full('provider-a', 50, k), 'provider-a-0');
        await settle();
      }),
    );
  }
  const freeingSearches = (scheduler.stats.searches - searches1) / EVENTS;
  const freeingVisited = (scheduler.stats.visited - visited1) / EVENTS;
  const freeingWoken = (woken.length - woken1) / EVENTS;
  const rest = await cpuOf(async () => {
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS + 500));
  });
  scheduler.stop();
  return {
    pending: q,
    enqueueMs: enqueue,
    heartbeatMs: median(heartbeats),
    heartbeatSearches,
    freeingMs: median(frees),
    freeingSearches,
    freeingVisited,
    woken: freeingWoken,
    restCpuShare: rest / (RETRY_MS + 500),
  };
}

/**
 * Part 3: re-reading one provider's nodes from its informer caches (ProviderConnection.nodeSnapshots)
 * after one pod changed — what every provider event costs before the scheduler sees it. Baseline in
 * the same run: checkedNodeSnapshots over everything, as each event paid before NodeSnapshotMemo.
 */
function providerReread(nodeCount: number, podCount: number) {
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    metadata: {
      name: `n-${i}`,
      labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3', 'nvidia.com/gpu.memory': '81559', 'kubernetes.io/hostname': `n-${i}` },
    },
    spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
    status: { allocatable: { cpu: '96', memory: '1Ti', 'nvidia.com/gpu': '8', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
  }));
  const pod = (i: number, node: string) => ({
    metadata: { name: `p-${i}` },
    spec: {
      nodeName: node,
      containers: [
        { name: 'main', resources: { requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } },
        { name: 'agent', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
      ],
    },
    status: { phase: 'Running' },
  });
  let pods = Array.from({ length: podCount }, (_, i) => pod(i, `n-${i % nodeCount}`));
  const memo = new NodeSnapshotMemo();
  memo.check(nodes, pods);
  const kept: number[] = [];
  const full: number[] = [];
  for (let k = 0; k < 200; k++) {
    // One pod bound elsewhere: a new object, as the informer delivers it.
    pods = pods.map((p, i) => (i === k ? pod(i, `n-${(k * 7) % nodeCount}`) : p));
    let started = performance.now();
    memo.check(nodes, pods);
    kept.push(performance.now() - started);
    if (k % 10 === 0) {
      started = performance.now();
      checkedNodeSnapshots(nodes, pods);
      full.push(performance.now() - started);
    }
  }
  return { memo: summarize(kept), full: summarize(full) };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  console.log(`scheduler benchmark; load ${load()}`);
  console.log(`1. decisions: ${o.jobs} jobs at ${o.providers} providers × ${o.nodes} nodes, reservations outstanding…`);
  const d = await decisions(o);
  const row = (label: string, s: LatencySummary) => [label, String(s.n), fmt(s.p50, 3), fmt(s.p95, 3), fmt(s.p99, 3), fmt(s.max, 1)];
  console.log(
    markdownTable(
      ['path', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [
        row('scheduler.request (kept index, reservations outstanding)', d.scheduler),
        row('… of them placed (the reservation taken out of the index)', d.placedOnly),
        row('before: snapshots + reservations + placeJob per decision', d.baseline),
      ],
    ),
  );
  console.log(
    `   placed ${d.placed}/${o.jobs}, ${d.reserved} reservations outstanding; ${d.stats.searches} searches, ${d.stats.providerRebuilds} provider re-indexes; ` +
      `p50 ratio before ÷ scheduler ${(d.baseline.p50 / d.scheduler.p50).toFixed(0)}×; ${d.gcs} GCs (${d.gcMs.toFixed(0)} ms) during the decisions; load ${load()}`,
  );
  console.log(`1b. the same ${o.jobs} decisions while the providers bind each placement ${LAG} decisions later…`);
  const b = await decisionsInBurst(o);
  console.log(
    markdownTable(['path', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], [row('scheduler.request, providers binding (re-read + re-index first)', b.decisions)]),
  );
  console.log(
    `   ${b.bound} placements bound, ${b.providerRebuilds} provider re-reads on the decision path, ${b.reserved} reservations outstanding; ` +
      `${b.gcs} GCs (${b.gcMs.toFixed(0)} ms); load ${load()}`,
  );
  const w = [];
  for (const q of o.pending) {
    console.log(`2. ${q} jobs waiting on a full federation (3 × 50 nodes × 4 GPUs)…`);
    w.push(await waiting(q));
  }
  console.log(
    markdownTable(
      [
        'waiting',
        'enqueue all (CPU ms)',
        `heartbeat event, median of ${EVENTS} (CPU ms, searches)`,
        `one GPU freed, median of ${EVENTS} (CPU ms; per event: searches, jobs looked at, woken)`,
        `at rest over ${(RETRY_MS + 500) / 1000} s (share of a core)`,
      ],
      w.map((r) => [
        String(r.pending),
        r.enqueueMs.toFixed(0),
        `${r.heartbeatMs.toFixed(2)}, ${r.heartbeatSearches}`,
        `${r.freeingMs.toFixed(2)}; ${r.freeingSearches}, ${r.freeingVisited}, ${r.woken}`,
        `${(r.restCpuShare * 100).toFixed(2)} %`,
      ]),
    ),
  );
  console.log(`   load ${load()}`);
  console.log(`3. one provider's node snapshots re-read after one pod changed (${o.nodes} nodes, ${2 * o.nodes} pods)…`);
  const r = providerReread(o.nodes, 2 * o.nodes);
  console.log(
    markdownTable(
      ['path', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [row('NodeSnapshotMemo (only what changed re-read)', r.memo), row('before: checkedNodeSnapshots over every node and pod', r.full)],
    ),
  );
  console.log(`   p50 ratio before ÷ memo ${(r.full.p50 / r.memo.p50).toFixed(0)}×; load ${load()}`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, decisions: d, burst: b, waiting: w, reread: r, load: loadavg() }, null, 2));
}

await main();
