// The targets table of docs/benchmarks.md: figures read from the steps' outputs, verdicts computed
// from them, the "before" column from an earlier run's figures.
import { describe, expect, it } from '@jest/globals';
import type { DispatchReport } from '../dispatch.ts';
import { runLabel } from './render.ts';
import type { StepRecord } from './render.ts';
import { missedTargets, targetFigures, targetTable } from './targets.ts';
import type { SchedulerReport, TargetFigures } from './targets.ts';

const latency = (p99: number) => ({ n: 500, p50: p99 / 2, p95: p99 * 0.9, p99, max: p99, mean: p99 / 2 });
// Only the fields the targets read.
const dispatch = {
  corner: { clusters: ['provider-a', 'provider-b'] },
  ratio: 0.47,
  baseline: { perSecond: 77.2, latencyMs: latency(6_400) },
  flotilla: {
    perSecond: 36.6,
    latencyMs: latency(13_300),
    loadBefore: [3.4, 2, 1],
    closedAttempts: { 'Preempted: BindTimeout': 2, 'Preempted: NodeLost': 1 },
    // Requests to a provider outside the corner are not the job's.
    dispatchRequests: { 'hub/PATCH': 2.1, 'hub/POST': 0.2, 'hub (events)/POST': 0.11, 'provider-a/POST': 0.5, 'provider-b/POST': 0.5, 'elsewhere/GET': 9 },
    footprint: { restRssMiB: 282 },
  },
} as unknown as DispatchReport;
const waiting = (pending: number, heartbeatMs: number, freeingMs: number) => ({
  pending,
  heartbeatMs,
  heartbeatSearches: 0,
  freeingMs,
  freeingSearches: 4,
  restCpuShare: 0.002,
});
const scheduler: SchedulerReport = {
  options: { providers: 100, nodes: 1000, jobs: 2000 },
  decisions: { scheduler: latency(0.8), baseline: latency(40) },
  burst: { decisions: latency(1.2) },
  waiting: [waiting(500, 0.1, 8), waiting(5000, 0.12, 12)],
};
const preemption = 'detection  p50  400 ms   p95  900 ms   max  950 ms   (n=50)\nrecovery   p50  1500 ms   p95  2300 ms   max  2500 ms   (n=50)';
const settlement = '| settle | warm | 1 | 51,238 |\n| settleBatch(50) | warm | 1 | 19,005 |';

const now = targetFigures({
  run: 'now',
  dispatch,
  scheduler,
  preemption,
  settlement,
  placement: { results: [{ totalNodes: 100_000, p99Us: 349 }] },
  load: { preemption: 1.5, scheduler: 0.5 },
});
const row = (table: string[][], what: string) => table.find((r) => r[0]?.startsWith(what));

