// Placement engine benchmark (issue 9, item 1). A script that prints numbers, not a timed test.
//
//   node bench/placement.ts                 100 providers × 1,000 nodes, then × 10,000; 10,000 jobs
//   node bench/placement.ts --jobs 2000 --scales 1000,10000 --seed 7 --json
//
// For each scale: a seeded synthetic federation (mixed products, partial occupancy, some
// time-slicing, MIG, taints, cordons, unready nodes and providers, quotas), the index built once
// (what a reconciler would keep per snapshot), then every pending job decided against it, one at
// a time, each decision timed alone. A small sample is also decided the naive way, placeJob(),
// which re-indexes the whole snapshot on every call. See docs/placement.md for recorded figures.

import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { indexProviders, placeJob, placeJobIndexed } from '../operator/core/placement/index.ts';
import type { JobDemand, PlacementIndex, ProviderSnapshot } from '../operator/core/placement/index.ts';
import { seededRandom, syntheticDemand, syntheticFederation } from '../test/support/placement-fixtures.ts';

interface Options {
  readonly providers: number;
  readonly scales: readonly number[];
  readonly jobs: number;
  readonly naiveSamples: number;
  readonly seed: number;
  readonly json: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  return {
    providers: Number(value('--providers') ?? 100),
    scales: (value('--scales') ?? '1000,10000').split(',').map(Number),
    jobs: Number(value('--jobs') ?? 10_000),
    naiveSamples: Number(value('--naive') ?? 20),
    seed: Number(value('--seed') ?? 42),
    json: argv.includes('--json'),
  };
}

interface ScaleResult {
  readonly providers: number;
  readonly nodesPerProvider: number;
  readonly totalNodes: number;
  readonly generateMs: number;
  readonly indexMs: number;
  readonly heapMiB: number;
  readonly jobs: number;
  readonly placed: number;
  readonly decisionsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly naiveSamples: number;
  readonly naiveP50Ms: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] ?? Number.NaN;
}

function runScale(options: Options, nodesPerProvider: number, log: (line: string) => void): ScaleResult {
  const now = Date.UTC(2025, 0, 1);
  const random = seededRandom(options.seed);

  let start = performance.now();
  const providers: ProviderSnapshot[] = syntheticFederation(random, { providers: options.providers, nodesPerProvider, edgeCases: true });
  const generateMs = performance.now() - start;
  const totalNodes = providers.reduce((n, p) => n + p.nodes.length, 0);
  log(`  generated ${totalNodes.toLocaleString('en')} nodes in ${generateMs.toFixed(0)} ms`);

  start = performance.now();
  const index: PlacementIndex = indexProviders(providers);
  const indexMs = performance.now() - start;
  log(`  indexed in ${indexMs.toFixed(0)} ms`);

  const names = providers.map((p) => p.name);
  const jobs: JobDemand[] = [];
  for (let i = 0; i < options.jobs; i++) jobs.push(syntheticDemand(random, names, now));

  // Warm-up: let the JIT settle on the hot paths before anything is timed.
  for (let i = 0; i < Math.min(500, jobs.length); i++) placeJobIndexed(jobs[i] as JobDemand, index, now);

  const durations = new Float64Array(jobs.length);
  let placed = 0;
  const wallStart = performance.now();
  for (let i = 0; i < jobs.length; i++) {
    const t0 = performance.now();
    const decision = placeJobIndexed(jobs[i] as JobDemand, index, now);
    durations[i] = performance.now() - t0;
    if (decision.outcome === 'Placed') placed += 1;
  }
  const wallMs = performance.now() - wallStart;
  durations.sort();
  log(`  ${jobs.length.toLocaleString('en')} decisions in ${wallMs.toFixed(0)} ms (${placed.toLocaleString('en')} placed)`);

  // The naive path: placeJob() on plain snapshots re-indexes every provider on every call.
  const naive = new Float64Array(Math.min(options.naiveSamples, jobs.length));
  for (let i = 0; i < naive.length; i++) {
    const t0 = performance.now();
    placeJob(jobs[i] as JobDemand, providers, now);
    naive[i] = performance.now() - t0;
  }
  naive.sort();

  return {
    providers: options.providers,
    nodesPerProvider,
    totalNodes,
    generateMs,
    indexMs,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    jobs: jobs.length,
    placed,
    decisionsPerSecond: jobs.length / (wallMs / 1000),
    p50Us: percentile(durations, 0.5) * 1000,
    p99Us: percentile(durations, 0.99) * 1000,
    maxUs: (durations[durations.length - 1] ?? Number.NaN) * 1000,
    naiveSamples: naive.length,
    naiveP50Ms: percentile(naive, 0.5),
  };
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const log = (line: string) => {
    if (!options.json) console.log(line);
  };
  const cpu = cpus();
  log(
    `placement benchmark — node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, seed ${options.seed}`,
  );

  const results: ScaleResult[] = [];
  for (const nodesPerProvider of options.scales) {
    log(`\n${options.providers} providers × ${nodesPerProvider.toLocaleString('en')} nodes`);
    results.push(runScale(options, nodesPerProvider, log));
  }

  if (options.json) {
    console.log(JSON.stringify({ node: process.version, cpus: cpu.length, cpuModel: cpu[0]?.model, seed: options.seed, results }));
    return;
  }

  const rows = results.map((r) => [
    r.totalNodes.toLocaleString('en'),
    `${r.providers} × ${r.nodesPerProvider.toLocaleString('en')}`,
    `${r.indexMs.toFixed(0)} ms`,
    `${Math.round(r.decisionsPerSecond).toLocaleString('en')}`,
    `${(r.p50Us / 1000).toFixed(3)} ms`,
    `${(r.p99Us / 1000).toFixed(3)} ms`,
    `${(r.maxUs / 1000).toFixed(2)} ms`,
    `${r.placed.toLocaleString('en')}/${r.jobs.toLocaleString('en')}`,
    `${r.naiveP50Ms.toFixed(1)} ms`,
    `${r.heapMiB.toFixed(0)} MiB`,
  ]);
  const header = ['nodes', 'providers × nodes', 'index build', 'decisions/s', 'p50', 'p99', 'max', 'placed', 'naive p50', 'heap'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));

  const [base, ...rest] = results;
  if (base) {
    for (const r of rest) {
      const factor = r.totalNodes / base.totalNodes;
      console.log(
        `\n${factor.toFixed(0)}× the nodes: p50 ×${(r.p50Us / base.p50Us).toFixed(2)}, p99 ×${(r.p99Us / base.p99Us).toFixed(2)}, ` +
          `decisions/s ×${(r.decisionsPerSecond / base.decisionsPerSecond).toFixed(2)}, index build ×${(r.indexMs / base.indexMs).toFixed(2)}, ` +
          `naive p50 ×${(r.naiveP50Ms / base.naiveP50Ms).toFixed(2)}`,
      );
    }
    const target = results.find((r) => r.totalNodes === 100_000) ?? base;
    const verdict = target.p99Us < 5000 ? 'meets' : 'misses';
    console.log(`target p99 < 5 ms at ${target.totalNodes.toLocaleString('en')} nodes: ${verdict} (${(target.p99Us / 1000).toFixed(3)} ms)`);
  }
}

main();
