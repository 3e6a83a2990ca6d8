import type { AIJobStatus } from '../../api/types.ts';
import { claimPods, forgetPods, hubCreatedAt, podName, recordPods, UNKNOWN_ATTEMPT_GRACE_MS } from './ownership.ts';
import { gpuSecondsOf, planReconcile, RECORD_SETTLE_MS } from './plan.ts';
import type { JobView, ObservedPod } from './types.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const OUT = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const OTHER_JOBS_OUT = 'bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
const JOB = { name: 'train', uid: '0123456789abcdef', replicas: 2 };

const status = (over: Partial<NonNullable<AIJobStatus['attempts']>[number]> = {}): AIJobStatus => ({
  phase: 'Running',
  attempts: [
    {
      index: 1,
      provider: 'provider-a',
      startTime: iso(T0),
      pods: [
        { replica: 0, name: podName(JOB, 1, 0), uid: 'uid-0', createdAt: iso(T0 + 500) },
        { replica: 1, name: podName(JOB, 1, 1), uid: 'uid-1', createdAt: iso(T0 + 500) },
      ],
      ...over,
    },
  ],
  placement: { provider: 'provider-a', product: 'NVIDIA-L4', resourceName: 'nvidia.com/gpu', nodeSelector: [] },
});

const pod = (replica: number, over: Partial<ObservedPod> = {}): ObservedPod => ({
  provider: 'provider-a',
  name: podName(JOB, 1, replica),
  uid: `uid-${replica}`,
  attempt: 1,
  replica,
  phase: 'Running',
  nodeName: `a-${replica}`,
  deleting: false,
  startedAt: T0 + 1_000,
  firstSeenAt: T0 + 600,
  ...over,
});

describe("claimPods: only the operator's own pods count", () => {
  const cases: Array<{ name: string; status: AIJobStatus; pod: ObservedPod; verdict: 'own' | 'foreign' | 'unsure' | 'adopt' }> = [
    { name: 'a pod whose uid is on record is own', status: status(), pod: pod(0), verdict: 'own' },
    { name: 'a pod under a recorded replica with another uid is foreign', status: status(), pod: pod(0, { uid: 'evil' }), verdict: 'foreign' },
    {
      name: 'a pod of an attempt the job never ran (999), first seen long ago, is foreign',
      status: status(),
      pod: pod(0, { attempt: 999, name: 'x', uid: 'evil', firstSeenAt: T0 - UNKNOWN_ATTEMPT_GRACE_MS }),
      verdict: 'foreign',
    },
    {
      name: 'a pod of an attempt newer than status, just seen, is left alone (stale cache)',
      status: status(),
      pod: pod(0, { attempt: 2, name: podName(JOB, 2, 0), uid: 'new', firstSeenAt: T0 + 59_000 }),
      verdict: 'unsure',
    },
    {
      name: 'a pod of a known attempt at another provider is foreign',
      status: status(),
      pod: pod(0, { provider: 'provider-b', uid: 'evil' }),
      verdict: 'foreign',
    },
    {
      name: 'a replica with no uid recorded and the deterministic name is adopted (crash window)',
      status: status({ pods: [] }),
      pod: pod(0, { uid: 'late' }),
      verdict: 'adopt',
    },
    {
      name: 'a replica with no uid recorded and another name is foreign',
      status: status({ pods: [] }),
      pod: pod(0, { name: 'train-evil', uid: 'evil' }),
      verdict: 'foreign',
    },
    {
      name: 'a replica index beyond the gang is foreign',
      status: status({ pods: [] }),
      pod: pod(5, { name: podName(JOB, 1, 5), uid: 'evil' }),
      verdict: 'foreign',
    },
  ];
  it.each(cases)('$name', ({ status: s, pod: p, verdict }) => {
    const claims = claimPods({ ...JOB, status: s }, [p], T0 + 60_000);
    const got = claims.adopt.length > 0 ? 'adopt' : claims.own.length > 0 ? 'own' : claims.unsure.length > 0 ? 'unsure' : 'foreign';
    expect(got).toBe(verdict);
    if (verdict === 'foreign') expect(claims.foreign[0]?.violation).toMatchObject({ provider: p.provider, pod: p.name, uid: p.uid });
  });

  it("adopts with the attempt's recorded start as the billing floor", () => {
    const claims = claimPods({ ...JOB, status: status({ pods: [] }) }, [pod(0, { uid: 'late' })], T0 + 60_000);
    expect(claims.adopt).toEqual([{ replica: 0, name: podName(JOB, 1, 0), uid: 'late', createdAt: iso(T0) }]);
  });

  it('records, replaces and forgets uids per replica', () => {
    const s = recordPods(status({ pods: [] }), 1, [
      { replica: 1, name: 'b', uid: 'u1' },
      { replica: 0, name: 'a', uid: 'u0' },
    ]);
    expect(s.attempts?.[0]?.pods?.map((r) => r.uid)).toEqual(['u0', 'u1']);
    expect(recordPods(s, 1, [{ replica: 0, name: 'a', uid: 'u0b' }]).attempts?.[0]?.pods?.map((r) => r.uid)).toEqual(['u0b', 'u1']);
    expect(forgetPods(s, 1, [0]).attempts?.[0]?.pods?.map((r) => r.uid)).toEqual(['u1']);
    expect(forgetPods(s, 1, [7])).toBe(s);
  });

  it('takes the billing floor from the recorded create, else the attempt start', () => {
    const a = status().attempts?.[0];
    expect(a && hubCreatedAt(a, 0)).toBe(T0 + 500);
    expect(a && hubCreatedAt({ ...a, pods: [] }, 0)).toBe(T0);
  });
});

