import type { AIJobAttempt, AIJobStatus } from '../../api/types.ts';
import {
  checkerJobSpec,
  checkInputs,
  dependentProviders,
  effectiveVerification,
  isDrawn,
  nextAttemptPurpose,
  verificationStep,
  windowExpired,
} from './verdict.ts';
import type { AIJobSpec } from '../../api/types.ts';

const X = 'bafkreix';
const Y = 'bafkreiy';
const Z = 'bafkreiz';
const run = (index: number, provider: string, outputCID?: string, over: Partial<AIJobAttempt> = {}): AIJobAttempt => ({
  index,
  provider,
  endTime: '2026-12-05T00:00:00Z',
  reason: outputCID ? 'Succeeded' : 'Failed',
  ...(outputCID ? { outputCID } : {}),
  ...over,
});
const check = (index: number, provider: string, outputCID?: string, purpose: 'Verification' | 'Tiebreak' = 'Verification') =>
  run(index, provider, outputCID, { purpose });
const pending = (attempts: AIJobAttempt[]): AIJobStatus => ({ attempts, verification: { state: 'Pending', originalCID: X } });

describe('effectiveVerification: the namespace and the hub are floors', () => {
  it('takes the strongest mode and the highest rate of all sources', () => {
    expect(effectiveVerification({ mode: 'None' }, { mode: 'SpotCheck', sampleRate: 0.1 })).toEqual({
      mode: 'SpotCheck',
      sampleRate: 0.1,
      windowMs: 3_600_000,
    });
    expect(effectiveVerification({ mode: 'SpotCheck', sampleRate: 0.5 }, { mode: 'SpotCheck', sampleRate: 0.1 }).sampleRate).toBe(0.5);
    expect(effectiveVerification({ mode: 'SpotCheck', sampleRate: 0.05 }, { sampleRate: 0.1 }).sampleRate).toBe(0.1);
    expect(effectiveVerification({ mode: 'SpotCheck' }, { mode: 'Always' }).mode).toBe('Always');
  });
  it('a job cannot lower a floor, and no source means no verification', () => {
    expect(effectiveVerification({ mode: 'None', sampleRate: 0 }, { mode: 'Always' })).toMatchObject({ mode: 'Always', sampleRate: 1 });
    expect(effectiveVerification(undefined, undefined)).toMatchObject({ mode: 'None', sampleRate: 0 });
  });
  it("the window is the job's own first", () => {
    expect(effectiveVerification({ windowMs: 60_000 }, { mode: 'Always', windowMs: 120_000 }).windowMs).toBe(60_000);
  });
});

describe('isDrawn', () => {
  it('draws SpotCheck runs below the sample rate only', () => {
    const p = effectiveVerification({ mode: 'SpotCheck', sampleRate: 0.1 });
    expect([0, 0.0999, 0.1, 0.5].map((d) => isDrawn(p, d))).toEqual([true, true, false, false]);
    expect(isDrawn(effectiveVerification({ mode: 'Always' }), 0.999)).toBe(true);
    expect(isDrawn(effectiveVerification({ mode: 'None' }), 0)).toBe(false);
  });
});

describe('verificationStep: what the attempts prove', () => {
  it('nothing to do unless a verification is pending', () => {
    expect(verificationStep({ attempts: [run(1, 'a', X)] })).toEqual({ kind: 'none' });
    expect(verificationStep({ attempts: [run(1, 'a', X)], verification: { state: 'Unsampled' } })).toEqual({ kind: 'none' });
  });
  it('a pending verification first needs a re-execution away from the original', () => {
    expect(verificationStep(pending([run(1, 'a', X)]))).toEqual({ kind: 'run', purpose: 'Verification', exclude: ['a'] });
    expect(nextAttemptPurpose(pending([run(1, 'a', X)]))).toBe('Verification');
  });
  it('an agreeing re-execution verifies, with nobody to slash', () => {
    const step = verificationStep(pending([run(1, 'a', X), check(2, 'b', X)]));
    expect(step).toMatchObject({ kind: 'verdict', state: 'Verified', outputCID: X });
    expect(step).not.toHaveProperty('liar');
  });
  it('a disagreeing one asks for a tiebreak on a third provider', () => {
    expect(verificationStep(pending([run(1, 'a', X), check(2, 'b', Y)]))).toEqual({ kind: 'run', purpose: 'Tiebreak', exclude: ['a', 'b'] });
  });
  it('the tiebreak agreeing with the original proves the verifier wrong', () => {
    expect(verificationStep(pending([run(1, 'a', X), check(2, 'b', Y), check(3, 'c', X, 'Tiebreak')]))).toMatchObject({
      kind: 'verdict',
      state: 'Verified',
      outputCID: X,
      liar: { attempt: 2, provider: 'b' },
      verifier: { attempt: 3, provider: 'c' },
    });
  });
  it('the tiebreak agreeing with the verifier refutes the original, and its output becomes the job’s', () => {
    expect(verificationStep(pending([run(1, 'a', X), check(2, 'b', Y), check(3, 'c', Y, 'Tiebreak')]))).toMatchObject({
      kind: 'verdict',
      state: 'Refuted',
      outputCID: Y,
      liar: { attempt: 1, provider: 'a' },
      verifier: { attempt: 2, provider: 'b' },
    });
  });
  it('three different outputs prove nothing', () => {
    const step = verificationStep(pending([run(1, 'a', X), check(2, 'b', Y), check(3, 'c', Z, 'Tiebreak')]));
    expect(step).toMatchObject({ kind: 'verdict', state: 'Inconclusive', outputCID: X });
    expect(step).not.toHaveProperty('liar');
  });
  it('failed and preempted re-executions are replaced elsewhere, up to a limit, then the run is paid unverified', () => {
    const preempted = (i: number, p: string) => check(i, p, undefined);
    expect(verificationStep(pending([run(1, 'a', X), preempted(2, 'b')]))).toEqual({ kind: 'run', purpose: 'Verification', exclude: ['a', 'b'] });
    const four = [run(1, 'a', X), preempted(2, 'b'), preempted(3, 'c'), preempted(4, 'd'), preempted(5, 'e')];
    expect(verificationStep(pending(four))).toMatchObject({ kind: 'verdict', state: 'Expired', outputCID: X });
  });
  it('only runs after the original count: an earlier preempted run of the job is not a check', () => {
    const attempts = [run(1, 'a', undefined, { reason: 'Preempted: NodeLost' }), run(2, 'b', X)];
    expect(verificationStep(pending(attempts))).toEqual({ kind: 'run', purpose: 'Verification', exclude: ['b'] });
  });
});

