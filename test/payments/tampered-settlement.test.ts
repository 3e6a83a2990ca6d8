// status.settlement is a record, never the instruction: a job ends while its operator cannot
// settle (no settlement key), someone with status write rewrites status.settlement to pay the whole
// deposit to an address of theirs, and the operator that then settles re-derives the escrow id
// from the uid and the split from the attempts: the provider gets its metered share, the payer the
// rest, the tamperer nothing; status ends up recording what the chain paid.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../../operator/core/money.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
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
const thief = new RandomPayer(c);
const payoutOf = (provider: string) => federation().providers.find((p) => p.name === provider)?.payoutAddress ?? '';
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-pay-tamper');
  await declarePayers(hub.core, ns, [payer.address]);
  await payer.prepare(USDC('3'));
});
afterAll(async () => {
  await deleteNamespace(hub.core, ns);
  probe.destroy();
  payer.destroy();
  thief.destroy();
});

describe('a tampered status.settlement', () => {
  it("changes nothing: the settlement pays what the attempts metered, to the providers' payout addresses", async () => {
    const name = 'paid-tampered';
    const created = await createJob(
      hub.kc,
      paidJob(ns, name, { maxAmount: '3', providers: ['provider-b'], product: 'NVIDIA-A100-SXM4-40GB', gpus: 2, runSeconds: 4 }),
    );
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    await fundAs(hub.kc, c, ns, name, payer.key);
    const before = { provider: await probe.owed(payoutOf('provider-b')), payer: await probe.owed(payer.address) };

    // An operator that can fund and meter but not settle (no settlement key): the job ends unsettled.
    const { FLOTILLA_SETTLEMENT_KEY_FILE: _key, ...noKey } = operatorChainEnv(c);
    const keyless = startOperator(ns, noKey);
    let ended: AIJob;
    try {
      ended = (await waitForAIJob(
        ns,
        name,
        (j) => j?.status?.phase === 'Succeeded' && condition(j, 'Settled')?.message?.includes('no settlement key') === true,
        120_000,
      )) as AIJob;
    } finally {
      await keyless.stop();
    }
    expect(ended.status?.settlement).toBeUndefined();

    // Whoever has aijobs/status write rewrites the record: the whole deposit to the thief.
    await hub.kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus(
      {
        group: 'flotilla.dev',
        version: 'v1alpha1',
        plural: 'aijobs',
        namespace: ns,
        name,
        body: { status: { settlement: { id, amounts: [{ provider: 'provider-b', payoutAddress: thief.address, amount: '3' }], refund: '0' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    const operator = startOperator(ns, operatorChainEnv(c));
    let done: AIJob;
    try {
      // Settled, and the settlement finalizer released.
      done = (await waitForAIJob(
        ns,
        name,
        (j) => j?.status?.phase === 'Settled' && !j.metadata.finalizers?.includes('flotilla.dev/settlement'),
        120_000,
      )) as AIJob;
    } finally {
      await operator.stop();
    }
    const attempt = done.status?.attempts?.[0];
    const share = (BigInt(attempt?.billableGpuSeconds ?? 0) * toBaseUnits(attempt?.pricePerGpuHour ?? '', 6)) / 3600n;
    expect(share).toBeGreaterThan(0n);
    expect(await probe.settledEvents(id)).toEqual([
      { txHash: done.status?.settlement?.txHash, providers: [payoutOf('provider-b')], amounts: [share], refund: USDC('3') - share },
    ]);
    expect(await probe.owed(thief.address)).toBe(0n);
    expect((await probe.owed(payoutOf('provider-b'))) - before.provider).toBe(share);
    expect((await probe.owed(payer.address)) - before.payer).toBe(USDC('3') - share);
    // The record now says what was paid.
    expect(done.status?.settlement).toMatchObject({
      id,
      amounts: [{ provider: 'provider-b', payoutAddress: payoutOf('provider-b'), amount: fromBaseUnits(share, 6) }],
      refund: fromBaseUnits(USDC('3') - share, 6),
    });
  });
});
