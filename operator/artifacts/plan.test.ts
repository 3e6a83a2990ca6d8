import type { AIJob, Condition } from '../api/types.ts';
import { setCondition } from '../core/conditions.ts';
import {
  ANNOTATION_UNPIN_ON_DELETE,
  conditionDiffers,
  jobPins,
  outputAlreadyPinned,
  outputPinnedCondition,
  releasablePins,
  wantsUnpinOnDelete,
} from './plan.ts';

const OUT = 'bafkreiallovn3lwtw6i52bfxwe2gjba7fwzr5kaewbrm34g5tmbrxnbph4';
const CP1 = 'bafkreidiirjs3zpkxukjxh3flwkrajaibierr3t5moorai7puf2yj6cpye';
const CP2 = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
const RECEIPT = 'bafkreifzqkjq7dnnccbbnlhkzyg7mrcfsa5xoour2ybbs52aa3o6x7upsm';

function job(uid: string, status: AIJob['status'], opts: { pin?: boolean; inputs?: string[]; annotations?: Record<string, string> } = {}): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { namespace: 'ns', name: uid, uid, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: {
      image: 'img',
      priority: 0,
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/out', pin: opts.pin ?? true },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...(opts.inputs ? { inputs: opts.inputs.map((cid, i) => ({ name: `in${i}`, cid, mountPath: `/in${i}` })) } : {}),
    },
    ...(status ? { status } : {}),
  };
}

const pinned = (message: string): Condition => ({
  type: 'OutputPinned',
  status: 'True',
  reason: 'Pinned',
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

describe('jobPins', () => {
  it('wants the output (when spec.output.pin), each checkpoint and each log tail once', () => {
    const j = job('a', {
      outputCID: OUT,
      attempts: [
        { index: 1, provider: 'p', checkpointCID: CP1, logTailCID: OUT },
        { index: 2, provider: 'p', checkpointCID: CP1 },
        { index: 3, provider: 'q', logTailCID: CP1 },
      ],
    });
    expect(jobPins(j)).toEqual({ output: OUT, checkpoints: [CP1], logTails: [OUT, CP1] });
  });
  it('leaves the output alone when spec.output.pin is false', () => {
    expect(jobPins(job('a', { outputCID: OUT }, { pin: false }))).toEqual({ checkpoints: [], logTails: [] });
  });
  it('wants nothing of a job without output or checkpoints', () => expect(jobPins(job('a', { phase: 'Running' }))).toEqual({ checkpoints: [], logTails: [] }));
});

describe('outputPinnedCondition', () => {
  it('says Pinned naming the CID once the pin is in place', () => {
    expect(outputPinnedCondition(OUT, { ok: true })).toEqual({
      type: 'OutputPinned',
      status: 'True',
      reason: 'Pinned',
      message: `${OUT} is pinned on the hub's IPFS node`,
    });
  });
  it('says PinFailed with the cause and that it is retried', () => {
    const c = outputPinnedCondition(OUT, { ok: false, message: `pinning ${OUT}: the IPFS node at http://x is unreachable (ECONNREFUSED)` });
    expect(c).toMatchObject({ status: 'False', reason: 'PinFailed' });
    expect(c.message).toBe(`pinning ${OUT}: the IPFS node at http://x is unreachable (ECONNREFUSED); retrying`);
  });
  it('never calls garbage pinned, whatever the pin said', () => {
    expect(outputPinnedCondition('not-a-cid', { ok: true })).toMatchObject({
      status: 'False',
      reason: 'PinFailed',
      message: expect.stringMatching(/^status\.outputCID is not a valid CID: "not-a-cid" is not a CID/),
    });
  });
});

describe('outputAlreadyPinned / conditionDiffers', () => {
  it('is true only for a Pinned condition naming this CID', () => {
    expect(outputAlreadyPinned(job('a', { outputCID: OUT, conditions: [pinned(`${OUT} is pinned`)] }), OUT)).toBe(true);
    expect(outputAlreadyPinned(job('a', { outputCID: CP1, conditions: [pinned(`${OUT} is pinned`)] }), CP1)).toBe(false);
    expect(outputAlreadyPinned(job('a', { outputCID: OUT }), OUT)).toBe(false);
  });
  it('a second pass with the same result writes nothing', () => {
    const update = outputPinnedCondition(OUT, { ok: true });
    const after = setCondition([], update, '2026-01-01T00:00:00Z');
    expect(conditionDiffers([], update)).toBe(true);
    expect(conditionDiffers(after, update)).toBe(false);
    expect(conditionDiffers(after, outputPinnedCondition(OUT, { ok: false, message: 'down' }))).toBe(true);
  });
});

describe('deletion policy', () => {
  it('keeps pins unless the job is annotated', () => {
    expect(wantsUnpinOnDelete(job('a', {}))).toBe(false);
    expect(wantsUnpinOnDelete(job('a', {}, { annotations: { [ANNOTATION_UNPIN_ON_DELETE]: 'true' } }))).toBe(true);
  });
  it('releases output, checkpoints and receipt, except what another job still uses', () => {
    const gone = job(
      'a',
      {
        outputCID: OUT,
        receiptCID: RECEIPT,
        attempts: [
          { index: 1, provider: 'p', checkpointCID: CP1 },
          { index: 2, provider: 'p', checkpointCID: CP2 },
        ],
      },
      { inputs: [CP2] },
    );
    const other = job('b', { outputCID: OUT }, { inputs: [CP1] });
    expect(releasablePins(gone, [gone, other])).toEqual([CP2, RECEIPT]);
    expect(releasablePins(gone, [gone])).toEqual([OUT, CP1, CP2, RECEIPT]);
  });
});
