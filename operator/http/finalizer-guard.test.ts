import { describe, expect, it } from '@jest/globals';
import { finalizerRemovalProblem } from './finalizer-guard.ts';

const OPERATOR = 'system:serviceaccount:flotilla-system:flotilla-operator';
const both = ['flotilla.dev/aijob', 'flotilla.dev/settlement'];

describe('finalizerRemovalProblem', () => {
  it('refuses a tenant stripping the settlement finalizer, naming it and the field', () => {
    const why = finalizerRemovalProblem(both, ['flotilla.dev/aijob'], 'system:serviceaccount:team-a:ci', OPERATOR);
    expect(why).toContain('metadata.finalizers');
    expect(why).toContain('"flotilla.dev/settlement"');
    expect(why).not.toContain('flotilla.dev/aijob"');
  });

  it('refuses removing every Flotilla finalizer at once', () => {
    expect(finalizerRemovalProblem(both, [], 'alice', OPERATOR)).toMatch(/"flotilla.dev\/aijob", "flotilla.dev\/settlement"/);
  });

  it('lets the operator remove its own finalizers', () => {
    expect(finalizerRemovalProblem(both, [], OPERATOR, OPERATOR)).toBeUndefined();
  });

  it("lets anyone add or keep them, and remove finalizers that are not Flotilla's", () => {
    expect(finalizerRemovalProblem([], both, 'alice', OPERATOR)).toBeUndefined();
    expect(finalizerRemovalProblem([...both, 'example.com/mine'], both, 'alice', OPERATOR)).toBeUndefined();
  });

  it('refuses nothing when the operator does not know who it is', () => {
    expect(finalizerRemovalProblem(both, [], 'alice', undefined)).toBeUndefined();
  });
});
