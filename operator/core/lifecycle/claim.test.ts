import type { AIJob } from '../../api/types.ts';
import { claimChangeProblem, claimOf, claimVerdict, MANAGED_BY_ANNOTATION, MAX_OPERATOR_NAME } from './claim.ts';

const job = (owner?: string): Pick<AIJob, 'metadata'> => ({
  metadata: { name: 'j', namespace: 'n', ...(owner !== undefined ? { annotations: { [MANAGED_BY_ANNOTATION]: owner, other: 'x' } } : {}) },
});

describe('job claims', () => {
  it('tells a job of this operator, of another one, and an unclaimed one (an empty name counts as unclaimed)', () => {
    expect(claimVerdict(job('ns/lease-a'), 'ns/lease-a')).toBe('mine');
    expect(claimVerdict(job('ns/lease-b'), 'ns/lease-a')).toEqual({ other: 'ns/lease-b' });
    expect(claimVerdict(job(), 'ns/lease-a')).toBe('unclaimed');
    expect(claimVerdict(job(''), 'ns/lease-a')).toBe('unclaimed');
    expect(claimOf(job('ns/lease-b'))).toBe('ns/lease-b');
  });

  it("shows a tenant's over-long name bounded, and never takes it for its own", () => {
    const long = `ns/lease-a${'x'.repeat(100_000)}`;
    const verdict = claimVerdict(job(long), 'ns/lease-a');
    expect(verdict).not.toBe('mine');
    expect(typeof verdict === 'object' && verdict.other.length).toBe(MAX_OPERATOR_NAME);
    expect(claimChangeProblem(job(long), job('ns/lease-a'))?.length).toBeLessThan(MAX_OPERATOR_NAME + 200);
  });

  it('lets the claim be written once (by the tenant at creation, or the first operator) and never changed or removed', () => {
    expect(claimChangeProblem(undefined, job('ns/lease-a'))).toBeUndefined();
    expect(claimChangeProblem(job(), job('ns/lease-a'))).toBeUndefined();
    expect(claimChangeProblem(job('ns/lease-a'), job('ns/lease-a'))).toBeUndefined();
    expect(claimChangeProblem(job('ns/lease-a'), job('ns/lease-b'))).toContain(
      `metadata.annotations["${MANAGED_BY_ANNOTATION}"]: the job is run by operator "ns/lease-a"`,
    );
    expect(claimChangeProblem(job('ns/lease-a'), job())).toContain('cannot be changed or removed');
    expect(claimChangeProblem(job('ns/lease-a'), job(''))).toContain('cannot be changed or removed');
  });
});
