// The logs endpoint's pure parts: the query and its bounds, which pod of which attempt holds the log
// (from status.attempts, never from labels a provider could forge), and what a provider's refusal
// becomes for the caller.
import type { AIJob } from '../api/types.ts';
import { DEFAULT_POD_LOG_LIMITS, logTarget, parseLogQuery, providerLogError } from './pod-logs.ts';

const job = (over: Partial<NonNullable<AIJob['status']>> = {}, replicas = 2): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'train', namespace: 'team-a', uid: 'u-1' },
    spec: { image: 'x', replicas, resources: { gpus: 1 } },
    status: {
      phase: 'Running',
      attempts: [
        {
          index: 0,
          provider: 'provider-a',
          pods: [
            { replica: 0, name: 'train-a0-r0', uid: 'p00' },
            { replica: 1, name: 'train-a0-r1', uid: 'p01' },
          ],
        },
        { index: 1, provider: 'provider-b', pods: [{ replica: 0, name: 'train-a1-r0', uid: 'p10' }] },
      ],
      ...over,
    },
  }) as unknown as AIJob;

describe('parseLogQuery', () => {
  it('defaults to replica 0, the newest attempt, no follow, 1 MiB', () => {
    expect(parseLogQuery({})).toEqual({ ok: true, value: { replica: 0, follow: false, limitBytes: 1024 * 1024 } });
  });
  it('takes replica, attempt, follow, tailLines; clamps limitBytes to 8 MiB', () => {
    expect(parseLogQuery({ replica: '1', attempt: '0', follow: 'true', limitBytes: String(64 * 1024 * 1024), tailLines: '50' })).toEqual({
      ok: true,
      value: { replica: 1, attempt: 0, follow: true, limitBytes: DEFAULT_POD_LOG_LIMITS.maxLimitBytes, tailLines: 50 },
    });
  });
  it.each([
    [{ replica: '-1' }, /replica must be/],
    [{ replica: 'x' }, /replica must be/],
    [{ attempt: '1.5' }, /attempt must be/],
    [{ follow: 'yes' }, /follow must be true or false/],
    [{ limitBytes: '0' }, /limitBytes must be a positive/],
    [{ tailLines: '100001' }, /tailLines must be .* at most 100000/],
    [{ replica: ['0', '1'] }, /replica must be/],
  ])('refuses %p', (q, message) => {
    const r = parseLogQuery(q as Record<string, unknown>);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(message);
  });
});

describe('logTarget', () => {
  it("is the newest attempt's pod of the replica, with the uid the operator recorded", () => {
    expect(logTarget(job(), { replica: 0 })).toEqual({
      ok: true,
      value: { provider: 'provider-b', attempt: 1, replica: 0, pod: 'train-a1-r0', podUid: 'p10' },
    });
    expect(logTarget(job(), { replica: 1, attempt: 0 })).toEqual({
      ok: true,
      value: { provider: 'provider-a', attempt: 0, replica: 1, pod: 'train-a0-r1', podUid: 'p01' },
    });
  });
  it.each([
    [{ replica: 2 }, 'AIJob team-a/train has replicas 0…1; there is no replica 2'],
    [{ replica: 0, attempt: 5 }, 'AIJob team-a/train has no attempt 5 (attempts: 0, 1)'],
    [{ replica: 1 }, 'attempt 1 of AIJob team-a/train has no pod for replica 1 (it was never created)'],
  ])('says why there is no log for %p', (q, error) => {
    expect(logTarget(job(), q)).toEqual({ ok: false, error });
  });
  it('says a job that has not started has no log', () => {
    expect(logTarget(job({ attempts: [], phase: 'Pending' }), { replica: 0 })).toEqual({
      ok: false,
      error: 'AIJob team-a/train has not started an attempt yet (phase Pending): no log',
    });
  });
});

describe('providerLogError', () => {
  const target = { provider: 'provider-a', attempt: 0, replica: 1, pod: 'train-a0-r1', podUid: 'p01' };
  const mask = (s: string) => s.replace(/https?:\/\/\S+/g, '<url>');
  it('404: the pod is gone', () => {
    expect(providerLogError({ code: 404, body: '{"message":"pods \\"train-a0-r1\\" not found"}' }, target, mask)).toEqual({
      status: 404,
      error: 'the log of replica 1, attempt 0 (pod train-a0-r1 at provider provider-a) is gone: the provider no longer has the pod',
    });
  });
  it("400 (container not started): 409 with the apiserver's words", () => {
    expect(
      providerLogError({ code: 400, body: '{"message":"container \\"main\\" in pod \\"train-a0-r1\\" is waiting to start: ContainerCreating"}' }, target, mask),
    ).toEqual({
      status: 409,
      error:
        'the log of replica 1, attempt 0 (pod train-a0-r1 at provider provider-a) is not available from the provider: container "main" in pod "train-a0-r1" is waiting to start: ContainerCreating',
    });
  });
  it('anything else: 502 naming the provider, URLs masked', () => {
    expect(
      providerLogError({ code: 500, body: '{"message":"Get \\"https://10.0.0.7:10250/containerLogs/x\\": dial tcp: connection refused"}' }, target, mask),
    ).toEqual({
      status: 502,
      error:
        'provider provider-a could not serve the log of replica 1, attempt 0 (pod train-a0-r1 at provider provider-a) (HTTP 500): Get "<url> dial tcp: connection refused',
    });
    expect(providerLogError(new Error('fetch failed'), target, mask).status).toBe(502);
  });
});
