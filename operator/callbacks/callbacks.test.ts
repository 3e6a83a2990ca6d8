import type { AIJob } from '../api/types.ts';
import { ANNOTATION_DELIVERED, ANNOTATION_FAILED, answerSummary, callbackPayload, deliveryId, dueCallback, judgeAnswer, withRecord } from './policy.ts';
import { namespaceKey, sign, signedHeaders, verify } from './signature.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function job(
  phase: string | undefined,
  opts: {
    url?: string;
    annotations?: Record<string, string>;
    completed?: string;
    deleting?: boolean;
    callbacks?: Array<{ phase: string; outcome: string }>;
  } = {},
): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: {
      name: 'train',
      namespace: 'team',
      uid: 'u-1',
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.deleting ? { deletionTimestamp: '2026-01-01T11:59:00Z' } : {}),
    },
    spec: {
      image: 'img',
      replicas: 1,
      resources: { gpus: 1 },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      output: { path: '/out', pin: true },
      ...(opts.url === undefined ? { callbackURL: 'https://example.test/hook' } : opts.url ? { callbackURL: opts.url } : {}),
    },
    ...(phase
      ? {
          status: {
            phase,
            completionTime: opts.completed ?? '2026-01-01T11:59:30Z',
            outputCID: 'bafyout',
            placement: { provider: 'provider-b' },
            ...(opts.callbacks ? { callbacks: opts.callbacks } : {}),
          },
        }
      : {}),
  } as unknown as AIJob;
}

describe('signatures follow the Standard Webhooks specification', () => {
  it("reproduces the specification's published test vector", () => {
    expect(sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });
  it('verifies its own headers, and rejects a changed body, a wrong secret and an old timestamp', () => {
    const h = signedHeaders('s3cret', 'u-1.Succeeded', 1_700_000_000, '{"a":1}');
    expect(verify('s3cret', { ...h }, '{"a":1}', 1_700_000_010)).toBe(true);
    expect(verify('s3cret', { ...h }, '{"a":2}', 1_700_000_010)).toBe(false);
    expect(verify('other', { ...h }, '{"a":1}', 1_700_000_010)).toBe(false);
    expect(verify('s3cret', { ...h }, '{"a":1}', 1_700_001_000)).toBe(false);
  });
  it("gives every namespace its own key under one master secret (HKDF), which verifies only that namespace's callbacks", () => {
    const master = 'whsec_' + Buffer.from('operator-master').toString('base64');
    const a = namespaceKey(master, 'team-a');
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(namespaceKey(master, 'team-a')).toBe(a);
    expect(namespaceKey(master, 'team-b')).not.toBe(a);
    expect(namespaceKey('another-master', 'team-a')).not.toBe(a);
    const h = signedHeaders(a, 'u-1.Succeeded', 1_700_000_000, '{}');
    expect(verify(a, { ...h }, '{}', 1_700_000_000)).toBe(true);
    expect(verify(namespaceKey(master, 'team-b'), { ...h }, '{}', 1_700_000_000)).toBe(false);
    expect(verify(master, { ...h }, '{}', 1_700_000_000)).toBe(false);
  });
});

describe('dueCallback: which terminal phase still needs its callback', () => {
  const cases: Array<[string, AIJob, string | undefined]> = [
    ['a succeeded job with a URL', job('Succeeded'), 'Succeeded'],
    ['a failed job', job('Failed'), 'Failed'],
    ['a settled job whose Succeeded callback went out', job('Settled', { annotations: { [ANNOTATION_DELIVERED]: 'Succeeded' } }), 'Settled'],
    ['a running job', job('Running'), undefined],
    ['a job without status', job(undefined), undefined],
    ['a job without callbackURL', job('Succeeded', { url: '' }), undefined],
    ['a delivered phase', job('Succeeded', { annotations: { [ANNOTATION_DELIVERED]: 'Succeeded' } }), undefined],
    ['a phase given up on (legacy annotation)', job('Failed', { annotations: { [ANNOTATION_FAILED]: 'Failed' } }), undefined],
    ['a phase recorded in status as delivered', job('Succeeded', { callbacks: [{ phase: 'Succeeded', outcome: 'Delivered' }] }), undefined],
    ['a phase recorded in status as refused', job('Failed', { callbacks: [{ phase: 'Failed', outcome: 'Refused' }] }), undefined],
    [
      'a delivered phase whose URL changed since, annotations removed',
      job('Succeeded', { url: 'https://elsewhere.example/hook', callbacks: [{ phase: 'Succeeded', outcome: 'Delivered' }] }),
      undefined,
    ],
    ['a settled job whose Succeeded callback is in status', job('Settled', { callbacks: [{ phase: 'Succeeded', outcome: 'Delivered' }] }), 'Settled'],
    ['a job being deleted', job('Succeeded', { deleting: true }), undefined],
    ['a job that finished days ago', job('Succeeded', { completed: '2025-12-20T00:00:00Z' }), undefined],
  ];
  it.each(cases)('%s', (_name, j, want) => {
    expect(dueCallback(j, NOW)).toBe(want);
  });
});

describe('callback bookkeeping', () => {
  it('records a phase in status once; the first outcome stands', () => {
    const j = job('Settled', { callbacks: [{ phase: 'Succeeded', outcome: 'Delivered' }] });
    expect(withRecord(j, { phase: 'Settled', outcome: 'Failed', code: 500 })).toEqual([
      { phase: 'Succeeded', outcome: 'Delivered' },
      { phase: 'Settled', outcome: 'Failed', code: 500 },
    ]);
    expect(withRecord(j, { phase: 'Succeeded', outcome: 'Refused' })).toEqual([{ phase: 'Succeeded', outcome: 'Delivered' }]);
  });
  it.each([
    [302, 'HTTP 302 (a redirect; redirects are not followed)'],
    [404, 'HTTP 404'],
    [500, 'HTTP 500'],
  ])('summarizes an answer of %s by its code alone: %s', (code, text) => {
    expect(answerSummary(code)).toBe(text);
  });
  it('names a delivery by job uid and phase, stable across retries', () => {
    expect(deliveryId(job('Succeeded'), 'Succeeded')).toBe('u-1.Succeeded');
  });
  it('carries the job, its phase, provider and output in a Standard Webhooks payload', () => {
    expect(callbackPayload(job('Succeeded'), 'Succeeded', '2026-01-01T12:00:00.000Z')).toMatchObject({
      type: 'aijob.succeeded',
      timestamp: '2026-01-01T12:00:00.000Z',
      data: { namespace: 'team', name: 'train', uid: 'u-1', phase: 'Succeeded', provider: 'provider-b', outputCID: 'bafyout' },
    });
  });
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [undefined, 'retry'],
    [301, 'reject'],
    [400, 'reject'],
    [404, 'reject'],
    [410, 'reject'],
  ] as const)('an answer of %s means %s', (status, verdict) => {
    expect(judgeAnswer(status)).toBe(verdict);
  });
});
