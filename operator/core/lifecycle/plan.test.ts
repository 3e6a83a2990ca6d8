import type { AIJobStatus } from '../../api/types.ts';
import type { PlacementDecision } from '../placement/types.ts';
import { FUNDING_VERDICT_GRACE_MS, gpuSecondsOf, needsPlacement, planReconcile, podName } from './plan.ts';
import type { JobView, ObservedPod, PlanInput } from './types.ts';
import { classify } from '../reputation.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const OUT = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const CKPT = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';
const iso = (ms: number) => new Date(ms).toISOString();

const job = (status: AIJobStatus = {}, over: Partial<JobView> = {}): JobView => ({
  uid: '0123456789abcdef',
  namespace: 'ml',
  name: 'train',
  generation: 1,
  deleting: false,
  hasFinalizer: true,
  replicas: 2,
  gpusPerReplica: 8,
  maxRestarts: 3,
  pinOutput: false,
  requiresFunding: false,
  priceDecimals: 6,
  status,
  ...over,
});

const placed: PlacementDecision = {
  outcome: 'Placed',
  placement: {
    provider: 'provider-a',
    product: 'NVIDIA-H100-80GB-HBM3',
    resourceName: 'nvidia.com/gpu',
    nodeSelector: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] }],
    assignments: ['a-0', 'a-1'],
    score: {
      provider: 'provider-a',
      product: 'NVIDIA-H100-80GB-HBM3',
      pricePerGpuHour: 2_400_000n,
      listCost: 1n,
      expectedReworkPpm: 0n,
      expectedCost: 1n,
      strandedGpus: 0,
      nodesUsed: 2,
    },
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

/** Overrides; a field set to undefined removes the default (an unbound pod has no nodeName). */
type PodOverrides = { [K in keyof ObservedPod]?: ObservedPod[K] | undefined };
const pod = (replica: number, over: PodOverrides = {}): ObservedPod =>
  withoutUndefined({
    provider: 'provider-a',
    name: podName({ name: 'train', uid: '0123456789abcdef' }, 1, replica),
    attempt: 1,
    replica,
    phase: 'Running',
    nodeName: `a-${replica}`,
    deleting: false,
    startedAt: T0 + 1_000,
    ...over,
  });
function withoutUndefined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const plan = (status: AIJobStatus, pods: ObservedPod[], over: Partial<PlanInput> = {}, jobOver: Partial<JobView> = {}) =>
  planReconcile({ job: job(status, jobOver), pods, podsComplete: true, now: T0 + 61_000, ...over });

describe('planReconcile: placing a new job', () => {
  it('records attempt 1 in status before any pod exists, then creates every replica on the chosen provider', () => {
    const p = planReconcile({ job: job({}, { hasFinalizer: false }), pods: [], podsComplete: true, placement: placed, now: T0 });
    expect(p.addFinalizer).toBe(true);
    expect(p.status.phase).toBe('Scheduled');
    expect(p.status.attempts).toEqual([{ index: 1, provider: 'provider-a', nodes: ['a-0', 'a-1'], startTime: iso(T0), pricePerGpuHour: '2.4' }]);
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
    expect(needsPlacement(job(), T0)).toBe(true);
    expect(needsPlacement(job(scheduled()), T0)).toBe(false);
    expect(needsPlacement(job({ phase: 'Succeeded' }), T0)).toBe(false);
    expect(needsPlacement(job({}, { deleting: true }), T0)).toBe(false);
  });
});