describe('windowExpired', () => {
  it('only a pending verification expires, at its windowEndsAt', () => {
    const s: AIJobStatus = { verification: { state: 'Pending', windowEndsAt: '2026-12-05T01:00:00Z' } };
    expect(windowExpired(s, Date.parse('2026-12-05T00:59:59Z'))).toBe(false);
    expect(windowExpired(s, Date.parse('2026-12-05T01:00:00Z'))).toBe(true);
    expect(windowExpired({ verification: { state: 'Verified', windowEndsAt: '2026-12-05T01:00:00Z' } }, Date.parse('2027-01-01T00:00:00Z'))).toBe(false);
  });
});

describe('dependentProviders: independence is by payout address too', () => {
  it('adds every provider paid to the address of an excluded one', () => {
    const payout = new Map([
      ['a', '0xAAaa000000000000000000000000000000000001'],
      ['a-alias', '0xaaaa000000000000000000000000000000000001'],
      ['b', '0xbbbb000000000000000000000000000000000002'],
      ['c', undefined],
    ]);
    expect(dependentProviders(['a'], payout)).toEqual(['a', 'a-alias']);
    expect(dependentProviders(['c'], payout)).toEqual(['c']);
  });
});

describe('Checker mode', () => {
  const checking = (attempts: AIJobAttempt[]): AIJobStatus => ({ attempts, verification: { state: 'Pending', originalCID: X, compare: 'Checker' } });
  const judge = (index: number, provider: string, reason: 'Succeeded' | 'Rejected' | 'Failed') => ({
    index,
    provider,
    endTime: 'x',
    reason,
    purpose: 'Check' as const,
  });
  it('identical outputs need no checker', () => {
    expect(verificationStep(checking([run(1, 'a', X), check(2, 'b', X)]))).toMatchObject({ kind: 'verdict', state: 'Verified' });
  });
  it('differing outputs go to the checker on a provider independent of both runs, with both outputs', () => {
    const s = checking([run(1, 'a', X), check(2, 'b', Y)]);
    expect(verificationStep(s)).toEqual({ kind: 'run', purpose: 'Check', exclude: ['a', 'b'] });
    expect(checkInputs(s)).toEqual({ original: X, reference: Y });
  });
  it('the checker accepting verifies the original; rejecting refutes it in favour of the re-execution', () => {
    expect(verificationStep(checking([run(1, 'a', X), check(2, 'b', Y), judge(3, 'c', 'Succeeded')]))).toMatchObject({
      kind: 'verdict',
      state: 'Verified',
      outputCID: X,
    });
    expect(verificationStep(checking([run(1, 'a', X), check(2, 'b', Y), judge(3, 'c', 'Rejected')]))).toMatchObject({
      kind: 'verdict',
      state: 'Refuted',
      outputCID: Y,
      liar: { attempt: 1, provider: 'a' },
      verifier: { attempt: 2, provider: 'b' },
    });
  });
  it('a checker that ends otherwise gave no verdict: it runs again elsewhere', () => {
    expect(verificationStep(checking([run(1, 'a', X), check(2, 'b', Y), judge(3, 'c', 'Failed')]))).toEqual({
      kind: 'run',
      purpose: 'Check',
      exclude: ['a', 'b', 'c'],
    });
  });
  it("the checker's pods run its image on the job's inputs plus both outputs, without checkpoints", () => {
    const spec = {
      image: 'registry.example/train:1',
      args: ['--train'],
      inputs: [{ name: 'data', cid: Z, mountPath: '/data' }],
      checkpoint: { path: '/ckpt', every: '10m' },
      verification: { mode: 'Always', compare: 'Checker', checker: { image: 'registry.example/check:1', args: ['--tolerance', '0.05'] } },
    } as unknown as AIJobSpec;
    const built = checkerJobSpec(spec, { original: X, reference: Y });
    expect(built.image).toBe('registry.example/check:1');
    expect(built.args).toEqual(['--tolerance', '0.05']);
    expect(built).not.toHaveProperty('checkpoint');
    expect(built.inputs).toEqual([
      { name: 'data', cid: Z, mountPath: '/data' },
      { name: 'verify-original', cid: X, mountPath: '/flotilla/verify/original' },
      { name: 'verify-reference', cid: Y, mountPath: '/flotilla/verify/reference' },
    ]);
  });
});
