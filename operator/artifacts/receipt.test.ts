import { Wallet } from 'ethers';
import { CID_V0, CID_V1 } from '../../test/support/admission-cases.ts';
import type { AIJob } from '../api/types.ts';
import { canonicalJson } from './canonical-json.ts';
import {
  buildReceipt,
  parseSignedReceipt,
  receiptDocument,
  receiptDue,
  recoverReceiptSigner,
  referencedCids,
  signReceipt,
  specHash,
  RECEIPT_TYPE,
} from './receipt.ts';

// anvil's well-known dev account #9 (public test mnemonic): never a real key.
const OPERATOR = new Wallet('0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6');
const OTHER = new Wallet('0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356');
const OUTPUT = 'bafkreiallovn3lwtw6i52bfxwe2gjba7fwzr5kaewbrm34g5tmbrxnbph4';
const CHECKPOINT = 'bafkreidiirjs3zpkxukjxh3flwkrajaibierr3t5moorai7puf2yj6cpye';

function job(overrides: { spec?: Partial<AIJob['spec']>; status?: AIJob['status'] } = {}): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { namespace: 'team-a', name: 'train', uid: '0d6f3c1e-5b1a-4c3e-9b7e-2f1d4c6a8b90', resourceVersion: '7' },
    spec: {
      image: 'registry.example/trainer@sha256:' + 'a'.repeat(64),
      replicas: 1,
      priority: 0,
      resources: { gpus: 1 },
      output: { path: '/flotilla/output', pin: true },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      inputs: [
        { name: 'dataset', cid: CID_V1, mountPath: '/data' },
        { name: 'script', cid: CID_V0, mountPath: '/src' },
      ],
      ...overrides.spec,
    },
    status: overrides.status ?? {
      phase: 'Succeeded',
      completionTime: '2026-11-23T12:00:00Z',
      outputCID: OUTPUT,
      attempts: [
        { index: 1, provider: 'provider-a', gpuSeconds: 120, reason: 'DisruptionTarget', checkpointCID: CHECKPOINT },
        { index: 2, provider: 'provider-c', gpuSeconds: 300, reason: 'Succeeded', checkpointCID: CHECKPOINT },
      ],
      conditions: [{ type: 'Finished', status: 'True', reason: 'Succeeded', message: 'done', lastTransitionTime: '2026-11-23T12:00:00Z' }],
    },
  };
}

describe('buildReceipt', () => {
  it('records spec hash, image, inputs, each attempt, outcome and output', () => {
    const r = buildReceipt(job());
    expect(r).toEqual({
      type: RECEIPT_TYPE,
      job: { namespace: 'team-a', name: 'train', uid: '0d6f3c1e-5b1a-4c3e-9b7e-2f1d4c6a8b90' },
      specHash: specHash(job().spec),
      image: job().spec.image,
      inputs: [
        { name: 'dataset', cid: CID_V1 },
        { name: 'script', cid: CID_V0 },
      ],
      attempts: [
        { index: 1, provider: 'provider-a', gpuSeconds: 120, reason: 'DisruptionTarget', checkpointCID: CHECKPOINT },
        { index: 2, provider: 'provider-c', gpuSeconds: 300, reason: 'Succeeded', checkpointCID: CHECKPOINT },
      ],
      outcome: 'Succeeded',
      outputCID: OUTPUT,
      outputReportedBy: { provider: 'provider-c', attempt: 2 },
      settlement: null,
      completionTime: '2026-11-23T12:00:00Z',
    });
  });

  it('carries the settlement reference when there is one', () => {
    const settled = job({ status: { ...job().status, phase: 'Settled', settlement: { id: '0x' + '1'.repeat(64), txHash: '0x' + '2'.repeat(64) } } });
    expect(buildReceipt(settled).settlement).toEqual({ id: '0x' + '1'.repeat(64), txHash: '0x' + '2'.repeat(64) });
    expect(buildReceipt(settled).outcome).toBe('Succeeded');
  });

  it('carries the verdict of a verified job: which runs checked which, the compared CIDs, the slash', () => {
    const base = job().status ?? {};
    const refuted = job({
      status: {
        ...base,
        outputCID: OUTPUT,
        attempts: [
          { index: 1, provider: 'provider-liar', gpuSeconds: 60, reason: 'Succeeded', outputCID: CHECKPOINT },
          { index: 2, provider: 'provider-b', gpuSeconds: 60, reason: 'Succeeded', outputCID: OUTPUT, purpose: 'Verification' },
          { index: 3, provider: 'provider-c', gpuSeconds: 60, reason: 'Succeeded', outputCID: OUTPUT, purpose: 'Tiebreak' },
        ],
        verification: {
          state: 'Refuted',
          originalCID: CHECKPOINT,
          liar: { attempt: 1, provider: 'provider-liar' },
          verifier: { attempt: 2, provider: 'provider-b' },
        },
        settlement: { slash: { provider: 'provider-liar', amount: '100', txHash: '0x' + '3'.repeat(64) } },
      },
    });
    const r = buildReceipt(refuted);
    expect(r.attempts.map((a) => [a.purpose, a.outputCID])).toEqual([
      [undefined, CHECKPOINT],
      ['Verification', OUTPUT],
      ['Tiebreak', OUTPUT],
    ]);
    expect(r.outputReportedBy).toEqual({ provider: 'provider-c', attempt: 3 });
    expect(r.verification).toEqual({
      state: 'Refuted',
      originalCID: CHECKPOINT,
      liar: { attempt: 1, provider: 'provider-liar' },
      verifier: { attempt: 2, provider: 'provider-b' },
      slash: { provider: 'provider-liar', amount: '100', txHash: '0x' + '3'.repeat(64) },
    });
    // A job without verification keeps the receipt it had (same bytes, same CID).
    expect(buildReceipt(job())).not.toHaveProperty('verification');
  });

  it('names every referenced CID once', () => {
    expect(referencedCids(buildReceipt(job()))).toEqual([
      { what: 'inputs[dataset]', cid: CID_V1 },
      { what: 'inputs[script]', cid: CID_V0 },
      { what: 'attempts[1].checkpointCID', cid: CHECKPOINT },
      { what: 'outputCID', cid: OUTPUT },
    ]);
  });

  it("names each attempt's log tail, and a receipt without any keeps its bytes", () => {
    const LOGS = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    const base = job();
    const withLogs = job({ status: { ...base.status, attempts: (base.status?.attempts ?? []).map((a) => (a.index === 2 ? { ...a, logTailCID: LOGS } : a)) } });
    const receipt = buildReceipt(withLogs);
    expect(receipt.attempts.map((a) => a.logTailCID)).toEqual([undefined, LOGS]);
    expect(referencedCids(receipt)).toContainEqual({ what: 'attempts[2].logTailCID', cid: LOGS });
    expect(canonicalJson(buildReceipt(base))).not.toContain('logTailCID');
  });
});

