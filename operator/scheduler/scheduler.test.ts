// The scheduler's bookkeeping over a registry held in memory (the registry's own behaviour is
// covered against real provider clusters by the integration suites).
import type { V1Pod } from '@kubernetes/client-node';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { aJob, gpuNode, gpuProvider, H100, L4 } from '../../test/support/placement-fixtures.ts';
import { LABEL_ATTEMPT, LABEL_JOB_UID } from '../api/group.ts';
import type { QueueEntry } from '../core/scheduling/queue.ts';
import type { JobDemand, ProviderSnapshot } from '../core/placement/types.ts';
import { MemoryRegistry } from '../../test/support/memory-registry.ts';
import { installMetrics, uninstallMetrics } from '../telemetry/metrics.ts';
import { Scheduler } from './scheduler.ts';
import type { ScheduleAnswer } from './scheduler.ts';

/** Provider `name` with one node of `total` H100s, `free` of them free. */
const provider = (name: string, total: number, free: number) =>
  gpuProvider(name)
    .price(H100, '2.00')
    .nodes(gpuNode(`${name}-0`).product(H100, total).freeGpus(free))
    .build();

const entry = (key: string, over: Partial<QueueEntry> = {}): QueueEntry => ({
  key,
  namespace: 'ns',
  priority: 0,
  createdAt: Date.UTC(2026, 0, 1),
  recovery: false,
  attempt: 1,
  demand: aJob().products(H100).build(),
  ...over,
});

const pod = (uid: string, attempt: number, nodeName?: string): V1Pod => ({
  metadata: { name: `${uid}-${attempt}-0`, labels: { [LABEL_JOB_UID]: uid, [LABEL_ATTEMPT]: String(attempt) } },
  spec: { containers: [], ...(nodeName ? { nodeName } : {}) },
});

const outcome = (a: ScheduleAnswer) => ('wait' in a ? 'wait' : a.verdict.outcome === 'Placed' ? `Placed/${a.verdict.placement.provider}` : a.verdict.outcome);
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

function setup(snapshots: ProviderSnapshot[]) {
  const registry = new MemoryRegistry(snapshots);
  const woken: string[] = [];
  const scheduler = new Scheduler({ registry, priceDecimals: 6, onVerdict: (k) => woken.push(k), log: () => undefined });
  scheduler.start();
  return { registry, scheduler, woken };
}

