import { aJob, gpuNode, gpuProvider, H100 } from '../../../test/support/placement-fixtures.ts';
import { indexProviders } from '../placement/provider-index.ts';
import type { ProviderSnapshot } from '../placement/types.ts';
import { clampPriority, compareEntries, emptied, groupIdOf, headHold, insertOrdered, removeOrdered, scheduleCycle, shapeOf } from './queue.ts';
import type { CycleInput, QueueEntry, QueueGroup, QueueVerdict } from './queue.ts';

const now = Date.UTC(2026, 11, 5);

function entry(key: string, over: Partial<QueueEntry> & { gpus?: number; replicas?: number } = {}): QueueEntry {
  const { gpus = 1, replicas = 1, ...rest } = over;
  return {
    key,
    namespace: key.split('/')[0] ?? 'ns',
    priority: 0,
    createdAt: now,
    recovery: false,
    attempt: 1,
    demand: aJob().products(H100).replicas(replicas).gpus(gpus).build(),
    ...rest,
  };
}

/** One provider, `nodes` nodes of 8 H100s with `free` free on each. */
function provider(name: string, nodes: number, free: number): ProviderSnapshot {
  const b = gpuProvider(name).price(H100, '2.00');
  for (let i = 0; i < nodes; i++) b.nodes(gpuNode(`${name}-${i}`).product(H100, 8).freeGpus(free));
  return b.build();
}

/** The waiting jobs grouped as the scheduler keeps them (namespace and shape, queue order). */
function grouped(entries: readonly QueueEntry[]): QueueGroup[] {
  const groups = new Map<string, QueueGroup & { entries: QueueEntry[] }>();
  for (const e of entries) {
    const shape = shapeOf(e.demand);
    const id = groupIdOf(e.namespace, shape);
    const group = groups.get(id) ?? { id, shape, entries: [] };
    insertOrdered(group.entries, e);
    groups.set(id, group);
  }
  return [...groups.values()];
}

/** One cycle over the entries, and each entry's verdict: its placement, or its group's shared verdict. */
function cycle(entries: QueueEntry[], providers: ProviderSnapshot[], over: Partial<CycleInput> = {}) {
  const groups = grouped(entries);
  const result = scheduleCycle({
    groups,
    snapshots: new Map(providers.map((p) => [p.name, p])),
    index: indexProviders(providers),
    usage: new Map(),
    quotaOf: () => undefined,
    headHolds: false,
    now,
    ...over,
  });
  const verdicts = new Map<string, QueueVerdict>();
  for (const g of groups) for (const e of g.entries) verdicts.set(e.key, result.placed.get(e.key) ?? (result.failed.get(g.id) as QueueVerdict));
  return { ...result, verdicts };
}

const outcome = (v: QueueVerdict | undefined) => (v === undefined ? 'none' : v.outcome === 'Queued' ? `Queued/${v.reason}` : v.outcome);

describe('queue order', () => {
  it('goes recovery lane, then priority (high first), then creation time, then key', () => {
    const entries = [
      entry('a/old-low', { priority: -5, createdAt: now - 9_000 }),
      entry('a/new-high', { priority: 10, createdAt: now }),
      entry('a/old-high', { priority: 10, createdAt: now - 1_000 }),
      entry('a/replacement', { priority: -1000, recovery: true, createdAt: now }),
      entry('a/b-same', { priority: 0, createdAt: now }),
      entry('a/a-same', { priority: 0, createdAt: now }),
    ];
    expect([...entries].sort(compareEntries).map((e) => e.key)).toEqual(['a/replacement', 'a/old-high', 'a/new-high', 'a/a-same', 'a/b-same', 'a/old-low']);
  });

  it('clamps priorities outside the admitted range (a webhook outage let one in)', () => {
    expect([clampPriority(5000), clampPriority(-5000), clampPriority(2.7), clampPriority(undefined), clampPriority('9')]).toEqual([1000, -1000, 2, 0, 0]);
  });

  it('gives scarce capacity to the higher priority, whatever the order the jobs arrived in', () => {
    const result = cycle([entry('a/low', { createdAt: now - 60_000 }), entry('a/high', { priority: 1 })], [provider('p', 1, 1)]);
    expect(outcome(result.verdicts.get('a/high'))).toBe('Placed');
    expect(outcome(result.verdicts.get('a/low'))).toBe('Unschedulable');
  });
});

