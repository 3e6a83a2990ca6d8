// The metrics as Prometheus would scrape them, without a server: the exporter's own serializer over
// what the MeterProvider collected. Also the hooks in the rate-limited client and the work queue.
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { AIJob } from '../api/types.ts';
import { RateLimitedKubeConfig } from '../runtime/rate-limited-kubeconfig.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { urgently } from '../runtime/request-urgency.ts';
import { JobObserver } from './job-observer.ts';
import { installMetrics, recordApiRequest, recordPin, recordReconcile, setJobPhaseSource, setLeader, setProviderSource, uninstallMetrics } from './metrics.ts';

let exporter: PrometheusExporter;

async function scrape(): Promise<string> {
  const { resourceMetrics } = await exporter.collect();
  return new PrometheusSerializer('', false, undefined, true, true).serialize(resourceMetrics);
}

beforeEach(() => {
  exporter = new PrometheusExporter({ preventServerStart: true });
  installMetrics(new MeterProvider({ readers: [exporter] }));
});
afterEach(() => {
  uninstallMetrics();
  RateLimitedKubeConfig.observer = undefined;
});

function job(uid: string, phase: string, attempts: unknown[] = []): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: uid, namespace: 'ns', uid, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { image: 'i', replicas: 1, resources: { gpus: 1 } },
    status: { phase, attempts },
  } as unknown as AIJob;
}

