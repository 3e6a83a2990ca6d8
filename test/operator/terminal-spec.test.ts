// Spec input the operator can never process ends the job at once with a terminal condition naming
// the field, never a reconcile that throws and retries forever (issue 20). The operator runs with
// no admission webhook (startOperator's default, and the hub registers none), so whatever the CRD
// schema accepts reaches the reconcile unjudged.
//
//   spec.payment.maxAmount 1.0000001            the CRD takes 18 decimals; the payment token and
//   spec.payment.maxPricePerGpuHour 0.0000001   the operator's metering have 6 → Failed, InvalidSpec
//   spec.checkpoint.every 1m500ms               the CRD's own rule refuses it, naming the field: it
//                                               never reaches the operator (the operator's path for
//                                               it is the unit test operator/controllers/aijob/
//                                               terminal-spec.test.ts)
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, readAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const coords = { group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs' };
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-terminal');
  operator = startOperator(ns);
  // Timed from a leading, synced operator: its start-up (lease, provider warm-up) is not the point.
  const base = await operator.httpUrl();
  await pollUntil(
    'the operator ready as the leader',
    () =>
      fetch(`${base}/readyz`).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { role?: string } }),
        () => ({ status: 0, body: {} as { role?: string } }),
      ),
    (r) => r.status === 200 && r.body.role === 'leader',
    60_000,
    250,
  );
}, 90_000);
afterAll(async () => {
  await operator?.stop();
  if (ns) await deleteNamespace(hub.core, ns);
});

const manifest = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'flotilla.dev/v1alpha1',
  kind: 'AIJob',
  metadata: { name, namespace: ns },
  spec: {
    image: `registry.example/trainer@sha256:${'a'.repeat(64)}`,
    replicas: 1,
    resources: { gpus: 1 },
    output: { path: '/out', pin: false },
    recovery: { maxRestarts: 1, strategy: 'Failover' },
    ...spec,
  },
});

const finished = (job: AIJob | undefined) => job?.status?.conditions?.find((c) => c.type === 'Finished' && c.status === 'True');

describe('spec input the operator can never process', () => {
  it.each([
    ['spec.payment.maxAmount', 'max-amount', { payment: { token: 'USDC', maxAmount: '1.0000001' } }],
    ['spec.payment.maxPricePerGpuHour', 'max-price', { payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.0000001' } }],
  ])('%s with 7 decimals on a 6-decimal token ends the job Failed (InvalidSpec) naming the field within 15 s', async (field, name, spec) => {
    const started = Date.now();
    await custom.createNamespacedCustomObject({ ...coords, namespace: ns, body: manifest(name, spec) });
    const job = await pollUntil(
      `${name} Finished`,
      () => readAIJob(ns, name),
      (j) => finished(j) !== undefined,
      15_000,
      250,
    );
    const seconds = (Date.now() - started) / 1000;
    expect(job?.status?.phase).toBe('Failed');
    expect(finished(job)).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining(field) });
    expect(job?.status?.attempts ?? []).toEqual([]); // nothing was placed
    // Terminal: the retries stop. A pass that raced the Failed write may conflict once and retry
    // (the work queue's back-off starts at 200 ms and doubles), but none follows a second later.
    const retries = () => operator.logs().split(`"reconcile failed; retrying","job":"${ns}/${name}"`).length - 1;
    await new Promise((r) => setTimeout(r, 1_000));
    const settled = retries();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(retries()).toBe(settled);
    console.log(`${field}: Failed (InvalidSpec) ${seconds.toFixed(1)} s after create`);
  });

  it('checkpoint.every 1m500ms is refused by the apiserver itself, naming the field', async () => {
    const refusal = await custom
      .createNamespacedCustomObject({ ...coords, namespace: ns, body: manifest('every', { checkpoint: { path: '/ckpt', every: '1m500ms' } }) })
      .then(
        () => 'created',
        (err: { code?: number; body?: unknown }) => `${err.code} ${typeof err.body === 'string' ? err.body : JSON.stringify(err.body)}`,
      );
    expect(refusal).toMatch(/^422 /);
    expect(refusal).toContain('spec.checkpoint.every');
    expect(await readAIJob(ns, 'every')).toBeUndefined();
  });
});
