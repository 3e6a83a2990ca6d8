// The placement cost of the AIJob controller's gather path during a burst (issue 9, the known
// hotspot). Pure: no cluster, the same engine functions the controller calls. Prints numbers.
//
//   node bench/placement-controller.ts [--jobs 500] [--json]
//
// Today (operator/controllers/aijob/controller.ts), every reconcile of a job that needs a place:
//   1. takes every provider's snapshot and applies, one withReservation() at a time, every other
//      job's outstanding reservation (placements whose pods the informer does not show yet): a copy
//      of that provider's node list per reservation;
//   2. calls placeJob(), which indexes every provider again (sorts every pool) for this one decision.
// And every node or provider event re-enqueues every job that still needs a place, so during a burst
// each pending job may be decided many times.
//
// The alternative measured here: one PlacementIndex kept across reconciles; a new reservation (or a
// provider's informer event) re-indexes only that provider (withReservation on the reserved
// snapshot, then withProvider), and a decision is placeJobIndexed() on the kept index.
import { performance } from 'node:perf_hooks';
import { indexProviders, placeJob, placeJobIndexed, withProvider, withReservation } from '../operator/core/placement/index.ts';
import type { JobDemand, Placement, PlacementIndex, ProviderSnapshot } from '../operator/core/placement/index.ts';
import { aJob, gpuNode, gpuProvider } from '../test/support/placement-fixtures.ts';
import { fmt, markdownTable, summarize } from './lib/stats.ts';
import type { LatencySummary } from './lib/stats.ts';

const PRODUCT = 'NVIDIA-BENCH-H100';
const NOW = Date.UTC(2025, 0, 1);

interface Scenario {
  readonly label: string;
  /** Providers that offer the product (and take part), each with `nodes` nodes of `gpus` GPUs. */
  readonly providers: number;
  readonly nodes: number;
  readonly gpus: number;
  /** Other providers in the registry without the product (the shared federation's, other tenants'). */
  readonly bystanders: number;
  readonly bystanderNodes: number;
  readonly jobs: number;
}

function federation(s: Scenario): ProviderSnapshot[] {
  const out: ProviderSnapshot[] = [];
  for (let p = 0; p < s.providers; p++) {
    const name = `provider-${String.fromCharCode(97 + (p % 26))}${p >= 26 ? p : ''}`;
    const nodes = Array.from({ length: s.nodes }, (_, i) =>
      gpuNode(`${name}-gpu-${i}`)
        .product(PRODUCT, s.gpus, 81920)
        .cpu(64_000)
        .memory(512 * 2 ** 30),
    );
    out.push(
      gpuProvider(name)
        .price(PRODUCT, '1.00')
        .nodes(...nodes)
        .build(),
    );
  }
  for (let p = 0; p < s.bystanders; p++) {
    const name = `other-${p}`;
    const nodes = Array.from({ length: s.bystanderNodes }, (_, i) =>
      gpuNode(`${name}-gpu-${i}`)
        .product('NVIDIA-L4', 8, 23034)
        .cpu(64_000)
        .memory(512 * 2 ** 30),
    );
    out.push(
      gpuProvider(name)
        .price('NVIDIA-L4', '0.50')
        .nodes(...nodes)
        .build(),
    );
  }
  return out;
}

interface Reservation {
  readonly placement: Placement;
  readonly demand: JobDemand;
}

interface PathResult {
  readonly perDecisionMs: LatencySummary;
  readonly totalMs: number;
  readonly placed: number;
}

/** Today's path: per decision, apply every outstanding reservation to fresh snapshots, then placeJob (re-index all). */
function controllerPath(providers: readonly ProviderSnapshot[], demand: JobDemand, jobs: number): PathResult {
  const reservations: Reservation[] = [];
  const times: number[] = [];
  let placed = 0;
  const t0 = performance.now();
  for (let j = 0; j < jobs; j++) {
    const start = performance.now();
    const snapshots = providers.map((snapshot) => {
      let s = snapshot;
      for (const r of reservations) if (r.placement.provider === s.name) s = withReservation(s, r.placement, r.demand);
      return s;
    });
    const decision = placeJob(demand, snapshots, NOW);
    times.push(performance.now() - start);
    if (decision.outcome === 'Placed') {
      placed += 1;
      reservations.push({ placement: decision.placement, demand });
    }
  }
  return { perDecisionMs: summarize(times), totalMs: performance.now() - t0, placed };
}