describe('metrics', () => {
  it('records nothing before installMetrics (other modules may call the functions freely)', async () => {
    uninstallMetrics();
    expect(() => {
      recordPin('output');
      recordApiRequest('hub', 'GET', 5);
    }).not.toThrow();
  });

  it('the job observer counts what happens after its baseline, and only on the leader', async () => {
    let leading = false;
    const observer = new JobObserver({ leading: () => leading });
    setJobPhaseSource(() => observer.phaseCounts());
    const a0 = { index: 0, provider: 'provider-a', startTime: '2026-01-01T00:00:02Z' };
    // Already preempted once when first seen: history is not re-counted.
    observer.observe('add', job('old', 'Rescheduling', [{ ...a0, endTime: '2026-01-01T00:00:09Z', reason: 'Preempted: PodDeleted' }]));
    observer.observe('add', job('u1', 'Pending'));
    observer.observe('update', job('u1', 'Running', [a0])); // a standby only keeps its baseline
    leading = true;
    setLeader(true);
    observer.observe('update', job('u1', 'Rescheduling', [{ ...a0, endTime: '2026-01-01T00:01:00Z', reason: 'Preempted: DisruptionTarget' }]));
    observer.observe('update', job('u1', 'Rescheduling', [{ ...a0, endTime: '2026-01-01T00:01:00Z', reason: 'Preempted: DisruptionTarget' }]));
    observer.observe(
      'update',
      job('u1', 'Scheduled', [
        { ...a0, endTime: '2026-01-01T00:01:00Z', reason: 'Preempted: DisruptionTarget' },
        { index: 1, provider: 'provider-c', startTime: '2026-01-01T00:01:04Z' },
      ]),
    );
    const text = await scrape();
    expect(text).toContain('flotilla_preemptions_total{provider="provider-a",signal="DisruptionTarget"} 1');
    expect(text).not.toContain('signal="PodDeleted"');
    expect(text).toContain('flotilla_recoveries_total{from_provider="provider-a",to_provider="provider-c"} 1');
    expect(text).toContain('flotilla_placement_latency_seconds_sum{provider="provider-c"} 4');
    expect(text).not.toContain('flotilla_placement_latency_seconds_count{provider="provider-a"}');
    expect(text).toContain('flotilla_aijobs{phase="Rescheduling"} 1');
    expect(text).toContain('flotilla_aijobs{phase="Scheduled"} 1');
    expect(text).toContain('flotilla_leader 1');
    // The process's memory by kind, each a positive byte count; the heap in use within the heap.
    const bytes = (kind: string) => Number(new RegExp(`^flotilla_process_memory_bytes\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1]);
    for (const kind of ['rss', 'heap_used', 'heap_total', 'external', 'array_buffers']) expect(bytes(kind)).toBeGreaterThan(0);
    expect(bytes('heap_used')).toBeLessThanOrEqual(bytes('heap_total'));
  });

  it('reports how late the event loop ran, and how busy it was, since the previous collection', async () => {
    const delay = (text: string, stat: string) =>
      Number(new RegExp(`^flotilla_event_loop_delay_seconds\\{stat="${stat}"\\} ([0-9.e+-]+)`, 'm').exec(text)?.[1]);
    const utilisation = (text: string) => Number(/^flotilla_event_loop_utilization ([0-9.e+-]+)/m.exec(text)?.[1]);
    await scrape(); // starts the window
    // The loop held for 600 ms: the timer's next run is that late, and the loop was busy throughout.
    const until = Date.now() + 600;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, 50));
    const blocked = await scrape();
    expect(delay(blocked, 'max')).toBeGreaterThanOrEqual(0.5);
    expect(delay(blocked, 'mean')).toBeGreaterThan(0);
    expect(delay(blocked, 'mean')).toBeLessThanOrEqual(delay(blocked, 'max'));
    expect(utilisation(blocked)).toBeGreaterThan(0.8);
    // The window starts again at each collection: a quiet one carries neither the stall nor the work.
    await new Promise((r) => setTimeout(r, 300));
    const quiet = await scrape();
    expect(delay(quiet, 'max')).toBeLessThan(0.5);
    expect(utilisation(quiet)).toBeLessThan(0.5);
  });

  it("the leader reports each provider's readiness and free GPUs in its own view; a standby reports none", async () => {
    setProviderSource(() => [
      {
        provider: 'cheap',
        ready: true,
        freeGpus: new Map([
          ['NVIDIA-H100', 8],
          ['NVIDIA-A100', 0],
        ]),
      },
      { provider: 'syncing', ready: false, freeGpus: new Map([['NVIDIA-H100', 16]]) },
    ]);
    setLeader(false);
    expect(await scrape()).not.toContain('flotilla_provider_ready{');
    setLeader(true);
    const text = await scrape();
    expect(text).toContain('flotilla_provider_ready{provider="cheap"} 1');
    expect(text).toContain('flotilla_provider_free_gpus{provider="cheap",product="NVIDIA-H100"} 8');
    expect(text).toContain('flotilla_provider_free_gpus{provider="cheap",product="NVIDIA-A100"} 0');
    expect(text).toContain('flotilla_provider_ready{provider="syncing"} 0');
    // A connection that is not usable offers nothing, whatever its caches hold.
    expect(text).not.toContain('flotilla_provider_free_gpus{provider="syncing"');
  });

  it('every rate-limited client reports requests and throttle waits per cluster', async () => {
    let t = 0;
    const clock = {
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
    };
    RateLimitedKubeConfig.observer = ({ cluster, verb, waitedMs, urgency }) => recordApiRequest(cluster, verb, waitedMs, urgency);
    const kc = new RateLimitedKubeConfig({ qps: 10, burst: 1 }, clock);
    kc.loadFromOptions({
      clusters: [{ name: 'kwok-provider-a', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'kwok-provider-a', user: 'u' }],
      currentContext: 'c',
    });
    await kc.applySecurityAuthentication(new RequestContext('https://127.0.0.1:1/api', HttpMethod.GET));
    kc.clusterName = 'provider-a';
    await kc.applySecurityAuthentication(new RequestContext('https://127.0.0.1:1/api', HttpMethod.POST));
    await urgently(() => kc.applySecurityAuthentication(new RequestContext('https://127.0.0.1:1/api', HttpMethod.PATCH)));
    const text = await scrape();
    expect(text).toContain('flotilla_kube_api_requests_total{cluster="kwok-provider-a",verb="GET"} 1');
    expect(text).toContain('flotilla_kube_api_requests_total{cluster="provider-a",verb="POST"} 1');
    expect(text).toContain('flotilla_kube_api_throttled_total{cluster="provider-a",urgency="normal"} 1');
    expect(text).toContain('flotilla_kube_api_throttle_wait_seconds_total{cluster="provider-a",urgency="normal"} 0.1');
    expect(text).toContain('flotilla_kube_api_throttled_total{cluster="provider-a",urgency="urgent"} 1');
    expect(text).not.toContain('flotilla_kube_api_throttled_total{cluster="kwok-provider-a"}');
  });

  it('a work-queue observer sees each reconcile with its outcome and changes nothing', async () => {
    const queue = new WorkQueue({ workers: 1, baseBackoffMs: 1, maxBackoffMs: 1 });
    const seen: string[] = [];
    queue.observe((key) => {
      const started = Date.now();
      return ({ error, requeueAfterMs }) => {
        seen.push(`${key}:${error !== undefined ? 'error' : requeueAfterMs !== undefined ? 'requeue' : 'success'}`);
        recordReconcile('test', (Date.now() - started) / 1000, error !== undefined ? 'error' : 'success');
        throw new Error('an observer that throws is ignored');
      };
    });
    let calls = 0;
    queue.start(async (key) => {
      calls += 1;
      if (key === 'b' && calls < 3) throw new Error('transient');
      return undefined;
    });
    queue.add('a');
    await queue.idle();
    queue.add('b');
    await queue.idle();
    queue.shutdown();
    expect(seen).toEqual(['a:success', 'b:error', 'b:success']);
    expect(await scrape()).toContain('flotilla_reconcile_duration_seconds_count{controller="test",outcome="error"} 1');
  });
});