const view = (s: AIJobStatus): JobView => ({
  uid: JOB.uid,
  namespace: 'ml',
  name: JOB.name,
  generation: 1,
  deleting: false,
  hasFinalizer: true,
  replicas: 2,
  gpusPerReplica: 1,
  maxRestarts: 3,
  pinOutput: false,
  requiresFunding: false,
  priceDecimals: 6,
  status: s,
});

describe('planReconcile with provider-made pods', () => {
  it('ignores a provider-made attempt-999 pod: reported, deleted as foreign, the job goes on', () => {
    const evil = pod(0, { attempt: 999, name: 'train-999', uid: 'evil', firstSeenAt: T0 });
    const p = planReconcile({ job: view(status()), pods: [pod(0), pod(1), evil], podsComplete: true, now: T0 + 60_000 });
    expect(p.status.phase).toBe('Running');
    expect(p.violations).toEqual([expect.objectContaining({ provider: 'provider-a', pod: 'train-999', uid: 'evil' })]);
    expect(p.deletePods).toEqual([expect.objectContaining({ name: 'train-999', foreign: true })]);
  });

  it("does not take another job's output CID from a provider-made pod claiming replica 0", () => {
    const done = { phase: 'Succeeded' as const, finishedAt: T0 + 30_000 };
    const ours = [pod(0, { ...done, exit: { code: 0, reason: 'Completed', message: JSON.stringify({ outputCID: OUT }) } }), pod(1, done)];
    const forged = pod(0, {
      ...done,
      name: 'train-forged',
      uid: 'evil',
      exit: { code: 0, reason: 'Completed', message: JSON.stringify({ outputCID: OTHER_JOBS_OUT }) },
    });
    const p = planReconcile({ job: view(status()), pods: [forged, ...ours], podsComplete: true, now: T0 + 60_000 });
    expect(p.status.outputCID).toBe(OUT);
    const alone = planReconcile({ job: view(status()), pods: [forged, pod(1, done)], podsComplete: true, now: T0 + 60_000 });
    expect(alone.status.outputCID).toBeUndefined();
  });

  it("leaves a deleted job's finalizer to its own pods: a provider-made pod the credential cannot delete does not hold it", () => {
    const evil = pod(0, { attempt: 999, name: 'train-999', uid: 'evil' });
    const p = planReconcile({ job: { ...view(status()), deleting: true }, pods: [evil], podsComplete: true, now: T0 + 60_000 });
    expect(p.removeFinalizer).toBe(true);
  });

  it("records adopted uids in the same status write, and forgets a missing replica's uid before recreating it", () => {
    const adopted = planReconcile({
      job: view({ ...status({ pods: [] }), phase: 'Scheduled' }),
      pods: [pod(0, { phase: 'Pending', uid: 'late' })],
      podsComplete: true,
      now: T0 + 5_000,
    });
    expect(adopted.status.attempts?.[0]?.pods).toEqual([expect.objectContaining({ replica: 0, uid: 'late' })]);
    expect(adopted.createPods?.replicas).toEqual([1]);
    const recreate = planReconcile({
      job: view({ ...status(), phase: 'Scheduled' }),
      pods: [pod(0, { phase: 'Pending' })],
      podsComplete: true,
      now: T0 + 40_000,
    });
    expect(recreate.createPods?.replicas).toEqual([1]);
    expect(recreate.status.attempts?.[0]?.pods?.map((r) => r.replica)).toEqual([0]);
    // Recorded a moment ago and not in the cache yet: the record stays and the pod is not made
    // again (it exists; a second create is a wasted request answered AlreadyExists); the job is
    // looked at again by the time the record settles (created at T0 + 0.5 s, settled 30 s later).
    const young = planReconcile({ job: view({ ...status(), phase: 'Scheduled' }), pods: [pod(0, { phase: 'Pending' })], podsComplete: true, now: T0 + 5_000 });
    expect(young.createPods).toBeUndefined();
    expect(young.status.attempts?.[0]?.pods?.map((r) => r.replica)).toEqual([0, 1]);
    expect(young.requeueAfterMs).toBeLessThanOrEqual(T0 + 500 + RECORD_SETTLE_MS - (T0 + 5_000));
    // Settled and still not there: forgotten and made again.
    const settled = planReconcile({
      job: view({ ...status(), phase: 'Scheduled' }),
      pods: [pod(0, { phase: 'Pending' })],
      podsComplete: true,
      now: T0 + 500 + RECORD_SETTLE_MS + 1,
    });
    expect(settled.createPods?.replicas).toEqual([1]);
  });
});

