// The lifecycle of a job whose run is re-executed (docs/verification.md), pass by pass, as the
// controller drives it: each pass's status is the next pass's input.
import type { AIJobStatus } from '../../api/types.ts';
import type { PlacementDecision } from '../placement/types.ts';
import { effectiveVerification } from '../verification/verdict.ts';
import { needsPlacement, planReconcile, podName } from './plan.ts';
import type { JobView, ObservedPod } from './types.ts';

const T0 = Date.parse('2026-12-05T10:00:00Z');
// Real CIDs: the termination message parser checks them.
const X = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
const Y = 'bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u';
const UID = '0123456789abcdef';

const job = (status: AIJobStatus, drawn = true, over: Partial<JobView> = {}, compare: 'Exact' | 'Checker' = 'Exact'): JobView => ({
  uid: UID,
  namespace: 'ml',
  name: 'train',
  generation: 1,
  deleting: false,
  hasFinalizer: true,
  replicas: 1,
  gpusPerReplica: 1,
  maxRestarts: 1,
  pinOutput: false,
  requiresFunding: false,
  priceDecimals: 6,
  verify: { policy: { ...effectiveVerification({ mode: 'SpotCheck', sampleRate: 0.1, windowMs: 600_000 }), compare }, drawn },
  status,
  ...over,
});

const placedOn = (provider: string): PlacementDecision => ({
  outcome: 'Placed',
  placement: {
    provider,
    product: 'NVIDIA-H100-80GB-HBM3',
    resourceName: 'nvidia.com/gpu',
    nodeSelector: [],
    assignments: [`${provider}-0`],
    score: {
      provider,
      product: 'NVIDIA-H100-80GB-HBM3',
      pricePerGpuHour: 2_000_000n,
      listCost: 1n,
      expectedReworkPpm: 0n,
      expectedCost: 1n,
      strandedGpus: 0,
      nodesUsed: 1,
    },
  },
  ranking: [],
  rejections: [],
});

const succeeded = (provider: string, attempt: number, cid: string, at: number): ObservedPod => ({
  provider,
  name: podName({ name: 'train', uid: UID }, attempt, 0),
  attempt,
  replica: 0,
  phase: 'Succeeded',
  nodeName: `${provider}-0`,
  deleting: false,
  startedAt: at - 60_000,
  finishedAt: at,
  exit: { code: 0, reason: 'Completed', message: JSON.stringify({ outputCID: cid }) },
});
const failed = (provider: string, attempt: number, at: number): ObservedPod => ({
  ...succeeded(provider, attempt, X, at),
  phase: 'Failed',
  exit: { code: 1, reason: 'Error', message: '{}' },
});

/** Places the next attempt on `provider` and ends it with `pod`; returns the status after both passes. */
function runOn(status: AIJobStatus, provider: string, end: (attempt: number, at: number) => ObservedPod, at: number, drawn = true) {
  const placed = planReconcile({ job: job(status, drawn), pods: [], podsComplete: true, placement: placedOn(provider), now: at });
  const attempt = placed.status.attempts?.at(-1)?.index ?? 0;
  const ended = planReconcile({ job: job(placed.status, drawn), pods: [end(attempt, at + 60_000)], podsComplete: true, now: at + 61_000 });
  return { placed, ended };
}

