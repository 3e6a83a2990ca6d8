import type { AIJob } from '../operator/api/types.ts';
import { statusText } from './job-view.ts';

const job = (status: AIJob['status']): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { namespace: 'ml', name: 'train', creationTimestamp: '2026-12-05T00:00:00Z' },
    spec: {
      image: 'registry.example/t:1',
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/o', pin: true },
      recovery: { maxRestarts: 1, strategy: 'Failover' },
    },
    status,
  }) as AIJob;

describe('flotilla status of a job that verifies (docs/verification.md)', () => {
  it('names the verdict, the slash and what each attempt was for', () => {
    const text = statusText(
      job({
        phase: 'Settled',
        attempts: [
          { index: 1, provider: 'liar', reason: 'Succeeded' },
          { index: 2, provider: 'b', reason: 'Succeeded', purpose: 'Verification' },
          { index: 3, provider: 'c', reason: 'Succeeded', purpose: 'Tiebreak' },
        ],
        verification: { state: 'Refuted', message: 'attempts 2 and 3 agree' },
        settlement: { slash: { provider: 'liar', amount: '100', txHash: '0x' + 'a'.repeat(64) } },
      }),
      Date.parse('2026-12-05T01:00:00Z'),
    );
    expect(text).toContain('Verified   Refuted: attempts 2 and 3 agree');
    expect(text).toContain(`Slashed    100 from liar in 0x${'a'.repeat(64)}`);
    expect(text).toMatch(/REASON\s+FOR/);
    expect(text).toMatch(/3\s+c\s.*Succeeded\s+Tiebreak/);
  });
  it('leaves jobs that do not verify as they were (no FOR column)', () => {
    const text = statusText(job({ phase: 'Succeeded', attempts: [{ index: 1, provider: 'a', reason: 'Succeeded' }] }));
    expect(text).not.toContain('FOR');
    expect(text).not.toContain('Verified');
  });
});