describe('specHash', () => {
  it('is sha256 of the canonical spec: key order does not matter, any change does', () => {
    const spec = job().spec;
    const reordered = Object.fromEntries(Object.entries(spec).reverse()) as AIJob['spec'];
    expect(specHash(reordered)).toBe(specHash(spec));
    expect(specHash(spec)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(specHash({ ...spec, image: spec.image.replace('a', 'b') })).not.toBe(specHash(spec));
  });
});

describe('receiptDue', () => {
  it.each<[string, AIJob, boolean]>([
    ['a running job', job({ status: { phase: 'Running' } }), false],
    ['a succeeded job without payment', job(), true],
    ['a failed job without payment', job({ status: { phase: 'Failed' } }), true],
    ['a succeeded paid job before its settlement transaction', job({ spec: { payment: { token: 'USDC', maxAmount: '10' } } }), false],
    [
      'a succeeded paid job with a settlement tx',
      job({ spec: { payment: { token: 'USDC', maxAmount: '10' } }, status: { phase: 'Succeeded', settlement: { txHash: '0x' + '2'.repeat(64) } } }),
      true,
    ],
    ['a settled paid job', job({ spec: { payment: { token: 'USDC', maxAmount: '10' } }, status: { phase: 'Settled' } }), true],
    ['a job whose receipt is recorded', job({ status: { phase: 'Succeeded', receiptCID: OUTPUT } }), false],
  ])('%s: %s', (_what, j, due) => expect(receiptDue(j).due).toBe(due));
});

describe('signed receipts', () => {
  it('recover the operator address; the same job always gives the same bytes', async () => {
    const signed = await signReceipt(buildReceipt(job()), OPERATOR);
    expect(signed.signer).toBe(OPERATOR.address);
    expect(recoverReceiptSigner(signed)).toBe(OPERATOR.address);
    const again = await signReceipt(buildReceipt(job()), OPERATOR);
    expect(receiptDocument(again)).toBe(receiptDocument(signed));
  });

  it('signs the canonical JSON as an EIP-191 personal message (any client can check it)', async () => {
    const receipt = buildReceipt(job());
    const signed = await signReceipt(receipt, OPERATOR);
    expect(signed.signature).toBe(await OPERATOR.signMessage(canonicalJson(receipt)));
  });

  it('a changed receipt no longer recovers the operator', async () => {
    const signed = await signReceipt(buildReceipt(job()), OPERATOR);
    const tampered = { ...signed, receipt: { ...signed.receipt, outputCID: CHECKPOINT } };
    expect(recoverReceiptSigner(tampered)).not.toBe(OPERATOR.address);
    const other = await signReceipt(buildReceipt(job()), OTHER);
    expect(recoverReceiptSigner(other)).toBe(OTHER.address);
  });

  it('parse back from the document exactly', async () => {
    const signed = await signReceipt(buildReceipt(job()), OPERATOR);
    expect(parseSignedReceipt(receiptDocument(signed))).toEqual(signed);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['another document', JSON.stringify({ hello: 1 }), /signer and signature/],
    ['a wrong type', JSON.stringify({ signer: 'x', signature: 'y', receipt: { type: 'other' } }), /type is "other"/],
  ])('refuse %s', (_what, text, why) => expect(() => parseSignedReceipt(text)).toThrow(why));

  it('refuse a receipt whose output is not a CID', async () => {
    const signed = await signReceipt({ ...buildReceipt(job()), outputCID: 'Qm123' }, OPERATOR);
    expect(() => parseSignedReceipt(receiptDocument(signed))).toThrow(/outputCID/);
  });

  it('refuse a receipt whose log tail is not a CID', async () => {
    const r = buildReceipt(job());
    const signed = await signReceipt({ ...r, attempts: r.attempts.map((a) => ({ ...a, logTailCID: 'Qm123' })) }, OPERATOR);
    expect(() => parseSignedReceipt(receiptDocument(signed))).toThrow(/logTailCID/);
  });
});
