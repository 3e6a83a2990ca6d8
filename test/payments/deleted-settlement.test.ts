// Providers are paid for work done, always: a funded job deleted after ~30 s of work is not gone
// until that work is settled. The lifecycle closes its attempt on deletion (metered up to the
// stop), the settlement finalizer (flotilla.dev/settlement) holds the object until FlotillaEscrow
// has paid the provider its metered share to the base unit and credited the rest to the payer.
// While the job runs, the payer's own reclaim is refused by the contract (its deadline is later).
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../../operator/core/money.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, readAIJob, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  EscrowProbe,
  RandomPayer,
  USDC,
  condition,
  createJob,
  declarePayers,
  escrowJobIdOf,
  federationChain,
  fundAs,
  operatorChainEnv,
  paidJob,
} from './payments-fixture.ts';

const hub = clusterClients('hub');
const c = federationChain();
const probe = new EscrowProbe(c);
const payer = new RandomPayer(c);
const payoutOf = (provider: string) => federation().providers.find((p) => p.name === provider)?.payoutAddress ?? '';
const A100 = 'NVIDIA-A100-SXM4-40GB';
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-pay-del');
  await declarePayers(hub.core, ns, [payer.address]);
  await payer.prepare(USDC('5'));
  operator = startOperator(ns, operatorChainEnv(c));
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  probe.destroy();
  payer.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a funded job deleted while it runs', () => {
  it('waits until the ~30 s of work done is settled: the provider paid its metered share to the base unit, the rest credited to the payer', async () => {
    const name = 'paid-deleted';
    const created = await createJob(hub.kc, paidJob(ns, name, { maxAmount: '5', providers: ['provider-b'], product: A100, gpus: 2, runSeconds: 600 }));
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    const before = { provider: await probe.owed(payoutOf('provider-b')), payer: await probe.owed(payer.address) };
    await fundAs(hub.kc, c, ns, name, payer.key);

    const running = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running', 120_000)) as AIJob;
    expect(running.metadata.finalizers).toContain('flotilla.dev/settlement');
    // The payer cannot take the deposit back while the job runs: the contract refuses before the deadline.
    await expect(payer.simulateReclaim(c.chain.escrow, id)).rejects.toThrow(/DeadlineNotReached/);

    // ~30 s of work (the replica starts a moment after the attempt is recorded), then delete.
    const started = Date.parse(running.status?.attempts?.[0]?.startTime ?? '');
    await sleep(Math.max(0, started + 33_000 - Date.now()));
    const deletedAt = Date.now();
    await hub.kc
      .makeApiClient(CustomObjectsApi)
      .deleteNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, name });

    // Held by the settlement finalizer until the work is settled: the settlement record is written
    // (before anything is sent) while the object still exists. Remember the last status seen with it.
    let last: AIJob | undefined;
    await pollUntil(
      'the deleted job to be settled and gone',
      async () => {
        const j = await readAIJob(ns, name);
        if (j?.status?.settlement?.id) last = j;
        return j;
      },
      (j) => j === undefined,
      120_000,
      100,
    );
    expect(last?.metadata.deletionTimestamp).toBeTruthy();
    expect(last?.metadata.finalizers).toContain('flotilla.dev/settlement');
    const attempt = last?.status?.attempts?.[0];
    expect(last?.status?.attempts).toHaveLength(1);
    expect(attempt).toMatchObject({ provider: 'provider-b', reason: 'Deleted', pricePerGpuHour: '1.2' });
    // 2 GPUs × the ≥ 30 s it ran before the delete, and nothing after the attempt was closed on it.
    expect(attempt?.billableGpuSeconds).toBeGreaterThanOrEqual(60);
    expect(attempt?.billableGpuSeconds).toBe(attempt?.gpuSeconds);
    const closed = Date.parse(attempt?.endTime ?? '');
    expect(closed).toBeGreaterThanOrEqual(deletedAt - 1_000);
    expect(attempt?.gpuSeconds).toBeLessThanOrEqual(2 * Math.ceil((closed - started) / 1000));
    const share = (BigInt(attempt?.billableGpuSeconds ?? 0) * toBaseUnits('1.2', 6)) / 3600n;
    expect(share).toBeGreaterThan(0n);
    expect(condition(last, 'Settled')?.reason).toMatch(/^Settlement(Pending|Confirmed)$/);
    expect(last?.status?.settlement).toMatchObject({
      id,
      amounts: [{ provider: 'provider-b', payoutAddress: payoutOf('provider-b'), amount: fromBaseUnits(share, 6) }],
      refund: fromBaseUnits(USDC('5') - share, 6),
    });

    // On chain: one settlement, exactly the metered share; the rest is the payer's.
    const events = await probe.settledEvents(id);
    expect(events).toEqual([
      { txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), providers: [payoutOf('provider-b')], amounts: [share], refund: USDC('5') - share },
    ]);
    expect((await probe.job(id)).status).toBe(2n); // Settled
    expect((await probe.owed(payoutOf('provider-b'))) - before.provider).toBe(share);
    expect((await probe.owed(payer.address)) - before.payer).toBe(USDC('5') - share);
    // Its pods are gone from the provider.
    const { core } = clusterClients('provider-b');
    expect((await core.listNamespacedPod({ namespace: 'flotilla-workloads', labelSelector: `flotilla.dev/job-uid=${created.metadata.uid}` })).items).toEqual(
      [],
    );
  });
});
