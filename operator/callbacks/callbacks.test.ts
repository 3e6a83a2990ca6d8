import type { AIJob } from '../api/types.ts';
import { ANNOTATION_DELIVERED, ANNOTATION_FAILED, callbackPayload, deliveryId, dueCallback, judgeAnswer, withPhase } from './policy.ts';
import { sign, signedHeaders, verify } from './signature.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function job(phase: string | undefined, opts: { url?: string; annotations?: Record<string, string>; completed?: string; deleting?: boolean } = {}): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1', kind: 'AIJob',
    metadata: { name: 'train', namespace: 'team', uid: 'u-1', ...(opts.annotations ? { annotations: opts.annotations } : {}), ...(opts.deleting ? { deletionTimestamp: '2026-01-01T11:59:00Z' } : {}) },
    spec: { image: 'img', replicas: 1, resources: { gpus: 1 }, recovery: { maxRestarts: 3, strategy: 'Failover' }, output: { path: '/out', pin: true }, ...(opts.url === undefined ? { callbackURL: 'https://example.test/hook' } : opts.url ? { callbackURL: opts.url } : {}) },
    ...(phase ? { status: { phase, completionTime: opts.completed ?? '2026-01-01T11:59:30Z', outputCID: 'bafyout', placement: { provider: 'provider-b' } } } : {}),
  } as unknown as AIJob;
}

describe('signatures follow the Standard Webhooks specification', () => {
  it('reproduces the specification\'s published test vector', () => {
    expect(sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'))
      .toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });
  it('verifies its own headers, and rejects a changed body, a wrong secret and an old timestamp', () => {
    const h = signedHeaders('s3cret', 'u-1.Succeeded', 1_700_000_000, '{"a":1}');
    expect(verify('s3cret', { ...h }, '{"a":1}', 1_700_000_010)).toBe(true);
    expect(verify('s3cret', { ...h }, '{"a":2}', 1_700_000_010)).toBe(false);
    expect(verify('other', { ...h }, '{"a":1}', 1_700_000_010)).toBe(false);
    expect(verify('s3cret', { ...h }, '{"a":1}', 1_700_001_000)).toBe(false);
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
    ['a phase given up on', job('Failed', { annotations: { [ANNOTATION_FAILED]: 'Failed' } }), undefined],
    ['a job being deleted', job('Succeeded', { deleting: true }), undefined],
    ['a job that finished days ago', job('Succeeded', { completed: '2025-12-20T00:00:00Z' }), undefined],
  ];
  it.each(cases)('%s', (_name, j, want) => {
    expect(dueCallback(j, NOW)).toBe(want);
  });
});

describe('callback bookkeeping', () => {
  it('adds a phase to the annotation once', () => {
    const j = job('Settled', { annotations: { [ANNOTATION_DELIVERED]: 'Succeeded' } });
    expect(withPhase(j, ANNOTATION_DELIVERED, 'Settled')).toBe('Succeeded,Settled');
    expect(withPhase(j, ANNOTATION_DELIVERED, 'Succeeded')).toBe('Succeeded');
  });
  it('names a delivery by job uid and phase, stable across retries', () => {
    expect(deliveryId(job('Succeeded'), 'Succeeded')).toBe('u-1.Succeeded');
  });
  it('carries the job, its phase, provider and output in a Standard Webhooks payload', () => {
    expect(callbackPayload(job('Succeeded'), 'Succeeded', '2026-01-01T12:00:00.000Z')).toMatchObject({
      type: 'aijob.succeeded', timestamp: '2026-01-01T12:00:00.000Z',
      data: { namespace: 'team', name: 'train', uid: 'u-1', phase: 'Succeeded', provider: 'provider-b', outputCID: 'bafyout' },
    });
  });
  it.each([[200, 'delivered'], [204, 'delivered'], [408, 'retry'], [429, 'retry'], [500, 'retry'], [503, 'retry'], [undefined, 'retry'], [301, 'reject'], [400, 'reject'], [404, 'reject'], [410, 'reject']] as const)(
    'an answer of %s means %s', (status, verdict) => {
      expect(judgeAnswer(status)).toBe(verdict);
    });
});