describe('bench targets', () => {
  it("reads each figure from its step's output", () => {
    expect(now).toMatchObject({
      ratio: 0.47,
      bindTimeouts: 2,
      requestsPerJob: expect.closeTo(3.41, 6),
      eventWritesPerJob: 0.11,
      detectionP95Ms: 900,
      recoveryP95Ms: 2300,
      gasSingle: 51238,
      gasBatch50: 19005,
      placementP99Ms: 0.349,
      decisionP99Ms: 0.8,
      burstDecisionP99Ms: 1.2,
      // Flotilla's own start, not the step's.
      load: { dispatch: 3.4, preemption: 1.5, scheduler: 0.5 },
    });
  });

  it('judges each target from the figures, and says which were not measured', () => {
    const table = targetTable(now, undefined);
    // In TARGET_ROWS order: placement, ratio, p99 vs raw, BindTimeouts (2), requests, Events, RSS,
    // detection, recovery (2.3 s), decision (the burst's 1.2 ms), CPU at rest, node event, gas.
    expect(table.map((r) => r[4])).toEqual(['met', 'missed', 'missed', 'missed', 'met', 'met', 'met', 'met', 'missed', 'missed', 'met', 'met', 'met']);
    expect(row(table, 'apply → pod bound p99')?.[3]).toBe('13.3 s (raw 6.4 s: 2.1×) · load 3.4');
    // 282 MiB is 296 MB.
    expect(row(table, 'operator RSS')?.[3]).toBe('282 MiB (296 MB) · load 3.4');
    expect(row(table, 'dispatch')?.[2]).toBe('—');
    const bare = targetTable(targetFigures({ run: 'bare', load: {} }), undefined);
    expect(row(bare, 'dispatch')?.slice(3)).toEqual(['not measured', '—']);
  });

  it('reads a node event as O(changed nodes) only when neither its searches nor its CPU grow with the queue', () => {
    expect(row(targetTable(now, undefined), 'cost of one provider node event')?.[4]).toBe('met');
    // Sublinear is not enough: 3.2× the CPU for 10× the queue.
    const growing = { ...now, waiting: [waiting(500, 0.1, 5.1), waiting(5000, 0.1, 16.5)] };
    expect(row(targetTable(growing, undefined), 'cost of one provider node event')?.[4]).toBe('missed');
    const linear = { ...now, waiting: [waiting(500, 0.1, 2), waiting(5000, 1.0, 20)] };
    expect(row(targetTable(linear, undefined), 'cost of one provider node event')?.[4]).toBe('missed');
    const searching = { ...now, waiting: [waiting(500, 0.1, 8), { ...waiting(5000, 0.1, 8), freeingSearches: 40 }] };
    expect(row(targetTable(searching, undefined), 'cost of one provider node event')?.[4]).toBe('missed');
    // The jobs looked at per event are part of it, where the run counted them.
    const visiting = (small: number, large: number) => ({
      ...now,
      waiting: [
        { ...waiting(500, 0.1, 8), freeingVisited: small },
        { ...waiting(5000, 0.1, 8), freeingVisited: large },
      ],
    });
    expect(row(targetTable(visiting(4, 5000), undefined), 'cost of one provider node event')?.[4]).toBe('missed');
    const looking = visiting(4, 4);
    expect(row(targetTable(looking, undefined), 'cost of one provider node event')).toEqual(
      expect.arrayContaining([expect.stringContaining('4 jobs looked at'), 'met']),
    );
  });

  it('puts the earlier run beside this one, with its own load', () => {
    const before: TargetFigures = { run: '2026-11-23', load: { dispatch: 3.91 }, ratio: 0.02, perSecond: 1.6, rawPerSecond: 72.5 };
    const table = targetTable(now, before);
    expect(row(table, 'dispatch')?.slice(2, 4)).toEqual(['0.02 (1.6 vs 72.5 per s) · load 3.9', '0.47 (36.6 vs 77.2 per s) · load 3.4']);
    expect(row(table, 'BindTimeouts')?.[2]).toBe('not measured');
  });

  it("shows beside the ratio what the machine's CPU per job allows it to be, where the run measured it", () => {
    const measured = targetFigures({ run: 'cpu', dispatch: { ...dispatch, cpuBound: { ratio: 0.47, withoutOperator: 0.59 } }, load: {} });
    expect(measured).toMatchObject({ cpuBoundRatio: 0.47, cpuBoundWithoutOperator: 0.59 });
    expect(row(targetTable(measured, undefined), 'dispatch')?.[3]).toBe(
      '0.47 (36.6 vs 77.2 per s; CPU per job allows 0.47 on this machine, 0.59 with an operator using no CPU) · load 3.4',
    );
    expect(row(targetTable(measured, undefined), 'dispatch')?.[4]).toBe('missed');
  });

  it('lists the misses with their figure and target', () => {
    expect(missedTargets(now)).toContain('50 jobs evicted at once: recovery (replacement bound) p95: 2,300 ms (target ≤ 2 s)');
    expect(missedTargets(now)).not.toContainEqual(expect.stringContaining('API requests'));
  });

  it('names a run by when its steps began, so re-rendering it keeps the name', () => {
    const step = (started: string) => ({ step: 'x', started, seconds: 1, loadBefore: [1], loadAfter: [1], output: '' }) satisfies StepRecord;
    expect(runLabel({ scheduler: step('2026-12-06T12:04:07.000Z'), dispatch: step('2026-12-06T11:57:09.000Z') })).toBe('2026-12-06 11:57 – 12:04 UTC');
    expect(runLabel({ dispatch: step('2026-12-06T11:57:09.000Z') })).toBe('2026-12-06 11:57 UTC');
    expect(runLabel({ dispatch: step('2026-12-05T23:58:00.000Z'), scheduler: step('2026-12-06T00:03:00.000Z') })).toBe(
      '2026-12-05 23:58 – 2026-12-06 00:03 UTC',
    );
  });
});