describe('planReconcile: following an attempt', () => {
  const cases: Array<{ name: string; pods: () => ObservedPod[]; phase: string; create?: number[]; deleted?: string[]; reason?: string }> = [
    {
      name: 'recreates replicas that do not exist yet (e.g. after a crash between status write and pod creation)',
      pods: () => [pod(0, { phase: 'Pending' })],
      phase: 'Scheduled',
      create: [1],
    },
    { name: 'stays Scheduled while replicas are pending', pods: () => [pod(0), pod(1, { phase: 'Pending' })], phase: 'Scheduled' },
    { name: 'moves to Running when every replica runs', pods: () => [pod(0), pod(1)], phase: 'Running' },
    {
      name: 'succeeds when every replica exits 0, closing the attempt',
      phase: 'Succeeded',
      reason: 'Succeeded',
      pods: () => [
        pod(0, { phase: 'Succeeded', finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message: `{"outputCID":"${OUT}"}` } }),
        pod(1, { phase: 'Succeeded', finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed' } }),
      ],
    },
    {
      name: 'fails when a replica fails on its own, and stops the others',
      phase: 'Failed',
      reason: 'Failed',
      deleted: ['train-01234567-a1-r1'],
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
    const done = { phase: 'Succeeded' as const, finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message: `{"outputCID":"${OUT}"}` } };
    const p = plan(scheduled(), [pod(0, done), pod(1, done)]);
    expect(p.status.outputCID).toBe(OUT);
    expect(p.status.attempts?.[0]).toMatchObject({ gpuSeconds: 2 * 30 * 8, endTime: iso(T0 + 61_000) });
    expect(p.status.completionTime).toBe(iso(T0 + 61_000));
  });

  it("records a successful attempt's last checkpoint from the termination message (pinned and in the receipt like others)", () => {
    const message = JSON.stringify({ outputCID: OUT, checkpointCID: CKPT, checkpointTime: iso(T0 + 20_000) });
    const done = { phase: 'Succeeded' as const, finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message } };
    const p = plan(scheduled(), [pod(0, done), pod(1, { ...done, exit: { ...done.exit, message: `{"outputCID":"${OUT}"}` } })]);
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Succeeded', checkpointCID: CKPT, checkpointTime: iso(T0 + 20_000) });
  });

  it.each([
    ['not JSON', 'not json {', 'termination message is not JSON'],
    ['a malformed CID', '{"outputCID":"bafy-not-a-cid"}', 'outputCID "bafy-not-a-cid" is not a CID'],
    ['no outputCID', '{}', 'no replica reported an outputCID'],
  ])('fails the job with OutputInvalid when the termination message carries %s', (_what, message, why) => {
    const done = { phase: 'Succeeded' as const, exit: { code: 0, reason: 'Completed', message } };
    const p = plan(scheduled(), [pod(0, done), pod(1, done)]);
    expect(p.status.outputCID).toBeUndefined();
    expect(p.status.phase).toBe('Failed');
    const finished = p.status.conditions?.find((c) => c.type === 'Finished');
    expect(finished).toMatchObject({ status: 'True', reason: 'OutputInvalid' });
    expect(finished?.message).toContain(why);
  });

  it('waits for OutputPinned before Succeeded when spec.output.pin is set', () => {
    const done = { phase: 'Succeeded' as const, finishedAt: T0 + 31_000, exit: { code: 0, reason: 'Completed', message: `{"outputCID":"${OUT}"}` } };
    const p = plan(scheduled(), [pod(0, done), pod(1, done)], {}, { pinOutput: true });
    expect(p.status.phase).toBe('Scheduled');
    expect(p.status.outputCID).toBe(OUT);
    expect(p.status.attempts?.[0]?.reason).toBe('Succeeded');
    expect(p.status.conditions?.find((c) => c.type === 'OutputPinned')).toMatchObject({ status: 'False', reason: 'PinPending' });
    expect(p.status.conditions?.find((c) => c.type === 'Running')).toMatchObject({ reason: 'OutputPinning' });
    expect(needsPlacement(job(p.status, { pinOutput: true }), T0)).toBe(false);
    // The artifacts controller's PinFailed is left alone; a later pass still waits.
    const failedPin = {
      ...p.status,
      conditions: [
        ...(p.status.conditions ?? []).filter((c) => c.type !== 'OutputPinned'),
        { type: 'OutputPinned', status: 'False' as const, reason: 'PinFailed', message: 'timeout', lastTransitionTime: iso(T0) },
      ],
    };
    const waiting = plan(failedPin, [], {}, { pinOutput: true });
    expect(waiting.status.phase).toBe('Scheduled');
    expect(waiting.status.conditions?.find((c) => c.type === 'OutputPinned')).toMatchObject({ reason: 'PinFailed' });
    const pinned = {
      ...p.status,
      conditions: [
        ...(p.status.conditions ?? []).filter((c) => c.type !== 'OutputPinned'),
        { type: 'OutputPinned', status: 'True' as const, reason: 'Pinned', message: `${OUT} is pinned on the hub's IPFS node`, lastTransitionTime: iso(T0) },
      ],
    };
    // Pinned, but another CID (a refuted run's, docs/verification.md): still waiting.
    const pinnedOther = {
      ...pinned,
      conditions: pinned.conditions.map((c) => (c.type === 'OutputPinned' ? { ...c, message: `${CKPT} is pinned on the hub's IPFS node` } : c)),
    };
    expect(plan(pinnedOther, [pod(0, done), pod(1, done)], {}, { pinOutput: true }).status.phase).not.toBe('Succeeded');
    const finished = plan(pinned, [pod(0, done), pod(1, done)], {}, { pinOutput: true });
    expect(finished.status.phase).toBe('Succeeded');
    expect(finished.events.map((e) => e.reason)).toEqual(['Succeeded']);
    expect(finished.deletePods.map((d) => d.name).sort()).toEqual(['train-01234567-a1-r0', 'train-01234567-a1-r1']);
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
    expect(needsPlacement(job(p.status), T0 + 61_000)).toBe(true);
  });

  it("closes the attempt as the provider's fault when a replica's job agent could not restore the checkpoint", () => {
    const scheduledOnly = scheduled();
    const p = plan(scheduledOnly, [
      pod(0, { phase: 'Failed', restoreFailed: 'Kubo kept failing for 120 s: context deadline exceeded' }),
      pod(1, { phase: 'Pending' }),
    ]);
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Preempted: RestoreFailed' });
    expect(p.status.attempts?.[0]?.message).toContain('could not restore its checkpoint: Kubo kept failing');
    expect(p.status.phase).not.toBe('Failed');
    expect(p.deletePods.map((d) => d.name).sort()).toEqual(['train-01234567-a1-r0', 'train-01234567-a1-r1']);
    expect(classify('Preempted: RestoreFailed')).toBe('failed');
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
    expect(p.status.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ reason: 'RestartLimitExceeded' });
  });

  it('places the next attempt with a new index', () => {
    const preempted = plan(running(), [pod(0, { disruption: { reason: 'x', message: 'y' } }), pod(1)]).status;
    const next = planReconcile({ job: job(preempted), pods: [], podsComplete: true, placement: placed, now: T0 + 120_000 });
    expect(next.status.attempts?.map((a) => a.index)).toEqual([1, 2]);
    expect(next.createPods?.attempt).toBe(2);
  });
});

