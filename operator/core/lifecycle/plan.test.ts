import type { AIJobStatus } from '../../api/types.ts';
import type { PlacementDecision } from '../placement/types.ts';
import { gpuSecondsOf, needsPlacement, planReconcile, podName } from './plan.ts';
import type { JobView, ObservedPod, PlanInput } from './types.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const job = (status: AIJobStatus = {}, over: Partial<JobView> = {}): JobView => ({
  uid: '0123456789abcdef', namespace: 'ml', name: 'train', generation: 1, deleting: false, hasFinalizer: true,
  replicas: 2, gpusPerReplica: 8, maxRestarts: 3, status, ...over,
});

const placed: PlacementDecision = {
  outcome: 'Placed',
  placement: {
    provider: 'provider-a', product: 'NVIDIA-H100-80GB-HBM3', resourceName: 'nvidia.com/gpu',
    nodeSelector: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] }],
    assignments: ['a-0', 'a-1'],
    score: { provider: 'provider-a', product: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: 2_400_000n, listCost: 1n, expectedReworkPpm: 0n, expectedCost: 1n, strandedGpus: 0, nodesUsed: 2 },
  },
  ranking: [],
  rejections: [],
};

const unschedulable: PlacementDecision = {
  outcome: 'Unschedulable',
  rejections: [
    { provider: 'provider-b', reason: 'NoMatchingProduct', message: 'no node with NVIDIA-H100-80GB-HBM3' },
    { provider: 'provider-a', reason: 'InsufficientCapacity', message: 'only 1 of 2 replicas fit' },
  ],
};

/** The status after attempt 1 was placed on provider-a. */
const scheduled = (): AIJobStatus => planReconcile({ job: job(), pods: [], podsComplete: true, placement: placed, now: T0 }).status;

const pod = (replica: number, over: Partial<ObservedPod> = {}): ObservedPod => ({
  provider: 'provider-a', name: podName({ name: 'train', uid: '0123456789abcdef' }, 1, replica), attempt: 1, replica,
  phase: 'Running', nodeName: `a-${replica}`, deleting: false, startedAt: T0 + 1_000, ...over,
});

const plan = (status: AIJobStatus, pods: ObservedPod[], over: Partial<PlanInput> = {}, jobOver: Partial<JobView> = {}) =>
  planReconcile({ job: job(status, jobOver), pods, podsComplete: true, now: T0 + 61_000, ...over });

describe('planReconcile: placing a new job', () => {
  it('records attempt 1 in status before any pod exists, then creates every replica on the chosen provider', () => {
    const p = planReconcile({ job: job({}, { hasFinalizer: false }), pods: [], podsComplete: true, placement: placed, now: T0 });
    expect(p.addFinalizer).toBe(true);
    expect(p.status.phase).toBe('Scheduled');
    expect(p.status.attempts).toEqual([{ index: 1, provider: 'provider-a', nodes: ['a-0', 'a-1'], startTime: iso(T0) }]);
    expect(p.status.placement).toMatchObject({ provider: 'provider-a', product: 'NVIDIA-H100-80GB-HBM3', resourceName: 'nvidia.com/gpu' });
    expect(p.createPods).toMatchObject({ provider: 'provider-a', attempt: 1, replicas: [0, 1] });
    expect(p.events.map((e) => e.reason)).toEqual(['Scheduled']);
    expect(p.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'True', reason: 'Placed' });
  });

  it('says why no provider fits, emits the warning once, and retries later', () => {
    const first = planReconcile({ job: job(), pods: [], podsComplete: true, placement: unschedulable, now: T0 });
    const scheduledCond = first.status.conditions?.find((c) => c.type === 'Scheduled');
    expect(first.status.phase).toBe('Pending');
    expect(scheduledCond).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(scheduledCond?.message).toBe('0/2 providers can run the job: provider-a: only 1 of 2 replicas fit; provider-b: no node with NVIDIA-H100-80GB-HBM3');
    expect(first.events).toHaveLength(1);
    expect(first.requeueAfterMs).toBeGreaterThan(0);
    const second = planReconcile({ job: job(first.status), pods: [], podsComplete: true, placement: unschedulable, now: T0 + 5_000 });
    expect(second.events).toEqual([]);
    expect(second.status).toEqual(first.status);
  });

  it('needs a placement exactly when there is no open attempt and the job is live', () => {
    expect(needsPlacement(job())).toBe(true);
    expect(needsPlacement(job(scheduled()))).toBe(false);
    expect(needsPlacement(job({ phase: 'Succeeded' }))).toBe(false);
    expect(needsPlacement(job({}, { deleting: true }))).toBe(false);
  });
});

