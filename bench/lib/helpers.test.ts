// The benchmark scripts' pure helpers: percentiles, Prometheus text, /proc parsing.
import { describe, expect, it } from '@jest/globals';
import { cpuTicksFromStat, cpuShare, kibFromStatus } from './proc.ts';
import { delta, parsePrometheusText, sumBy } from './prometheus.ts';
import { markdownTable, percentile, summarize } from './stats.ts';
import { changeOf } from './aijob-writes.ts';
import type { AIJob } from '../../operator/api/types.ts';

describe('percentile (nearest rank)', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
  it.each([
    [50, 50],
    [95, 95],
    [99, 99],
    [100, 100],
    [1, 1],
  ])('p%d of 1..100 is %d', (p, want) => {
    expect(percentile(xs, p)).toBe(want);
  });
  it('is NaN for no samples, and the sample itself for one', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([7], 99)).toBe(7);
  });
  it('summarize leaves out samples that never finished (NaN)', () => {
    expect(summarize([1, 2, Number.NaN, 3])).toEqual({ n: 3, p50: 2, p95: 3, p99: 3, max: 3, mean: 2 });
  });
});

describe('Prometheus text', () => {
  const text = [
    "# HELP flotilla_kube_api_requests_total Requests sent to a cluster's apiserver, by cluster and HTTP verb.",
    '# TYPE flotilla_kube_api_requests_total counter',
    'flotilla_kube_api_requests_total{cluster="hub",verb="PATCH"} 12',
    'flotilla_kube_api_requests_total{cluster="hub",verb="GET"} 3 1700000000000',
    'flotilla_kube_api_requests_total{cluster="provider-a",verb="POST"} 5',
    'flotilla_reconcile_duration_seconds_count{controller="aijob",outcome="success"} 40',
    'flotilla_reconcile_duration_seconds_count{controller="aijob",outcome="requeue"} 2',
    'weird_label{msg="a \\"quoted\\", comma"} 1.5',
    '',
  ].join('\n');
  const samples = parsePrometheusText(text);
  it('reads names, labels (with escapes) and values, skipping comments and timestamps', () => {
    expect(samples).toHaveLength(6);
    expect(samples[1]).toEqual({ name: 'flotilla_kube_api_requests_total', labels: { cluster: 'hub', verb: 'GET' }, value: 3 });
    expect(samples[5]).toEqual({ name: 'weird_label', labels: { msg: 'a "quoted", comma' }, value: 1.5 });
  });
  it('sums by labels, with a filter', () => {
    expect(sumBy(samples, 'flotilla_kube_api_requests_total', ['cluster'])).toEqual(
      new Map([
        ['hub', 15],
        ['provider-a', 5],
      ]),
    );
    expect(sumBy(samples, 'flotilla_reconcile_duration_seconds_count', ['controller'], { outcome: 'success' })).toEqual(new Map([['aijob', 40]]));
  });
  it('delta counts keys that appeared from zero', () => {
    expect(
      delta(
        new Map([['a', 2]]),
        new Map([
          ['a', 5],
          ['b', 1],
        ]),
      ),
    ).toEqual(
      new Map([
        ['a', 3],
        ['b', 1],
      ]),
    );
  });
});

describe('/proc parsing', () => {
  it('reads utime + stime even when the command has spaces and parentheses', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 11 0 123 456 789';
    expect(cpuTicksFromStat(stat)).toBe(325);
  });
  it('reads kB fields of /proc/<pid>/status', () => {
    expect(kibFromStatus('Name:\tnode\nVmHWM:\t  409600 kB\nVmRSS:\t  204800 kB\n', 'VmRSS')).toBe(204800);
  });
  it('CPU share is CPU seconds over wall seconds', () => {
    expect(cpuShare({ at: 0, rssKiB: 0, hwmKiB: 0, cpuSeconds: 1 }, { at: 4000, rssKiB: 0, hwmKiB: 0, cpuSeconds: 2 })).toBe(0.25);
  });
});

describe('markdownTable', () => {
  it('pads columns to the widest cell', () => {
    expect(markdownTable(['a', 'bb'], [['ccc', 'd']])).toBe('| a   | bb |\n|-----|----|\n| ccc | d  |');
  });
});

describe('changeOf (what a write to an AIJob changed)', () => {
  const job = (over: Partial<AIJob['metadata']> = {}, status: Record<string, unknown> = {}) =>
    ({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'AIJob', metadata: { name: 'j', ...over }, spec: {}, status }) as unknown as AIJob;
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastTransitionTime: 't' });
  it.each([
    ['the finalizer', job(), job({ finalizers: ['flotilla.dev/remote-pods'] }), 'finalizers'],
    ['a field of status', job({}, { phase: 'Scheduled' }), job({}, { phase: 'Scheduled', cost: { amount: '0' } }), 'cost'],
    [
      "the phase and a condition's reason",
      job({}, { phase: 'Scheduled', conditions: [cond('Running', 'False', 'PodsPending', 'a')] }),
      job({}, { phase: 'Running', conditions: [cond('Running', 'True', 'PodsRunning', 'b')] }),
      'phase→Running, Running=True/PodsRunning',
    ],
    [
      "only a condition's message",
      job({}, { conditions: [cond('Running', 'False', 'PodsPending', 'waiting')] }),
      job({}, { conditions: [cond('Running', 'False', 'PodsPending', '0/1 running')] }),
      'Running message',
    ],
    ['nothing visible (a no-op write)', job(), job(), 'no visible change'],
  ])('names %s', (_what, before, after, want) => {
    expect(changeOf(before, after)).toBe(want);
  });
  it('says when there is no earlier version to compare with', () => {
    expect(changeOf(undefined, job())).toBe('unknown (first seen)');
  });
});