describe('planReconcile: every preemption signal', () => {
  const running = () => plan(scheduled(), [pod(0), pod(1)]).status;
  const signals: Array<[string, () => ObservedPod[], Partial<PlanInput>, string]> = [
    ['a deleted node', () => [pod(0, { node: { state: 'Missing' } }), pod(1, { node: { state: 'Ready' } })], {}, 'NodeLost'],
    ['a NotReady node', () => [pod(0, { node: { state: 'NotReady', detail: 'Ready=Unknown NodeStatusUnknown' } }), pod(1)], {}, 'NodeLost'],
    ['a reclaim taint whose deadline passed', () => [pod(0, { node: { state: 'Ready', reclaimDeadline: T0 } }), pod(1)], {}, 'NodeReclaimed'],
    [
      'a provider unreachable past the grace',
      () => [],
      { attemptProvider: { reachable: false, lastSeen: T0 }, timing: { unreachableGraceMs: 30_000 } },
      'ProviderUnreachable',
    ],
  ];
  it.each(signals)('closes the attempt on %s', (_what, pods, over, signal) => {
    const p = plan(running(), pods(), over);
    expect(p.status.phase).toBe('Rescheduling');
    expect(p.status.attempts?.[0]?.reason).toBe(`Preempted: ${signal}`);
    expect(p.status.conditions?.find((c) => c.type === 'Preempted')).toMatchObject({ status: 'True', reason: signal });
    expect(p.events.map((e) => e.reason)).toEqual(['Preempted']);
    expect(p.deletePods).toHaveLength(pods().length);
  });

  it('force-deletes the pods of a node that is gone, even those already terminating', () => {
    const p = plan(running(), [pod(0, { node: { state: 'Missing' }, deleting: true }), pod(1, { node: { state: 'Ready' } })]);
    expect(p.deletePods.map((d) => [d.name, d.gracePeriodSeconds])).toEqual([
      ['train-01234567-a1-r0', 0],
      ['train-01234567-a1-r1', undefined],
    ]);
  });

  it('force-deletes a pod still terminating 30 s after its grace ended (its kubelet is gone)', () => {
    const stale = { ...pod(0), attempt: 1, provider: 'provider-c', name: 'train-01234567-a1-r0', deleting: true };
    // Attempt 1 ran at provider-c before attempt 2 at provider-a.
    const earlier = {
      ...scheduled(),
      attempts: [
        { index: 1, provider: 'provider-c', startTime: iso(T0 - 60_000), endTime: iso(T0 - 1_000), reason: 'Preempted: PodDeleted' },
        { ...scheduled().attempts?.[0], index: 2, provider: 'provider-a' },
      ],
    };
    const current = [
      { ...pod(0), attempt: 2, name: 'train-01234567-a2-r0' },
      { ...pod(1), attempt: 2, name: 'train-01234567-a2-r1' },
    ];
    const fresh = plan(earlier, [{ ...stale, deleteBy: T0 + 60_000 }, ...current]);
    expect(fresh.deletePods).toEqual([]);
    const stuck = plan(earlier, [{ ...stale, deleteBy: T0 + 20_000 }, ...current]);
    expect(stuck.deletePods).toEqual([
      { provider: 'provider-c', name: 'train-01234567-a1-r0', why: 'stale attempt (still terminating after its grace)', gracePeriodSeconds: 0 },
    ]);
    // Had attempt 1 never run at provider-c, the pod would be the provider's own: reported, and
    // deleted once — one already terminating is the provider's business.
    const foreign = plan(scheduled(), [{ ...stale, deleteBy: T0 + 20_000 }, pod(0), pod(1)]);
    expect(foreign.deletePods).toEqual([]);
    expect(foreign.violations).toEqual([expect.objectContaining({ provider: 'provider-c', pod: 'train-01234567-a1-r0' })]);
  });

  it('does not call a finished replica on a lost node a preemption', () => {
    const done = {
      phase: 'Succeeded' as const,
      node: { state: 'Missing' as const },
      exit: { code: 0, reason: 'Completed', message: `{"outputCID":"${OUT}"}` },
    };
    expect(plan(running(), [pod(0, done), pod(1, done)]).status.phase).toBe('Succeeded');
  });

  it("counts an unreachable attempt's GPU-seconds up to the provider's last answer", () => {
    const p = plan(running(), [], { attemptProvider: { reachable: false, lastSeen: T0 + 30_000 }, timing: { unreachableGraceMs: 30_000 } });
    // Attempt started at T0; 2 replicas × 8 GPUs × 30 s; no checkpoint, so nothing billable.
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Preempted: ProviderUnreachable', gpuSeconds: 2 * 8 * 30, billableGpuSeconds: 0 });
  });

  it('waits out the grace while the provider is unreachable, saying so, and requeues for its end', () => {
    const p = plan(running(), [], { attemptProvider: { reachable: false, lastSeen: T0 + 50_000 }, timing: { unreachableGraceMs: 30_000 } });
    expect(p.status.phase).toBe('Running');
    expect(p.status.attempts?.[0]?.endTime).toBeUndefined();
    expect(p.status.conditions?.find((c) => c.type === 'Running')).toMatchObject({ status: 'Unknown', reason: 'ProviderUnreachable' });
    expect(p.requeueAfterMs).toBe(T0 + 80_000 - (T0 + 61_000));
    expect(p.createPods).toBeUndefined();
  });

  it('drains a reclaimed node until its deadline (SIGTERM with the remaining grace), then closes the attempt', () => {
    const deadline = T0 + 61_000 + 45_000;
    const tainted = (over: PodOverrides = {}) => [pod(0, { node: { state: 'Ready', reclaimDeadline: deadline }, ...over }), pod(1)];
    const draining = plan(running(), tainted());
    expect(draining.status.attempts?.[0]?.endTime).toBeUndefined();
    expect(draining.deletePods.map((d) => d.gracePeriodSeconds)).toEqual([45, 45]);
    expect(draining.status.conditions?.find((c) => c.type === 'Running')).toMatchObject({ reason: 'NodeReclaiming' });
    expect(draining.events.map((e) => e.reason)).toEqual(['Reclaiming']);
    expect(draining.requeueAfterMs).toBe(45_000);
    // The replicas checkpointed on SIGTERM and left: the attempt closes with that checkpoint.
    const message = JSON.stringify({ checkpointCID: CKPT, checkpointTime: iso(T0 + 41_000) });
    const gone = plan(draining.status, [pod(0, { phase: 'Failed', deleting: true, finishedAt: T0 + 62_000, exit: { code: 143, reason: 'Error', message } })], {
      now: T0 + 63_000,
    });
    expect(gone.status.attempts?.[0]).toMatchObject({ reason: 'Preempted: NodeReclaimed', checkpointCID: CKPT, checkpointTime: iso(T0 + 41_000) });
    expect(gone.status.phase).toBe('Rescheduling');
  });

  /** A node reclaimed with a deadline, the replicas draining; then a checkpoint reported live (status) at `checkpointAt`. */
  const drainingWithCheckpoint = (checkpointAt: number) => {
    const draining = plan(running(), [pod(0, { node: { state: 'Ready', reclaimDeadline: T0 + 61_000 + 45_000 } }), pod(1)]);
    const reported = {
      ...draining.status,
      attempts: (draining.status.attempts ?? []).map((a) => ({ ...a, checkpointCID: CKPT, checkpointTime: iso(checkpointAt) })),
    };
    return { draining, reported };
  };

  it('records at least the billed run time when the drained pods left no trace (removed at once with their node)', () => {
    // The replicas' checkpoint was reported live, then both pods vanished: nothing observed ran.
    const { reported } = drainingWithCheckpoint(T0 + 41_000);
    const gone = plan(reported, [], { now: T0 + 63_000 });
    const closed = gone.status.attempts?.[0];
    expect(closed).toMatchObject({ reason: 'Preempted: NodeReclaimed', checkpointCID: CKPT });
    expect(closed?.billableGpuSeconds).toBe(41 * 8 * 2);
    expect(closed?.gpuSeconds).toBeGreaterThanOrEqual(closed?.billableGpuSeconds ?? Infinity);
  });

  it("never bills past the hub's clock: a checkpoint time ahead of now is read as now", () => {
    // A status written before reports were clamped (or a replica's clock) puts the checkpoint 10 min ahead.
    const { draining, reported: ahead } = drainingWithCheckpoint(T0 + 600_000);
    const gone = plan(ahead, [], { now: T0 + 63_000 });
    const closed = gone.status.attempts?.[0];
    // The attempt started at T0, closed at T0+63s: 63 s × 8 GPUs × 2 replicas, not the 600 s the time claims.
    expect(closed?.billableGpuSeconds).toBe(63 * 8 * 2);
    expect(closed?.checkpointTime).toBe(iso(T0 + 63_000));
    // The same from a termination message while the pods are still observed.
    const message = JSON.stringify({ checkpointCID: CKPT, checkpointTime: iso(T0 + 600_000) });
    const exited = plan(
      draining.status,
      [pod(0, { phase: 'Failed', deleting: true, finishedAt: T0 + 62_000, exit: { code: 143, reason: 'Error', message } })],
      {
        now: T0 + 63_000,
      },
    );
    expect(exited.status.attempts?.[0]?.checkpointTime).toBe(iso(T0 + 63_000));
  });

  it('times out replicas that stay Pending past the bind timeout', () => {
    const pending = [pod(0, { phase: 'Pending', nodeName: undefined, startedAt: undefined }), pod(1)];
    expect(plan(scheduled(), pending, { timing: { bindTimeoutMs: 120_000 } }).status.attempts?.[0]?.endTime).toBeUndefined();
    expect(plan(scheduled(), pending, { timing: { bindTimeoutMs: 120_000 } }).requeueAfterMs).toBeLessThanOrEqual(5_000);
    const late = plan(scheduled(), pending, { timing: { bindTimeoutMs: 60_000 } });
    expect(late.status.attempts?.[0]?.reason).toBe('Preempted: BindTimeout');
    expect(late.status.attempts?.[0]?.message).toContain('(unbound)');
  });

  it('bills a preempted attempt up to its last checkpoint and hands that checkpoint to the next attempt', () => {
    const withCheckpoint = { ...running(), attempts: (running().attempts ?? []).map((a) => ({ ...a, checkpointCID: CKPT, checkpointTime: iso(T0 + 21_000) })) };
    const p = plan(withCheckpoint, [pod(0, { disruption: { reason: 'PreemptionByScheduler', message: 'x' } }), pod(1)]);
    // Two replicas × 8 GPUs, started at T0+1s: 60 s used, 20 s of it before the checkpoint.
    expect(p.status.attempts?.[0]).toMatchObject({ gpuSeconds: 2 * 60 * 8, billableGpuSeconds: 2 * 20 * 8, checkpointCID: CKPT });
    expect(p.status.conditions?.find((c) => c.type === 'Scheduled')?.message).toContain(`resuming from checkpoint ${CKPT}`);
    const none = plan(running(), [pod(0, { disruption: { reason: 'PreemptionByScheduler', message: 'x' } }), pod(1)]);
    expect(none.status.attempts?.[0]).toMatchObject({ billableGpuSeconds: 0 });
  });

  it('places the first failover at once and backs off exponentially after repeated preemptions', () => {
    const preempt = (status: AIJobStatus, now: number, index: number) => {
      const pods = [0, 1].map((r) => ({ ...pod(r), attempt: index, name: `train-01234567-a${index}-r${r}`, disruption: { reason: 'x', message: 'y' } }));
      return planReconcile({ job: job(status), pods, podsComplete: true, now });
    };
    const first = preempt(running(), T0 + 61_000, 1);
    expect(first.requeueAfterMs).toBe(0);
    const second = planReconcile({ job: job(first.status), pods: [], podsComplete: true, placement: placed, now: T0 + 62_000 });
    const secondRunning = { ...second.status, phase: 'Running' as const };
    const again = preempt(secondRunning, T0 + 70_000, 2);
    expect(again.requeueAfterMs).toBe(5_000);
    expect(needsPlacement(job(again.status), T0 + 72_000)).toBe(false);
    const waiting = planReconcile({ job: job(again.status), pods: [], podsComplete: true, now: T0 + 72_000 });
    expect(waiting.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ reason: 'RestartBackoff' });
    expect(waiting.requeueAfterMs).toBe(3_000);
    expect(needsPlacement(job(again.status), T0 + 75_000)).toBe(true);
  });
});