describe('a cycle', () => {
  it('reserves each placement before the next decision: no two jobs get the same GPUs', () => {
    const jobs = Array.from({ length: 12 }, (_, i) => entry(`a/j${String(i).padStart(2, '0')}`));
    const result = cycle(jobs, [provider('p', 2, 5)]);
    const placed = jobs.filter((j) => result.verdicts.get(j.key)?.outcome === 'Placed');
    expect(placed).toHaveLength(10);
    const perNode = new Map<string, number>();
    for (const j of placed) {
      const v = result.verdicts.get(j.key);
      if (v?.outcome === 'Placed') for (const n of v.placement.assignments) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    }
    expect(Object.fromEntries(perNode)).toEqual({ 'p-0': 5, 'p-1': 5 });
    expect(result.snapshots.get('p')?.nodes.map((n) => n.free.extended['nvidia.com/gpu'])).toEqual([0, 0]);
  });

  it('searches a shape once: jobs asking the same that fail share the first failure', () => {
    const jobs = Array.from({ length: 500 }, (_, i) => entry(`a/j${i}`, { gpus: 8 }));
    const result = cycle(jobs, [provider('p', 3, 4)]);
    expect(result.decided).toHaveLength(1);
    expect([...result.verdicts.values()].every((v) => v.outcome === 'Unschedulable')).toBe(true);
  });

  it('reads a group only up to its first job that does not fit: 5,000 waiting, one GPU free, two jobs looked at', () => {
    const jobs = Array.from({ length: 5_000 }, (_, i) => entry(`a/j${i}`, { createdAt: now + i }));
    const result = cycle(jobs, [provider('p', 1, 1)]);
    expect(result.visited).toBe(2);
    expect(result.decided).toEqual(['Placed', 'Unschedulable']);
    expect([...result.placed.keys()]).toEqual(['a/j0']);
    expect(outcome(result.verdicts.get('a/j4999'))).toBe('Unschedulable');
  });

  it('keeps queue order across groups: the merge of their heads, not one group after another', () => {
    // Four GPUs free, five asked, in two shapes and two namespaces: the first three in queue order get them.
    const jobs = [
      entry('a/one-late', { createdAt: now + 3 }),
      entry('b/one-first', { createdAt: now }),
      entry('a/two-second', { gpus: 2, createdAt: now + 1 }),
      entry('b/one-third', { createdAt: now + 2, priority: -1 }),
    ];
    const result = cycle(jobs, [provider('p', 1, 4)]);
    expect(Object.fromEntries([...result.verdicts].map(([k, v]) => [k, outcome(v)]))).toEqual({
      'b/one-first': 'Placed',
      'a/two-second': 'Placed',
      'a/one-late': 'Placed',
      'b/one-third': 'Unschedulable',
    });
  });

  it("shares a failed shape's verdict with another namespace's group without searching again", () => {
    const jobs = [entry('a/big', { gpus: 8 }), entry('b/big', { gpus: 8 }), entry('c/big', { gpus: 8 })];
    const result = cycle(jobs, [provider('p', 2, 4)]);
    expect(result.decided).toEqual(['Unschedulable']);
    expect(result.failed.size).toBe(3);
  });

  it('lets a small job backfill past a gang that does not fit (no head hold)', () => {
    const result = cycle([entry('a/gang', { replicas: 2, gpus: 8, priority: 5 }), entry('a/small')], [provider('p', 2, 4)]);
    expect(outcome(result.verdicts.get('a/gang'))).toBe('Unschedulable');
    expect(outcome(result.verdicts.get('a/small'))).toBe('Placed');
  });
});

describe('namespace GPU quota', () => {
  it('queues what would take the namespace past its quota, counting what it holds and what this cycle placed', () => {
    const result = cycle(
      [entry('team/a', { gpus: 2 }), entry('team/b', { gpus: 2 }), entry('team/c', { gpus: 1 }), entry('other/d', { gpus: 4 })],
      [provider('p', 2, 8)],
      {
        usage: new Map([['team', 1]]),
        quotaOf: (ns) => (ns === 'team' ? 4 : undefined),
      },
    );
    expect(Object.fromEntries([...result.verdicts].map(([k, v]) => [k, outcome(v)]))).toEqual({
      'team/a': 'Placed',
      'team/b': 'Queued/NamespaceQuota',
      'team/c': 'Placed',
      'other/d': 'Placed',
    });
    const b = result.verdicts.get('team/b');
    expect(b?.outcome === 'Queued' && b.message).toBe('namespace team holds 3 GPUs of its quota of 4 (flotilla.dev/gpu-quota); this job needs 2 more');
  });

  it('a quota of 0 places nothing there', () => {
    const result = cycle([entry('team/a')], [provider('p', 1, 8)], { quotaOf: () => 0 });
    expect(outcome(result.verdicts.get('team/a'))).toBe('Queued/NamespaceQuota');
  });
});