describe('Scheduler', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('holds a placement until the provider shows it bound: a second job never gets the same GPU', async () => {
    const { registry, scheduler } = setup([provider('p', 8, 1)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Unschedulable');
    // The pod exists but is not bound: still held.
    registry.emit({ kind: 'pod', provider: 'p', type: 'add', pod: pod('uid-a', 1) });
    await settle();
    expect(scheduler.holds('ns/a')).toBe(true);
    // Bound: the provider's snapshot counts it now, and the reservation goes.
    registry.snaps.set('p', provider('p', 8, 0));
    registry.emit({ kind: 'pod', provider: 'p', type: 'update', pod: pod('uid-a', 1, 'p-0') });
    await settle();
    expect(scheduler.holds('ns/a')).toBe(false);
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Unschedulable');
  });

  it('a pod bound in the place of its hold sends no waiting job back through a search; room left behind does', async () => {
    const { registry, scheduler, woken } = setup([provider('p', 8, 1)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Unschedulable');
    const searches = scheduler.stats.searches;
    // a's pod bound where it was held: the hold goes, the snapshot counts the pod; nothing grew.
    registry.snaps.set('p', provider('p', 8, 0));
    registry.emit({ kind: 'pod', provider: 'p', type: 'update', pod: pod('uid-a', 1, 'p-0') });
    await settle();
    expect(scheduler.holds('ns/a')).toBe(false);
    expect(scheduler.stats.searches).toBe(searches);
    expect(woken).toEqual([]);
    // A GPU freed: b is searched again, placed and woken.
    registry.snaps.set('p', provider('p', 8, 1));
    registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
    await settle();
    expect(scheduler.stats.searches).toBe(searches + 1);
    expect(woken).toEqual(['ns/b']);
  });

  it('a pod of an earlier attempt being bound does not release the new attempt', async () => {
    const { registry, scheduler } = setup([provider('p', 8, 1)]);
    stop = () => scheduler.stop();
    scheduler.request(entry('ns/a', { attempt: 2, recovery: true }), 'uid-a');
    registry.emit({ kind: 'pod', provider: 'p', type: 'update', pod: pod('uid-a', 1, 'p-0') });
    await settle();
    expect(scheduler.holds('ns/a')).toBe(true);
  });

  it('wakes a waiting job when capacity appears, and only then', async () => {
    const { registry, scheduler, woken } = setup([provider('p', 8, 0)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Unschedulable');
    const searches = scheduler.stats.searches;
    // A heartbeat: nothing placement reads changed, so nothing is searched again.
    registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
    await settle();
    expect(scheduler.stats.searches).toBe(searches);
    expect(woken).toEqual([]);
    // Its own requeue re-asks: the verdict stands, no search.
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Unschedulable');
    expect(scheduler.stats.searches).toBe(searches);
    // GPUs freed: one cycle, the job placed and woken; its reconcile takes the offer.
    registry.snaps.set('p', provider('p', 8, 2));
    registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
    await settle();
    expect(woken).toEqual(['ns/a']);
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
  });

  it('a freed GPU with 3,000 jobs waiting looks at the jobs it decides, not the queue; only the one placed is woken', async () => {
    const { registry, scheduler, woken } = setup([provider('p', 8, 0)]);
    stop = () => scheduler.stop();
    const shapes = [1, 2, 4].map((gpus) => aJob().products(H100).gpus(gpus).build());
    const job = (i: number) => entry(`ns/j${i}`, { createdAt: Date.UTC(2026, 0, 1) + i, demand: shapes[i % 3] as JobDemand });
    for (let i = 0; i < 3_000; i++) scheduler.request(job(i), `uid-${i}`);
    // Arrivals join their group's standing verdict: three searches for the whole queue, one per shape.
    expect(scheduler.stats.searches).toBe(3);
    const visited = scheduler.stats.visited;
    registry.snaps.set('p', provider('p', 8, 1));
    registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
    await settle();
    // The 1-GPU group's first job placed, then its next one and the other two groups' first fail.
    expect(scheduler.stats.visited - visited).toBe(4);
    expect(woken).toEqual(['ns/j0']);
    expect(scheduler.sizes()).toEqual({ waiting: 2_999, reserved: 1 });
    // The rest of the 1-GPU group still shares its verdict: a re-ask is a lookup.
    const searches = scheduler.stats.searches;
    expect(outcome(scheduler.request(job(2_997), 'uid-2997'))).toBe('Unschedulable');
    expect(scheduler.stats.searches).toBe(searches);
  });

  it('counts one placement decision per search, not one per waiting job that shared its verdict', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    installMetrics(new MeterProvider({ readers: [exporter] }));
    try {
      const { registry, scheduler } = setup([provider('p', 8, 0)]);
      stop = () => scheduler.stop();
      for (const k of ['a', 'b', 'c', 'd', 'e']) scheduler.request(entry(`ns/${k}`), `uid-${k}`);
      const searches = scheduler.stats.searches;
      // One GPU freed: every waiting job is due again; the five share one shape, so one search places
      // the first and one more finds the rest still do not fit.
      registry.snaps.set('p', provider('p', 8, 1));
      registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
      await settle();
      expect(scheduler.stats.searches - searches).toBe(2);
      const { resourceMetrics } = await exporter.collect();
      const text = new PrometheusSerializer('', false).serialize(resourceMetrics);
      const count = (outcome: string) =>
        Number(new RegExp(`^flotilla_placement_decision_seconds_count\\{outcome="${outcome}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      expect(count('Placed') + count('Unschedulable')).toBe(scheduler.stats.searches);
      expect(count('Placed')).toBe(1);
    } finally {
      uninstallMetrics();
    }
  });

  it('tells a reconcile whose cache is behind its own write to wait, instead of placing the attempt twice', () => {
    const { scheduler } = setup([provider('p', 8, 4)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('wait');
    // The attempt closed (the next request is for attempt 2): the old hold goes, a new one is made.
    expect(outcome(scheduler.request(entry('ns/a', { attempt: 2, recovery: true }), 'uid-a'))).toBe('Placed/p');
    expect(scheduler.sizes()).toEqual({ waiting: 0, reserved: 1 });
  });

  it('a placement given back (its write failed) frees the capacity for the next job in the queue', async () => {
    const { scheduler, woken } = setup([provider('p', 8, 1)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Unschedulable');
    scheduler.release('ns/a');
    await settle();
    expect(woken).toEqual(['ns/b']);
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Placed/p');
  });

  it('while a big gang at the head holds, jobs behind it go only where it could never fit, the rest of their group waits named; after the hold they are placed', () => {
    let clock = Date.UTC(2026, 0, 1);
    const registry = new MemoryRegistry([provider('big', 8, 4), provider('small', 4, 1)]);
    const scheduler = new Scheduler({
      registry,
      priceDecimals: 6,
      onVerdict: () => undefined,
      log: () => undefined,
      hold: { holdAfterMs: 0, holdForMs: 600_000 },
      now: () => clock,
    });
    const one = (key: string, createdAt: number) => entry(key, { createdAt });
    const gang = entry('ns/gang', { createdAt: 0, demand: aJob().products(H100).gpus(8).build() });
    expect(outcome(scheduler.request(gang, 'uid-gang'))).toBe('Unschedulable');
    // big could hold the gang once drained: it is kept for it; small could never hold it.
    expect(outcome(scheduler.request(one('ns/a', 1), 'uid-a'))).toBe('Placed/small');
    const b = scheduler.request(one('ns/b', 2), 'uid-b');
    expect('verdict' in b && b.verdict.outcome === 'Queued' && b.verdict.reason).toBe('HeldForHead');
    // c joins b's group: the same verdict, named after the head.
    const c = scheduler.request(one('ns/c', 3), 'uid-c');
    expect('verdict' in c && c.verdict.outcome === 'Queued' && c.verdict.message).toContain('ns/gang (8 GPUs) is first in the queue');
    // The hold lets go after holdForMs: both are placed where the gang was waiting.
    clock += 600_001;
    expect(outcome(scheduler.request(one('ns/b', 2), 'uid-b'))).toBe('Placed/big');
    expect(outcome(scheduler.request(one('ns/c', 3), 'uid-c'))).toBe('Placed/big');
  });

  it('gives freed capacity to the higher priority among the waiting, not to the first to ask', async () => {
    const { registry, scheduler, woken } = setup([provider('p', 8, 0)]);
    stop = () => scheduler.stop();
    scheduler.request(entry('ns/low', { createdAt: 1 }), 'uid-low');
    scheduler.request(entry('ns/high', { priority: 100, createdAt: 2 }), 'uid-high');
    registry.snaps.set('p', provider('p', 8, 1));
    registry.emit({ kind: 'node', provider: 'p', type: 'update', node: { metadata: { name: 'p-0' } } });
    await settle();
    expect(woken).toEqual(['ns/high']);
    expect(outcome(scheduler.request(entry('ns/low', { createdAt: 1 }), 'uid-low'))).toBe('Unschedulable');
  });

  it('holds the unbound replicas of an attempt placed before a restart, until the provider binds them', async () => {
    // Two GPUs free in the snapshot; an adopted 2-replica attempt has one pod bound (counted) and one not.
    const { registry, scheduler } = setup([provider('p', 8, 2)]);
    stop = () => scheduler.stop();
    scheduler.adopt({
      key: 'ns/old',
      uid: 'uid-old',
      namespace: 'ns',
      attempt: 3,
      provider: 'p',
      product: H100,
      resourceName: 'nvidia.com/gpu',
      nodes: ['p-0', 'p-0'],
      replicas: 2,
      bound: ['uid-old-3-1'],
      demand: aJob().products(H100).replicas(2).build(),
    });
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Unschedulable');
    registry.snaps.set('p', provider('p', 8, 1));
    registry.emit({ kind: 'pod', provider: 'p', type: 'update', pod: pod('uid-old', 3, 'p-0') });
    await settle();
    expect(scheduler.holds('ns/old')).toBe(false);
  });

  it("counts the provider's pods not yet bound, whether or not a hold still covers them", async () => {
    const { registry, scheduler } = setup([provider('p', 8, 2)]);
    stop = () => scheduler.stop();
    expect(outcome(scheduler.request(entry('ns/a'), 'uid-a'))).toBe('Placed/p');
    // a's pod exists, unbound: counted once (as pending), not twice (pending and held).
    const podA = { ...pod('uid-a', 1), spec: { containers: [{ name: 'main', resources: { requests: { 'nvidia.com/gpu': '1' } } }] } };
    registry.podsOf.set('p', [podA]);
    registry.emit({ kind: 'pod', provider: 'p', type: 'add', pod: podA });
    await settle();
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Placed/p');
    // Given back early (as a failed write might): a's pending pod still holds its GPU.
    scheduler.release('ns/a');
    scheduler.release('ns/b');
    const podB = { ...podA, metadata: { ...podA.metadata, name: 'b', labels: { [LABEL_JOB_UID]: 'uid-b', [LABEL_ATTEMPT]: '1' } } };
    registry.podsOf.set('p', [podA, podB]);
    registry.emit({ kind: 'pod', provider: 'p', type: 'add', pod: podB });
    await settle();
    expect(outcome(scheduler.request(entry('ns/c'), 'uid-c'))).toBe('Unschedulable');
  });

  it("counts pending pods against the nodes they can be bound to, not another product's nodes with a GPU free (the dispatch benchmark's over-placement)", async () => {
    // One H100 node with 4 free in the snapshot, an L4 node with 1 free: the same resource name.
    const mixed = gpuProvider('p')
      .price(H100, '2.00')
      .price(L4, '1.00')
      .nodes(gpuNode('h').product(H100, 4).freeGpus(4), gpuNode('l').product(L4, 4).freeGpus(1))
      .build();
    const { registry, scheduler } = setup([mixed]);
    stop = () => scheduler.stop();
    // Four H100 pods created, not bound yet: the H100 node is spoken for.
    const pending = ['w', 'x', 'y', 'z'].map((uid) => ({
      ...pod(uid, 1),
      spec: {
        containers: [{ name: 'main', resources: { requests: { 'nvidia.com/gpu': '1' } } }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: [H100] }] }],
            },
          },
        },
      },
    }));
    registry.podsOf.set('p', pending);
    for (const p of pending) registry.emit({ kind: 'pod', provider: 'p', type: 'add', pod: p });
    await settle();
    expect(outcome(scheduler.request(entry('ns/h100'), 'uid-h100'))).toBe('Unschedulable');
    // The L4's free GPU is still there for a job that asks for an L4.
    expect(outcome(scheduler.request(entry('ns/l4', { demand: aJob().products(L4).build() }), 'uid-l4'))).toBe('Placed/p');
  });

  it('forgets a job that no longer waits: its offer goes back', () => {
    const { scheduler } = setup([provider('p', 8, 1)]);
    stop = () => scheduler.stop();
    scheduler.request(entry('ns/a'), 'uid-a');
    scheduler.forget('ns/a');
    expect(scheduler.sizes()).toEqual({ waiting: 0, reserved: 0 });
    expect(outcome(scheduler.request(entry('ns/b'), 'uid-b'))).toBe('Placed/p');
  });
});
