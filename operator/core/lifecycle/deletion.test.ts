// A deleted job is stopped, not unpaid: its open attempt is closed and metered on deletion (the
// payments side then settles it before its own finalizer lets the job go), and a paid hub ends an
// unpaid job that its namespace does not allow instead of placing it.
import type { AIJobStatus } from '../../api/types.ts';
import type { PlacementDecision } from '../placement/types.ts';
import { planReconcile, podName } from './plan.ts';
import type { JobView, ObservedPod } from './types.ts';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const UID = '0123456789abcdef';

const job = (status: AIJobStatus = {}, over: Partial<JobView> = {}): JobView => ({
  uid: UID,
  namespace: 'ml',
  name: 'train',
  generation: 1,
  deleting: false,
  hasFinalizer: true,
  replicas: 2,
  gpusPerReplica: 4,
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

const pod = (replica: number, over: Partial<ObservedPod> = {}): ObservedPod => ({
  provider: 'provider-a',
  name: podName({ name: 'train', uid: UID }, 1, replica),
  attempt: 1,
  replica,
  phase: 'Running',
  nodeName: `a-${replica}`,
  deleting: false,
  startedAt: T0 + 1_000,
  ...over,
});

const running = (): AIJobStatus => {
  const scheduled = planReconcile({ job: job(), pods: [], podsComplete: true, placement: placed, now: T0 }).status;
  return planReconcile({ job: job(scheduled), pods: [pod(0), pod(1)], podsComplete: true, now: T0 + 5_000 }).status;
};

describe('deleting a job with an open attempt', () => {
  it('closes the attempt, metering both replicas up to now, and stops the pods', () => {
    const status = running();
    expect(status.phase).toBe('Running');
    const p = planReconcile({ job: job(status, { deleting: true }), pods: [pod(0), pod(1)], podsComplete: true, now: T0 + 31_000 });
    const attempt = p.status.attempts?.at(-1);
    expect(attempt).toMatchObject({ index: 1, provider: 'provider-a', reason: 'Deleted', endTime: iso(T0 + 31_000) });
    // 2 replicas × 4 GPUs × 30 s (each ran from T0+1 s).
    expect(attempt?.gpuSeconds).toBe(240);
    expect(attempt?.billableGpuSeconds).toBe(240);
    expect(p.deletePods.map((d) => d.name).sort()).toEqual([pod(0).name, pod(1).name]);
    expect(p.removeFinalizer).toBe(false);
  });

  it('closes it once: the next pass (pods terminating, then gone) changes no attempt and lets its own finalizer go', () => {
    const first = planReconcile({ job: job(running(), { deleting: true }), pods: [pod(0), pod(1)], podsComplete: true, now: T0 + 31_000 });
    const terminating = planReconcile({
      job: job(first.status, { deleting: true }),
      pods: [pod(0, { deleting: true }), pod(1, { deleting: true })],
      podsComplete: true,
      now: T0 + 32_000,
    });
    expect(terminating.status.attempts).toEqual(first.status.attempts);
    const gone = planReconcile({ job: job(terminating.status, { deleting: true }), pods: [], podsComplete: true, now: T0 + 40_000 });
    expect(gone.status.attempts).toEqual(first.status.attempts);
    expect(gone.removeFinalizer).toBe(true);
  });

  it("leaves the attempt open while the provider's pods are not all in view (nothing to meter from)", () => {
    const status = running();
    const p = planReconcile({ job: job(status, { deleting: true }), pods: [], podsComplete: false, now: T0 + 31_000 });
    expect(p.status.attempts?.at(-1)?.endTime).toBeUndefined();
    expect(p.removeFinalizer).toBe(false);
  });
});

describe('a paid hub and a job without spec.payment', () => {
  const funded = (status: 'True' | 'False', reason: string, message: string): AIJobStatus => ({
    conditions: [{ type: 'Funded', status, reason, message, lastTransitionTime: iso(T0), observedGeneration: 1 }],
  });

  it('ends Failed, naming spec.payment, when the funding controller refused it; nothing is placed', () => {
    const message = 'spec.payment is required: this hub pays providers through the escrow and namespace ml does not allow unpaid jobs';
    const p = planReconcile({ job: job(funded('False', 'PaymentRequired', message), { requiresFunding: true }), pods: [], podsComplete: true, now: T0 });
    expect(p.status.phase).toBe('Failed');
    expect(p.status.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ status: 'True', reason: 'PaymentRequired', message });
    expect(p.createPods).toBeUndefined();
    expect(p.status.attempts ?? []).toEqual([]);
  });

  it('waits (not terminal) while Funded is not yet decided', () => {
    const p = planReconcile({ job: job({}, { requiresFunding: true }), pods: [], podsComplete: true, now: T0 });
    expect(p.status.phase).toBe('Pending');
    expect(p.status.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'AwaitingFunding' });
  });

  it('is placed once its namespace allows unpaid jobs (Funded=True UnpaidAllowed)', () => {
    const p = planReconcile({
      job: job(funded('True', 'UnpaidAllowed', 'namespace ml allows unpaid jobs'), { requiresFunding: true }),
      pods: [],
      podsComplete: true,
      placement: placed,
      now: T0,
    });
    expect(p.status.phase).toBe('Scheduled');
    expect(p.createPods).toMatchObject({ provider: 'provider-a', attempt: 1 });
  });
});