describe('planReconcile: funding gate', () => {
  it("leaves a new job's first status write to the funding controller's verdict, and says it waits once the grace is over", () => {
    const fresh = job({}, { requiresFunding: true, createdAt: T0 });
    const early = planReconcile({ job: fresh, pods: [], podsComplete: true, now: T0 + 1_000 });
    // Nothing to write: the Funded verdict is the first write, and it wakes the job.
    expect(early.status).toEqual({});
    expect(early.events ?? []).toEqual([]);
    expect(early.createPods).toBeUndefined();
    expect(early.requeueAfterMs).toBe(FUNDING_VERDICT_GRACE_MS - 1_000);
    // No verdict within the grace: the lifecycle says what the job waits for.
    const late = planReconcile({ job: fresh, pods: [], podsComplete: true, now: T0 + FUNDING_VERDICT_GRACE_MS });
    expect(late.status.phase).toBe('Pending');
    expect(late.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'AwaitingFunding' });
    // A verdict in (here: not funded yet) is answered at once, grace or not.
    const judged = {
      conditions: [{ type: 'Funded', status: 'Unknown' as const, reason: 'ChainUnreachable', message: 'no answer', lastTransitionTime: iso(T0) }],
    };
    const answered = planReconcile({ job: job(judged, { requiresFunding: true, createdAt: T0 }), pods: [], podsComplete: true, now: T0 + 500 });
    expect(answered.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'AwaitingFunding' });
    // A job that already has a phase (a restart, a status from before) is not held back.
    const pending = planReconcile({ job: job({ phase: 'Pending' }, { requiresFunding: true, createdAt: T0 }), pods: [], podsComplete: true, now: T0 + 500 });
    expect(pending.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ reason: 'AwaitingFunding' });
  });

  it('places nothing for a job with spec.payment until Funded is True, and says what it waits for', () => {
    const unfunded = {
      conditions: [
        { type: 'Funded', status: 'False' as const, reason: 'InsufficientDeposit', message: 'deposit 10 USDC, 40 USDC missing', lastTransitionTime: iso(T0) },
      ],
    };
    expect(needsPlacement(job(unfunded, { requiresFunding: true }), T0)).toBe(false);
    const p = planReconcile({ job: job(unfunded, { requiresFunding: true }), pods: [], podsComplete: true, now: T0 });
    expect(p.status.phase).toBe('Pending');
    expect(p.createPods).toBeUndefined();
    expect(p.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'AwaitingFunding' });
    expect(p.status.conditions?.find((c) => c.type === 'Scheduled')?.message).toContain('40 USDC missing');
    const funded = {
      conditions: [{ type: 'Funded', status: 'True' as const, reason: 'EscrowDeposited', message: 'deposit 50 USDC', lastTransitionTime: iso(T0) }],
    };
    expect(needsPlacement(job(funded, { requiresFunding: true }), T0)).toBe(true);
    // Funded but no provider fits yet: the phase says the money is in.
    const waiting = planReconcile({ job: job(funded, { requiresFunding: true }), pods: [], podsComplete: true, placement: unschedulable, now: T0 });
    expect(waiting.status.phase).toBe('Funded');
  });
});

