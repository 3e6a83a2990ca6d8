// The AIJob controller's last line against spec input it can never process: without a spec gate
// (or with one that let the value through), a TerminalSpecError from the reconcile ends the job
// Failed naming the field — the gate's path — instead of a throw the work queue retries forever.
import { KubeConfig } from '@kubernetes/client-node';
import type { AIJob, AIJobStatus } from '../../api/types.ts';
import type { ProviderRegistry } from '../../providers/types.ts';
import { AIJobController } from './controller.ts';

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
  users: [{ name: 'none' }],
  contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
  currentContext: 'none',
});

const job = (spec: Record<string, unknown>, status?: AIJobStatus): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'j', namespace: 'team', uid: 'u-1', generation: 1, resourceVersion: '5', finalizers: ['flotilla.dev/remote-pods'] },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/out', pin: false },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
    ...(status ? { status } : {}),
  }) as unknown as AIJob;
/** A paid job is placed only once funded. */
const funded: AIJobStatus = {
  phase: 'Funded',
  conditions: [{ type: 'Funded', status: 'True', reason: 'EscrowDeposited', message: '', lastTransitionTime: '2026-12-04T19:00:00Z' }],
};

function controller(stored: AIJob) {
  const registry = { subscribe: () => () => undefined, get: () => undefined, snapshots: () => [] } as unknown as ProviderRegistry;
  const c = new AIJobController({ hub: kc, registry, hubId: 'test', log: () => undefined, now: () => Date.parse('2026-12-04T20:00:00Z') });
  const writes: AIJobStatus[] = [];
  const events: string[] = [];
  Object.assign(c.store, {
    get: () => stored,
    patchStatus: async (j: AIJob, status: AIJobStatus) => {
      writes.push(status);
      return j;
    },
    addFinalizer: async (j: AIJob) => j,
    removeFinalizer: async (j: AIJob) => j,
    recordEvent: async (_j: AIJob, e: { reason: string }) => {
      events.push(e.reason);
    },
  });
  return { c, writes, events };
}

describe('AIJobController: spec input it cannot parse', () => {
  it.each([
    ['spec.checkpoint.every', { checkpoint: { path: '/ckpt', every: '1m500ms' } }, undefined],
    ['spec.payment.maxPricePerGpuHour', { payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.0000001' } }, funded],
  ])('ends the job Failed (InvalidSpec) naming %s in one pass, no throw', async (field, spec, status) => {
    const { c, writes, events } = controller(job(spec, status));
    await expect(c.reconcile('team/j')).resolves.toEqual({});
    expect(writes).toHaveLength(1);
    expect(writes[0]?.phase).toBe('Failed');
    expect(writes[0]?.conditions?.find((x) => x.type === 'Finished')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: expect.stringContaining(field),
    });
    expect(events).toEqual(['InvalidSpec']);
  });
});