describe('a big gang at the head of the queue', () => {
  const policy = { holdAfterMs: 60_000, holdForMs: 120_000 };

  it('holds after waiting holdAfterMs, lets go after holdForMs more, and waits again from zero', () => {
    const head = [entry('a/gang', { replicas: 2, gpus: 8 })];
    let state = headHold(head, {}, now, policy).state;
    expect(headHold(head, state, now + 59_000, policy).holds).toBe(false);
    expect(headHold(head, state, now + 60_000, policy).holds).toBe(true);
    expect(headHold(head, state, now + 179_000, policy).holds).toBe(true);
    const letGo = headHold(head, state, now + 180_000, policy);
    expect(letGo.holds).toBe(false);
    state = letGo.state;
    expect(headHold(head, state, now + 239_000, policy).holds).toBe(false);
    expect(headHold(head, state, now + 240_000, policy).holds).toBe(true);
  });

  it('a new head starts its own wait', () => {
    const state = headHold([entry('a/first')], {}, now, policy).state;
    expect(headHold([entry('a/second')], state, now + 100_000, policy).holds).toBe(false);
  });

  it('while holding, smaller jobs go only where the gang could never fit; elsewhere they wait, named', () => {
    // p-big: two 8-GPU nodes half busy (the gang of 2×8 fits once they drain); p-small: one 4-GPU node.
    const big = provider('p-big', 2, 4);
    const small = gpuProvider('p-small').price(H100, '2.00').nodes(gpuNode('s-0').product(H100, 4).freeGpus(1)).build();
    const providers = [big, small];
    const entries = [entry('a/gang', { replicas: 2, gpus: 8, createdAt: now - 1 }), entry('a/one'), entry('a/two'), entry('a/three')];
    const result = cycle(entries, providers, { headHolds: true, capacity: indexProviders(providers.map(emptied)) });
    const got = Object.fromEntries([...result.verdicts].map(([k, v]) => [k, v.outcome === 'Placed' ? `Placed/${v.placement.provider}` : outcome(v)]));
    expect(got).toEqual({ 'a/gang': 'Unschedulable', 'a/one': 'Placed/p-small', 'a/two': 'Queued/HeldForHead', 'a/three': 'Queued/HeldForHead' });
    const two = result.verdicts.get('a/two');
    expect(two?.outcome === 'Queued' && two.message).toContain('a/gang (16 GPUs) is first in the queue');
    // Without the hold the same cycle backfills the big provider.
    const free = cycle(entries, providers);
    expect(outcome(free.verdicts.get('a/two'))).toBe('Placed');
  });

  it('a head that could never fit anywhere holds nothing', () => {
    const providers = [provider('p', 2, 8)];
    const entries = [entry('a/huge', { replicas: 4, gpus: 8 }), entry('a/one')];
    const result = cycle(entries, providers, { headHolds: true, capacity: indexProviders(providers.map(emptied)) });
    expect(outcome(result.verdicts.get('a/one'))).toBe('Placed');
  });
});

describe('a list kept in queue order', () => {
  it('inserts where the order says and removes by key among equals', () => {
    const list: QueueEntry[] = [];
    for (const e of [entry('a/c'), entry('a/a'), entry('a/hi', { priority: 3 }), entry('a/b'), entry('a/r', { recovery: true })]) insertOrdered(list, e);
    expect(list.map((e) => e.key)).toEqual(['a/r', 'a/hi', 'a/a', 'a/b', 'a/c']);
    expect(removeOrdered(list, entry('a/b'))).toBe(true);
    expect(removeOrdered(list, entry('a/b'))).toBe(false);
    // The same key ordered elsewhere (another priority) is not the entry kept: nothing removed.
    expect(removeOrdered(list, entry('a/hi'))).toBe(false);
    expect(list.map((e) => e.key)).toEqual(['a/r', 'a/hi', 'a/a', 'a/c']);
  });
});