describe('a drawn run is re-executed on another provider before it finishes', () => {
  it('run → Verifying → an agreeing re-execution → Succeeded, everybody paid', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    expect(first.ended.status.phase).toBe('Verifying');
    expect(first.ended.status.verification).toEqual({
      state: 'Pending',
      originalCID: X,
      compare: 'Exact',
      windowEndsAt: new Date(T0 + 61_000 + 600_000).toISOString(),
    });
    expect(first.ended.status.attempts?.[0]).toMatchObject({ reason: 'Succeeded', outputCID: X });
    expect(first.ended.status.outputCID).toBe(X);
    expect(first.ended.requeueAfterMs).toBe(0);
    expect(needsPlacement(job(first.ended.status), T0 + 62_000)).toBe(true);

    const second = runOn(first.ended.status, 'provider-b', (n, at) => succeeded('provider-b', n, X, at), T0 + 120_000);
    expect(second.placed.status.attempts?.[1]).toMatchObject({ index: 2, provider: 'provider-b', purpose: 'Verification' });
    expect(second.placed.status.phase).toBe('Verifying');
    expect(second.ended.status.phase).toBe('Succeeded');
    expect(second.ended.status.verification).toMatchObject({ state: 'Verified' });
    expect(second.ended.status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'True', reason: 'Verified' });
    expect(second.ended.status.attempts?.map((a) => a.billableGpuSeconds)).toEqual([60, 60]);
    expect(second.ended.provenLiar).toBeUndefined();
  });

  it('a lying original: the re-execution disagrees, a tiebreak sides with it, the liar is not paid and is reported', () => {
    const first = runOn({}, 'provider-liar', (n, at) => succeeded('provider-liar', n, X, at), T0);
    const second = runOn(first.ended.status, 'provider-b', (n, at) => succeeded('provider-b', n, Y, at), T0 + 120_000);
    expect(second.ended.status.phase).toBe('Verifying');
    expect(second.ended.status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'Unknown', reason: 'Mismatch' });
    expect(second.ended.events.map((e) => e.reason)).toContain('OutputMismatch');
    const third = runOn(second.ended.status, 'provider-c', (n, at) => succeeded('provider-c', n, Y, at), T0 + 240_000);
    expect(third.placed.status.attempts?.[2]).toMatchObject({ purpose: 'Tiebreak' });
    const s = third.ended.status;
    expect(s.phase).toBe('Succeeded');
    expect(s.verification).toMatchObject({ state: 'Refuted', liar: { attempt: 1, provider: 'provider-liar' } });
    expect(s.outputCID).toBe(Y);
    expect(s.attempts?.map((a) => a.billableGpuSeconds)).toEqual([0, 60, 60]);
    expect(s.attempts?.[0]?.message).toContain('withheld');
    expect(third.ended.provenLiar).toEqual({ attempt: 1, provider: 'provider-liar' });
    expect(third.ended.events.map((e) => e.reason)).toContain('ProvenMismatch');
  });

  it('a lying verifier is the one withheld; the original output stands', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    const second = runOn(first.ended.status, 'provider-liar', (n, at) => succeeded('provider-liar', n, Y, at), T0 + 120_000);
    const third = runOn(second.ended.status, 'provider-c', (n, at) => succeeded('provider-c', n, X, at), T0 + 240_000);
    expect(third.ended.status.verification).toMatchObject({ state: 'Verified', liar: { attempt: 2, provider: 'provider-liar' } });
    expect(third.ended.status.outputCID).toBe(X);
    expect(third.ended.status.attempts?.map((a) => a.billableGpuSeconds)).toEqual([60, 0, 60]);
    expect(third.ended.provenLiar).toEqual({ attempt: 2, provider: 'provider-liar' });
  });

  it('a failed re-execution is replaced, never failing a job whose work is done', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    const second = runOn(first.ended.status, 'provider-b', (n, at) => failed('provider-b', n, at), T0 + 120_000);
    expect(second.ended.status.phase).toBe('Verifying');
    expect(second.ended.status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ reason: 'ReExecutionFailed' });
    expect(needsPlacement(job(second.ended.status), T0 + 200_000)).toBe(true);
  });

  it('a running re-execution whose pod disappears is preempted (PodDeleted) and placed again elsewhere, not recreated in place', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    const placed = planReconcile({ job: job(first.ended.status), pods: [], podsComplete: true, placement: placedOn('provider-b'), now: T0 + 120_000 });
    const running: ObservedPod = { ...succeeded('provider-b', 2, X, 0), phase: 'Running', startedAt: T0 + 121_000 };
    delete (running as { finishedAt?: number }).finishedAt;
    delete (running as { exit?: unknown }).exit;
    const up = planReconcile({ job: job(placed.status), pods: [running], podsComplete: true, now: T0 + 125_000 });
    expect(up.status.phase).toBe('Verifying');
    expect(up.status.conditions?.find((c) => c.type === 'Running')).toMatchObject({ status: 'True' });
    const gone = planReconcile({ job: job(up.status), pods: [], podsComplete: true, now: T0 + 130_000 });
    expect(gone.status.attempts?.[1]).toMatchObject({ purpose: 'Verification', reason: 'Preempted: PodDeleted' });
    expect(gone.createPods).toBeUndefined();
    expect(gone.status.phase).toBe('Verifying');
    const again = planReconcile({ job: job(gone.status), pods: [], podsComplete: true, placement: placedOn('provider-c'), now: T0 + 200_000 });
    expect(again.status.attempts?.[2]).toMatchObject({ provider: 'provider-c', purpose: 'Verification' });
  });

  it('a provider that refuses to create the re-execution’s pods is left for another, like an unreachable one', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    const placed = planReconcile({ job: job(first.ended.status), pods: [], podsComplete: true, placement: placedOn('provider-b'), now: T0 + 120_000 });
    const refused = planReconcile({
      job: job(placed.status),
      pods: [],
      podsComplete: true,
      createRefused: { attempt: 2, message: 'exceeded quota' },
      now: T0 + 121_000,
    });
    expect(refused.status.attempts?.[1]).toMatchObject({ reason: 'Preempted: CreateRefused' });
    expect(refused.status.phase).toBe('Verifying');
    expect(needsPlacement(job(refused.status), T0 + 400_000)).toBe(true);
  });

  it('the window ending first stops the re-execution (billed for what it used) and pays the run unverified', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0);
    const placed = planReconcile({ job: job(first.ended.status), pods: [], podsComplete: true, placement: placedOn('provider-b'), now: T0 + 120_000 });
    const running: ObservedPod = { ...succeeded('provider-b', 2, X, 0), phase: 'Running', startedAt: T0 + 121_000 };
    delete (running as { finishedAt?: number }).finishedAt;
    delete (running as { exit?: unknown }).exit;
    const late = T0 + 61_000 + 600_000;
    const p = planReconcile({ job: job(placed.status), pods: [running], podsComplete: true, now: late });
    expect(p.status.phase).toBe('Succeeded');
    expect(p.status.verification).toMatchObject({ state: 'Expired' });
    expect(p.status.attempts?.[1]).toMatchObject({ reason: 'VerificationWindowEnded' });
    expect(p.status.attempts?.[1]?.billableGpuSeconds).toBeGreaterThan(0);
    expect(p.deletePods.map((d) => d.name)).toEqual([running.name]);
  });

  it('an undrawn run finishes at once, marked Unsampled', () => {
    const first = runOn({}, 'provider-a', (n, at) => succeeded('provider-a', n, X, at), T0, false);
    expect(first.ended.status.phase).toBe('Succeeded');
    expect(first.ended.status.verification).toEqual({ state: 'Unsampled' });
    expect(first.ended.status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'False', reason: 'Unsampled' });
  });

  it('a job without verification has no verification status at all', () => {
    const placed = planReconcile({
      job: job({}, false, { verify: undefined as never }),
      pods: [],
      podsComplete: true,
      placement: placedOn('provider-a'),
      now: T0,
    });
    const { verify: _, ...plain } = job(placed.status);
    const ended = planReconcile({ job: plain, pods: [succeeded('provider-a', 1, X, T0 + 60_000)], podsComplete: true, now: T0 + 61_000 });
    expect(ended.status.phase).toBe('Succeeded');
    expect(ended.status).not.toHaveProperty('verification');
  });
});

