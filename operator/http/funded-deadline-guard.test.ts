import { describe, expect, it } from '@jest/globals';
import type { AIJob } from '../api/types.ts';
import { fundedDeadlineProblem } from './funded-deadline-guard.ts';

const job = (deadline: string | undefined, fundedStatus?: 'True' | 'False'): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'j', namespace: 'n' },
    spec: { ...(deadline ? { deadline } : {}) },
    ...(fundedStatus
      ? { status: { conditions: [{ type: 'Funded', status: fundedStatus, reason: 'Deposited', message: '', lastTransitionTime: '2026-12-01T00:00:00Z' }] } }
      : {}),
  }) as unknown as AIJob;

describe('fundedDeadlineProblem', () => {
  it("refuses moving a funded job's deadline later, naming the field and both values", () => {
    const why = fundedDeadlineProblem(job('2026-12-10T00:00:00Z', 'True'), job('2026-12-20T00:00:00Z'));
    expect(why).toContain('spec.deadline');
    expect(why).toContain('2026-12-10T00:00:00Z → 2026-12-20T00:00:00Z');
  });

  it('refuses dropping or adding a deadline once funded (the deposit was judged against the old one)', () => {
    expect(fundedDeadlineProblem(job('2026-12-10T00:00:00Z', 'True'), job(undefined))).toContain('→ none');
    expect(fundedDeadlineProblem(job(undefined, 'True'), job('2027-01-01T00:00:00Z'))).toContain('none →');
  });

  it("lets a funded job's deadline move earlier or stay", () => {
    expect(fundedDeadlineProblem(job('2026-12-10T00:00:00Z', 'True'), job('2026-12-09T00:00:00Z'))).toBeUndefined();
    expect(fundedDeadlineProblem(job('2026-12-10T00:00:00Z', 'True'), job('2026-12-10T00:00:00Z'))).toBeUndefined();
  });

  it('judges nothing before the job is funded', () => {
    expect(fundedDeadlineProblem(job('2026-12-10T00:00:00Z', 'False'), job('2027-12-10T00:00:00Z'))).toBeUndefined();
    expect(fundedDeadlineProblem(job('2026-12-10T00:00:00Z'), job(undefined))).toBeUndefined();
  });
});