describe('planReconcile: fencing, deletion, idempotence', () => {
  it('deletes pods of any attempt other than the open one', () => {
    const stale = { ...pod(0), attempt: 1, provider: 'provider-c', name: 'train-01234567-a1-r0' };
    const p = plan(scheduled(), [stale, pod(0), pod(1)]);
    // Attempt 1 never ran at provider-c: the pod is the provider's own (ownership.ts).
    expect(p.deletePods).toEqual([{ provider: 'provider-c', name: 'train-01234567-a1-r0', why: "provider-made pod with the job's labels", foreign: true }]);
    const earlier = {
      ...scheduled(),
      attempts: [
        { index: 1, provider: 'provider-c', startTime: iso(T0 - 60_000), endTime: iso(T0 - 1_000), reason: 'Preempted: PodDeleted' },
        { ...scheduled().attempts?.[0], index: 2, provider: 'provider-a' },
      ],
    };
    const fenced = plan(earlier, [stale, { ...pod(0), attempt: 2, name: 'train-01234567-a2-r0' }, { ...pod(1), attempt: 2, name: 'train-01234567-a2-r1' }]);
    expect(fenced.deletePods).toEqual([{ provider: 'provider-c', name: 'train-01234567-a1-r0', why: 'stale attempt' }]);
    expect(fenced.violations).toEqual([]);
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
    expect(gpuSecondsOf([pod(0, { finishedAt: T0 + 11_000 }), pod(1), pod(1, { startedAt: undefined })], 2, T0 + 21_000)).toBe(20 + 40);
  });
});

