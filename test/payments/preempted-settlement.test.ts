// The end-to-end case: a funded job that was preempted once (the Kubernetes eviction API on
// its running pod at the provider) resumes on another provider from its last checkpoint, and the
// settlement pays both providers their metered shares — the preempted attempt up to its last
// checkpoint only — and refunds the rest; the chain matches status to the base unit.
import { createServer } from 'node:net';
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../../operator/core/money.ts';
import { clusterClients, deleteNamespace, federation, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  EscrowProbe,
  PAYER_ACCOUNTS,
  USDC,
  condition,
  createJob,
  escrowJobIdOf,
  federationChain,
  fund,
  operatorChainEnv,
  paidJob,
  payerAddress,
  paymentNamespace,
} from './payments-fixture.ts';

const hub = clusterClients('hub');
const c = federationChain();
const probe = new EscrowProbe(c);
const payoutOf = (provider: string) => federation().providers.find((p) => p.name === provider)?.payoutAddress ?? '';
const H100 = 'NVIDIA-H100-80GB-HBM3';
const PROVIDERS = ['provider-a', 'provider-c'];
let ns = '';
let operator: OperatorProcess;

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

beforeAll(async () => {
  ns = await paymentNamespace(hub.core, 't-pay-pre', [PAYER_ACCOUNTS.preempt]);
  const port = await freePort();
  operator = startOperator(
    ns,
    operatorChainEnv(c, {
      // Replicas report checkpoints to the operator's report listener (the simulated workload does).
      FLOTILLA_REPORT_PORT: String(port),
      FLOTILLA_WEBHOOK_PORT: 'off',
      FLOTILLA_REPORT_URL: `http://127.0.0.1:${port}`,
      FLOTILLA_REPORT_SECRET: `payments-test-${ns}-secret`,
    }),
  );
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  probe.destroy();
});

const phase = (p: string) => (job: AIJob | undefined) => job?.status?.phase === p;
/** The first attempt has reported a checkpoint taken at least 2 s into the attempt (so some work is billable). */
const checkpointed = (job: AIJob | undefined) => {
  const a = job?.status?.attempts?.[0];
  return Boolean(a?.checkpointCID) && Date.parse(a?.checkpointTime ?? '') - Date.parse(a?.startTime ?? '') >= 2_000;
};

describe('a funded job preempted once', () => {
  it('pays both providers their metered shares and refunds the rest', async () => {
    const name = 'paid-preempted';
    const manifest = paidJob(ns, name, { maxAmount: '4', providers: PROVIDERS, product: H100, gpus: 1, runSeconds: 8, checkpoint: true });
    manifest.spec.podAnnotations = { ...manifest.spec.podAnnotations, 'sim.flotilla.dev/checkpoint-seconds': '1' };
    await createJob(hub.kc, manifest);
    await probe.mint(PAYER_ACCOUNTS.preempt, USDC('4'));
    const payer = payerAddress(PAYER_ACCOUNTS.preempt);
    const before = { a: await probe.owed(payoutOf('provider-a')), c: await probe.owed(payoutOf('provider-c')), payer: await probe.owed(payer) };
    await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.preempt);

    // Running, with a checkpoint on record: evict the pod where it runs.
    const running = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running' && checkpointed(j), 120_000)) as AIJob;
    const first = running.status?.attempts?.[0];
    const firstProvider = first?.provider ?? '';
    const otherProvider = PROVIDERS.find((p) => p !== firstProvider) ?? '';
    const { core } = clusterClients(firstProvider);
    const [pod] = (await core.listNamespacedPod({ namespace: 'flotilla-workloads', labelSelector: `flotilla.dev/job-uid=${running.metadata.uid}` })).items;
    const podName = pod?.metadata?.name ?? '';
    await core.createNamespacedPodEviction({
      name: podName,
      namespace: 'flotilla-workloads',
      body: { metadata: { name: podName, namespace: 'flotilla-workloads' } },
    });

    const done = (await waitForAIJob(ns, name, phase('Settled'), 240_000)) as AIJob;
    const attempts = done.status?.attempts ?? [];
    expect(attempts.map((a) => [a.provider, a.reason?.startsWith('Preempted') ? 'Preempted' : a.reason])).toEqual([
      [firstProvider, 'Preempted'],
      [otherProvider, 'Succeeded'],
    ]);
    const [preempted, resumed] = attempts;
    // The preempted attempt is billed up to its checkpoint only; something was billable on both.
    expect(preempted?.checkpointCID).toBeTruthy();
    expect(preempted?.billableGpuSeconds).toBeGreaterThan(0);
    expect(preempted?.billableGpuSeconds).toBeLessThanOrEqual(preempted?.gpuSeconds ?? 0);
    // …and never past the checkpoint: at most the GPU-seconds from the attempt's start to checkpointTime.
    const untilCheckpoint = Math.ceil((Date.parse(preempted?.checkpointTime ?? '') - Date.parse(preempted?.startTime ?? '')) / 1000);
    expect(preempted?.billableGpuSeconds).toBeLessThanOrEqual(untilCheckpoint);
    expect(resumed?.billableGpuSeconds).toBe(resumed?.gpuSeconds);

    const share = (a: typeof preempted) => (BigInt(a?.billableGpuSeconds ?? 0) * toBaseUnits(a?.pricePerGpuHour ?? '', 6)) / 3600n;
    const shares = new Map([
      [preempted?.provider ?? '', share(preempted)],
      [resumed?.provider ?? '', share(resumed)],
    ]);
    const total = share(preempted) + share(resumed);
    expect(share(preempted)).toBeGreaterThan(0n);
    expect(share(resumed)).toBeGreaterThan(0n);
    expect(done.status?.cost).toEqual({ amount: fromBaseUnits(total, 6), token: 'USDC' });

    const id = escrowJobIdOf(done.metadata.uid ?? '');
    const expectedAmounts = PROVIDERS.map((p) => ({ provider: p, payoutAddress: payoutOf(p), amount: fromBaseUnits(shares.get(p) ?? 0n, 6) }));
    expect(done.status?.settlement).toEqual({
      id,
      amounts: expectedAmounts,
      refund: fromBaseUnits(USDC('4') - total, 6),
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(condition(done, 'Settled')).toMatchObject({ status: 'True', reason: 'SettlementConfirmed' });

    // On chain: one settlement with the same amounts; each credit moved by exactly its share.
    expect(await probe.settledEvents(id)).toEqual([
      {
        txHash: done.status?.settlement?.txHash,
        providers: PROVIDERS.map(payoutOf),
        amounts: PROVIDERS.map((p) => shares.get(p)),
        refund: USDC('4') - total,
      },
    ]);
    expect((await probe.owed(payoutOf('provider-a'))) - before.a).toBe(shares.get('provider-a'));
    expect((await probe.owed(payoutOf('provider-c'))) - before.c).toBe(shares.get('provider-c'));
    expect((await probe.owed(payer)) - before.payer).toBe(USDC('4') - total);
  });
});