describe('planReconcile: following an attempt', () => {
  const cases: Array<{ name: string; pods: () => ObservedPod[]; phase: string; create?: number[]; deleted?: string[]; reason?: string }> = [
    { name: 'recreates replicas that do not exist yet (e.g. after a crash between status write and pod creation)', pods: () => [pod(0, { phase: 'Pending' })], phase: 'Scheduled', create: [1] },
    { name: 'stays Scheduled while replicas are pending', pods: () => [pod(0), pod(1, { phase: 'Pending' })], phase: 'Scheduled' },
    { name: 'moves to Running when every replica runs', pods: () => [pod(0), pod(1)], phase: 'Running' },
    {
      name: 'succeeds when every replica exits 0, closing the attempt', phase: 'Succeeded', reason: 'Succeeded',
      pods: () => [pod(0, { phase: 'Succeeded', finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message: '{"outputCID":"bafyout"}' } }), pod(1, { phase: 'Succeeded', finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed' } })],
    },
    {
      name: 'fails when a replica fails on its own, and stops the others', phase: 'Failed', reason: 'Failed', deleted: ['train-01234567-a1-r1'],
      pods: () => [pod(0, { phase: 'Failed', exit: { code: 3, reason: 'Error' } }), pod(1)],
    },
  ];
  it.each(cases)('$name', ({ pods, phase, create, deleted, reason }) => {
    const p = plan(scheduled(), pods());
    expect(p.status.phase).toBe(phase);
    expect(p.createPods?.replicas).toEqual(create);
    expect(p.deletePods.map((d) => d.name)).toEqual(deleted ?? []);
    expect(p.status.attempts?.[0]?.reason).toBe(reason);
  });

  it('records the output CID and the GPU-seconds of a successful attempt', () => {
    const done = { phase: 'Succeeded' as const, finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message: '{"outputCID":"bafyout"}' } };
    const p = plan(scheduled(), [pod(0, done), pod(1, done)]);
    expect(p.status.outputCID).toBe('bafyout');
    expect(p.status.attempts?.[0]).toMatchObject({ gpuSeconds: 2 * 30 * 8, endTime: iso(T0 + 61_000) });
    expect(p.status.completionTime).toBe(iso(T0 + 61_000));
  });

  it('ignores a termination message that is not JSON', () => {
    const done = { phase: 'Succeeded' as const, exit: { code: 0, reason: 'Completed', message: 'not json {' } };
    expect(plan(scheduled(), [pod(0, done), pod(1, done)]).status.outputCID).toBeUndefined();
  });
});

describe('planReconcile: preemption', () => {
  const running = () => plan(scheduled(), [pod(0), pod(1)]).status;

  it('closes the attempt on DisruptionTarget, deletes its pods and asks for a new placement at once', () => {
    const p = plan(running(), [pod(0, { disruption: { reason: 'PreemptionByScheduler', message: 'preempted by owner' } }), pod(1)]);
    expect(p.status.phase).toBe('Rescheduling');
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Preempted: DisruptionTarget', gpuSeconds: 2 * 60 * 8 });
    expect(p.deletePods.map((d) => d.name).sort()).toEqual(['train-01234567-a1-r0', 'train-01234567-a1-r1']);
    expect(p.requeueAfterMs).toBe(0);
    expect(p.events.map((e) => e.reason)).toEqual(['Preempted']);
    expect(needsPlacement(job(p.status))).toBe(true);
  });

  it('treats a replica that vanished from a Running attempt as preempted', () => {
    const p = plan(running(), [pod(0)]);
    expect(p.status.attempts?.[0]?.reason).toBe('Preempted: PodDeleted');
  });

  it('concludes nothing from a missing pod while the provider cache is incomplete', () => {
    const p = plan(running(), [pod(0)], { podsComplete: false });
    expect(p.status.phase).toBe('Running');
    expect(p.createPods).toBeUndefined();
  });

  it('fails the job once preemptions exceed spec.recovery.maxRestarts', () => {
    const p = plan(running(), [pod(0, { disruption: { reason: 'EvictionByEvictionAPI', message: 'drained' } }), pod(1)], {}, { maxRestarts: 0 });
    expect(p.status.phase).toBe('Failed');
    expect(p.status.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ reason: 'Failed' });
  });

  it('places the next attempt with a new index', () => {
    const preempted = plan(running(), [pod(0, { disruption: { reason: 'x', message: 'y' } }), pod(1)]).status;
    const next = planReconcile({ job: job(preempted), pods: [], podsComplete: true, placement: placed, now: T0 + 120_000 });
    expect(next.status.attempts?.map((a) => a.index)).toEqual([1, 2]);
    expect(next.createPods?.attempt).toBe(2);
  });
});

describe('planReconcile: fencing, deletion, idempotence', () => {
  it('deletes pods of any attempt other than the open one', () => {
    const stale = { ...pod(0), attempt: 1, provider: 'provider-c', name: 'train-01234567-a1-r0' };
    const p = plan(scheduled(), [stale, pod(0), pod(1)]);
    expect(p.deletePods).toEqual([{ provider: 'provider-c', name: 'train-01234567-a1-r0', why: 'stale attempt' }]);
  });

  it('decides nothing and fences nothing when pods of an attempt newer than the status exist (stale view)', () => {
    const newer = { ...pod(0), attempt: 2, name: 'train-01234567-a2-r0' };
    const p = plan(scheduled(), [newer, pod(0), pod(1)]);
    expect(p.deletePods).toEqual([]);
    expect(p.status).toEqual(scheduled());
    expect(p.requeueAfterMs).toBeGreaterThan(0);
  });

  it('deletes every remote pod of a deleted job and keeps the finalizer until none is left', () => {
    const p = plan(scheduled(), [pod(0), pod(1)], {}, { deleting: true });
    expect(p.deletePods).toHaveLength(2);
    expect(p.removeFinalizer).toBe(false);
    expect(plan(scheduled(), [], {}, { deleting: true }).removeFinalizer).toBe(true);
    expect(plan(scheduled(), [], { podsComplete: false }, { deleting: true }).removeFinalizer).toBe(false);
  });

  it('writes nothing new when planned again on its own result with the same observations', () => {
    const pods = [pod(0), pod(1)];
    const first = plan(scheduled(), pods);
    const second = plan(first.status, pods, { now: T0 + 90_000 });
    expect(second.status).toEqual(first.status);
    expect(second.events).toEqual([]);
    expect(second.createPods).toBeUndefined();
    expect(second.deletePods).toEqual([]);
  });
});

describe('gpuSecondsOf', () => {
  it('counts each started pod from its start to its end (or now) times its GPUs', () => {
    expect(gpuSecondsOf([pod(0, { finishedAt: T0 + 11_000 }), pod(1), { ...pod(1), startedAt: undefined }], 2, T0 + 21_000)).toBe(20 + 40);
  });
});