describe("metering on the hub's clock", () => {
  it('bills a pod whose startedAt was backdated by a day only from the hub-recorded create', () => {
    const a = status().attempts?.[0];
    const backdated = pod(0, { startedAt: T0 - 86_400_000, finishedAt: T0 + 10_500, endSeenAt: T0 + 11_000 });
    expect(gpuSecondsOf([backdated], 1, T0 + 60_000, a)).toBe(10);
  });

  it('bills no later than the hub first saw the end, whatever finishedAt says', () => {
    const a = status().attempts?.[0];
    const late = pod(0, { startedAt: T0 + 500, finishedAt: T0 + 86_400_000, endSeenAt: T0 + 20_500 });
    expect(gpuSecondsOf([late], 1, T0 + 60_000, a)).toBe(20);
  });

  it('closes a Succeeded attempt billed within the hub window', () => {
    const done = { phase: 'Succeeded' as const, startedAt: T0 - 86_400_000, finishedAt: T0 + 30_500, endSeenAt: T0 + 31_000 };
    const p = planReconcile({
      job: view(status()),
      pods: [pod(0, { ...done, exit: { code: 0, reason: 'Completed', message: JSON.stringify({ outputCID: OUT }) } }), pod(1, done)],
      podsComplete: true,
      now: T0 + 60_000,
    });
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Succeeded', gpuSeconds: 60, billableGpuSeconds: 60 });
  });
});

describe('a provider that refuses the pods', () => {
  it('closes the attempt as CreateRefused at once and names the refusal', () => {
    const p = planReconcile({
      job: view({ ...status({ pods: [] }), phase: 'Scheduled' }),
      pods: [],
      podsComplete: true,
      now: T0 + 2_000,
      createRefused: { attempt: 1, message: 'pods "x" is forbidden: exceeded quota: flotilla-lent, requested: nvidia.com/gpu=1' },
    });
    expect(p.status.attempts?.[0]).toMatchObject({ reason: 'Preempted: CreateRefused' });
    expect(p.status.attempts?.[0]?.message).toContain('exceeded quota');
    expect(p.status.conditions?.find((c) => c.type === 'Preempted')).toMatchObject({ status: 'True', reason: 'CreateRefused' });
    expect(p.status.phase).toBe('Rescheduling');
  });
});