/** The kept index: a reservation re-indexes its provider only; a decision is placeJobIndexed. */
function indexedPath(providers: readonly ProviderSnapshot[], demand: JobDemand, jobs: number): PathResult {
  const reserved = new Map(providers.map((p) => [p.name, p]));
  let index: PlacementIndex = indexProviders(providers);
  const times: number[] = [];
  let placed = 0;
  const t0 = performance.now();
  for (let j = 0; j < jobs; j++) {
    const start = performance.now();
    const decision = placeJobIndexed(demand, index, NOW);
    if (decision.outcome === 'Placed') {
      placed += 1;
      const s = withReservation(reserved.get(decision.placement.provider) as ProviderSnapshot, decision.placement, demand);
      reserved.set(s.name, s);
      index = withProvider(index, s);
    }
    times.push(performance.now() - start);
  }
  return { perDecisionMs: summarize(times), totalMs: performance.now() - t0, placed };
}

/** One requeue storm: `pending` jobs each decided once more against the same state (a provider event today). */
function stormMs(providers: readonly ProviderSnapshot[], demand: JobDemand, pending: number, reservations: number): { controller: number; indexed: number } {
  // State with `reservations` outstanding, built through the indexed path (same decisions).
  const reserved = new Map(providers.map((p) => [p.name, p]));
  let index = indexProviders(providers);
  const rs: Reservation[] = [];
  for (let j = 0; j < reservations; j++) {
    const d = placeJobIndexed(demand, index, NOW);
    if (d.outcome !== 'Placed') break;
    rs.push({ placement: d.placement, demand });
    const s = withReservation(reserved.get(d.placement.provider) as ProviderSnapshot, d.placement, demand);
    reserved.set(s.name, s);
    index = withProvider(index, s);
  }
  let t = performance.now();
  for (let j = 0; j < pending; j++) {
    const snapshots = providers.map((snapshot) => {
      let s = snapshot;
      for (const r of rs) if (r.placement.provider === s.name) s = withReservation(s, r.placement, r.demand);
      return s;
    });
    placeJob(demand, snapshots, NOW);
  }
  const controller = performance.now() - t;
  t = performance.now();
  for (let j = 0; j < pending; j++) placeJobIndexed(demand, index, NOW);
  return { controller, indexed: performance.now() - t };
}

export interface ControllerScenarioResult {
  readonly scenario: Scenario;
  readonly controller: PathResult;
  readonly indexed: PathResult;
  /** One provider event with every job of the burst still pending, half of them reserved. */
  readonly stormMs: { controller: number; indexed: number };
}

function main(): void {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--jobs');
  const jobs = at >= 0 ? Number(argv[at + 1]) : 500;
  const json = argv.includes('--json');
  const demand = aJob().gpus(1).products(PRODUCT).build();
  const scenarios: Scenario[] = [
    { label: 'the dispatch benchmark: 3 × 50 nodes (+ 6 small bystanders)', providers: 3, nodes: 50, gpus: 4, bystanders: 6, bystanderNodes: 4, jobs },
    { label: '10 × 1,000 nodes', providers: 10, nodes: 1000, gpus: 8, bystanders: 0, bystanderNodes: 0, jobs },
  ];
  const results: ControllerScenarioResult[] = [];
  for (const s of scenarios) {
    const providers = federation(s);
    // Warm up both paths on a small burst so the JIT settles before anything is timed.
    controllerPath(providers, demand, 50);
    indexedPath(providers, demand, 50);
    const controller = controllerPath(providers, demand, s.jobs);
    const indexed = indexedPath(providers, demand, s.jobs);
    results.push({ scenario: s, controller, indexed, stormMs: stormMs(providers, demand, s.jobs, Math.floor(s.jobs / 2)) });
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ results })}\n`);
    return;
  }
  const rows = results.flatMap((r) => [
    [
      r.scenario.label,
      'today: snapshots + reservations + placeJob',
      fmt(r.controller.perDecisionMs.p50, 3),
      fmt(r.controller.perDecisionMs.p99, 3),
      fmt(r.controller.totalMs),
      fmt(r.stormMs.controller),
    ],
    [
      '',
      'kept index + placeJobIndexed',
      fmt(r.indexed.perDecisionMs.p50, 3),
      fmt(r.indexed.perDecisionMs.p99, 3),
      fmt(r.indexed.totalMs),
      fmt(r.stormMs.indexed),
    ],
  ]);
  process.stdout.write(
    `${markdownTable(['federation', 'path', 'p50 ms/decision', 'p99 ms/decision', `burst of ${jobs} ms`, 'one event, all pending ms'], rows)}\n`,
  );
}

main();
