// The gate the AIJob controller passes every job through (spec-gate.ts), with an in-memory store.
import type { AIJob, AIJobStatus } from '../../api/types.ts';
import { parseNamespacePolicy } from '../../core/placement/namespace-policy.ts';
import type { NamespacePolicy } from '../../core/placement/namespace-policy.ts';
import { DEFAULT_RUNNABLE_LIMITS } from '../../core/validation/runnable.ts';
import type { AIJobStore } from '../../hub/aijob-store.ts';
import type { NamespaceCache } from '../../hub/namespace-cache.ts';
import { SpecGate } from './spec-gate.ts';

const job = (spec: Record<string, unknown> = {}, status?: AIJobStatus): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'j', namespace: 'team', generation: 2, resourceVersion: '7' },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/out', pin: true },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
    ...(status ? { status } : {}),
  }) as unknown as AIJob;

function gate(policy: NamespacePolicy | undefined) {
  const writes: AIJobStatus[] = [];
  const events: string[] = [];
  const store = {
    patchStatus: async (_job: AIJob, status: AIJobStatus) => {
      writes.push(status);
      return _job;
    },
    recordEvent: async (_job: AIJob, e: { reason: string }) => {
      events.push(e.reason);
    },
  } as unknown as AIJobStore;
  const namespaces = { policy: () => policy } as unknown as NamespaceCache;
  const g = new SpecGate({ namespaces, limits: DEFAULT_RUNNABLE_LIMITS, log: () => undefined, now: () => Date.parse('2026-12-04T20:00:00Z') });
  return { admit: (j: AIJob) => g.admit(j, store), writes, events };
}
const policy = parseNamespacePolicy({ 'flotilla.dev/default-regions': 'us-east', 'flotilla.dev/default-denied-providers': 'provider-c' });

describe('SpecGate', () => {
  it('passes a runnable job on with the policy applied', async () => {
    const g = gate(policy);
    const out = await g.admit(job({ placement: { deniedProviders: [] } }));
    expect(out).toEqual({
      proceed: expect.objectContaining({ spec: expect.objectContaining({ placement: { regions: ['us-east'], deniedProviders: ['provider-c'] } }) }),
    });
    expect(g.writes).toEqual([]);
  });

  it('ends an unrunnable job Failed (InvalidSpec) naming the field, closing an open attempt', async () => {
    const g = gate(policy);
    const out = await g.admit(
      job({ podAnnotations: { 'bad key!': 'x' } }, { phase: 'Scheduled', attempts: [{ index: 1, provider: 'provider-a', startTime: '2026-12-04T19:59:00Z' }] }),
    );
    expect(out).toEqual({ done: {} });
    const [status] = g.writes;
    expect(status?.phase).toBe('Failed');
    expect(status?.conditions?.find((c) => c.type === 'Finished')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: expect.stringContaining('spec.podAnnotations[bad key!]'),
      observedGeneration: 2,
    });
    expect(status?.attempts?.[0]).toMatchObject({ endTime: '2026-12-04T20:00:00.000Z', reason: 'InvalidSpec' });
    expect(g.events).toEqual(['InvalidSpec']);
  });

  it('ends a job that asks for what the policy forbids (PolicyViolation) before it is placed', async () => {
    const g = gate(policy);
    expect(await g.admit(job({ placement: { regions: ['us-west'] } }))).toEqual({ done: {} });
    expect(g.writes[0]?.conditions?.find((c) => c.type === 'Finished')).toMatchObject({
      reason: 'PolicyViolation',
      message: expect.stringContaining('spec.placement.regions names us-west'),
    });
  });

  it('leaves a running attempt of a job the policy now forbids to finish, narrowed', async () => {
    const g = gate(policy);
    const out = await g.admit(job({ placement: { regions: ['us-west'] } }, { phase: 'Running', attempts: [{ index: 1, provider: 'provider-b' }] }));
    expect('proceed' in out).toBe(true);
    expect(g.writes).toEqual([]);
  });

  it('waits while the namespace cache cannot say', async () => {
    expect(await gate(undefined).admit(job())).toEqual({ done: { requeueAfterMs: 1000 } });
  });

  it('lets finished and deleted jobs through untouched', async () => {
    const g = gate(undefined);
    const failed = job({ env: [{ name: 'LD_PRELOAD', value: 'x' }] }, { phase: 'Failed' });
    expect(await g.admit(failed)).toEqual({ proceed: failed });
    const deleting = { ...job(), metadata: { ...job().metadata, deletionTimestamp: '2026-12-04T19:00:00Z' } };
    expect(await g.admit(deleting)).toEqual({ proceed: deleting });
    expect(g.writes).toEqual([]);
  });
});