describe('Checker mode in the lifecycle', () => {
  const checkerJob = (status: AIJobStatus) => job(status, true, {}, 'Checker');
  const place = (status: AIJobStatus, provider: string, at: number) =>
    planReconcile({ job: checkerJob(status), pods: [], podsComplete: true, placement: placedOn(provider), now: at });
  const end = (status: AIJobStatus, pod: ObservedPod, at: number) => planReconcile({ job: checkerJob(status), pods: [pod], podsComplete: true, now: at });

  function untilCheck() {
    const run = end(place({}, 'provider-a', T0).status, succeeded('provider-a', 1, X, T0 + 60_000), T0 + 61_000);
    expect(run.status.verification).toMatchObject({ state: 'Pending', compare: 'Checker' });
    const reexec = end(place(run.status, 'provider-b', T0 + 100_000).status, succeeded('provider-b', 2, Y, T0 + 160_000), T0 + 161_000);
    expect(reexec.status.phase).toBe('Verifying');
    const check = place(reexec.status, 'provider-c', T0 + 200_000);
    expect(check.status.attempts?.[2]).toMatchObject({ purpose: 'Check', provider: 'provider-c' });
    expect(check.status.conditions?.find((c) => c.type === 'Scheduled')?.message).toMatch(/^attempt 3 \(the checker judging the re-execution of attempt 1\)/);
    // The checker's pods get both outputs to judge.
    expect(check.createPods?.check).toEqual({ original: X, reference: Y });
    return check.status;
  }

  it('outputs that differ in bits but pass the checker: Verified, the original output stands, everybody paid', () => {
    const status = untilCheck();
    const accepted = end(status, { ...succeeded('provider-c', 3, X, T0 + 230_000), exit: { code: 0, reason: 'Completed', message: '{}' } }, T0 + 231_000);
    expect(accepted.status.phase).toBe('Succeeded');
    expect(accepted.status.verification).toMatchObject({ state: 'Verified' });
    expect(accepted.status.outputCID).toBe(X);
    expect(accepted.status.attempts?.map((a) => a.billableGpuSeconds)).toEqual([60, 60, 30]);
    expect(accepted.provenLiar).toBeUndefined();
  });

  it('the checker exiting 1 refutes the original: not paid, reported, the re-execution’s output becomes the job’s', () => {
    const status = untilCheck();
    const rejected = end(status, { ...failed('provider-c', 3, T0 + 230_000) }, T0 + 231_000);
    expect(rejected.status.attempts?.[2]).toMatchObject({ reason: 'Rejected' });
    expect(rejected.status.phase).toBe('Succeeded');
    expect(rejected.status.verification).toMatchObject({ state: 'Refuted', liar: { attempt: 1, provider: 'provider-a' } });
    expect(rejected.status.outputCID).toBe(Y);
    expect(rejected.status.attempts?.[0]?.billableGpuSeconds).toBe(0);
    expect(rejected.provenLiar).toEqual({ attempt: 1, provider: 'provider-a' });
  });

  it('a checker that fails any other way is no verdict: another provider checks again', () => {
    const status = untilCheck();
    const broken = end(status, { ...failed('provider-c', 3, T0 + 230_000), exit: { code: 2, reason: 'Error', message: '{}' } }, T0 + 231_000);
    expect(broken.status.attempts?.[2]).toMatchObject({ reason: 'Failed' });
    expect(broken.status.phase).toBe('Verifying');
    expect(needsPlacement(checkerJob(broken.status), T0 + 300_000)).toBe(true);
    expect(place(broken.status, 'provider-d', T0 + 300_000).status.attempts?.[3]).toMatchObject({ purpose: 'Check' });
  });
});