describe('planReconcile: spec.deadline', () => {
  const runningStatus = () => plan(scheduled(), [pod(0), pod(1)], { now: T0 + 5_000 }).status;

  it('asks to be woken at the deadline while the job runs', () => {
    const p = plan(runningStatus(), [pod(0), pod(1)], { now: T0 + 10_000 }, { deadline: T0 + 40_000 });
    expect(p.status.phase).toBe('Running');
    expect(p.requeueAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('ends a running job at its deadline: attempt closed and billed for what it used, pods deleted, Failed', () => {
    const p = plan(runningStatus(), [pod(0), pod(1)], { now: T0 + 41_000 }, { deadline: T0 + 40_000 });
    expect(p.status.phase).toBe('Failed');
    expect(p.status.conditions?.find((c) => c.type === 'Finished')).toMatchObject({
      status: 'True',
      reason: 'DeadlineExceeded',
      message: `spec.deadline ${iso(T0 + 40_000)} passed before the job finished`,
    });
    // Two replicas × 8 GPUs × 40 s since they started.
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'DeadlineExceeded', gpuSeconds: 640, billableGpuSeconds: 640 });
    expect(p.deletePods.map((d) => d.name).sort()).toEqual([pod(0).name, pod(1).name]);
    expect(p.events.map((e) => e.reason)).toEqual(['DeadlineExceeded']);
  });

  it('fails a job never placed once its deadline passed, without placing it', () => {
    const p = planReconcile({ job: job({}, { deadline: T0 - 1 }), pods: [], podsComplete: true, placement: placed, now: T0 });
    expect(p.status.phase).toBe('Failed');
    expect(p.createPods).toBeUndefined();
    expect(p.status.attempts ?? []).toEqual([]);
  });

  it('leaves a job whose work is done and only waits for its pin to finish', () => {
    const done = plan(
      runningStatus(),
      [pod(0, { phase: 'Succeeded', exit: { code: 0, reason: 'Completed', message: JSON.stringify({ outputCID: OUT }) } }), pod(1, { phase: 'Succeeded' })],
      { now: T0 + 20_000 },
      { pinOutput: true },
    );
    expect(done.status.phase).not.toBe('Failed');
    const later = plan(done.status, [], { now: T0 + 50_000 }, { pinOutput: true, deadline: T0 + 40_000 });
    expect(later.status.phase).not.toBe('Failed');
    expect(later.status.conditions?.find((c) => c.type === 'Finished')?.reason).not.toBe('DeadlineExceeded');
  });
});
