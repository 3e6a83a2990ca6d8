// Payments end to end on the local federation (real hub, providers, executor, anvil, escrow): the
// funding gate, metering, exactly-once settlement (also across a crash right after the send), and
// the balances on chain matching status to the base unit.
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../../operator/core/money.ts';
import { withdrawCredit } from '../../operator/payments/fund.ts';
import { devKey } from '../../federation/chain-contracts.ts';
import { clusterClients, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  EscrowProbe,
  PAYER_ACCOUNTS,
  USDC,
  chainConfigOf,
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
const A100 = 'NVIDIA-A100-SXM4-40GB';
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await paymentNamespace(hub.core, 't-pay', [PAYER_ACCOUNTS.settle, PAYER_ACCOUNTS.gate]);
  operator = startOperator(ns, operatorChainEnv(c));
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  probe.destroy();
});

const phase = (p: string) => (job: AIJob | undefined) => job?.status?.phase === p;

/** Σ floor(billable × price / 3600) over the job's attempts, from what status recorded. */
function meteredByProvider(job: AIJob): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const a of job.status?.attempts ?? []) {
    const price = toBaseUnits(a.pricePerGpuHour ?? '', 6);
    out.set(a.provider, (out.get(a.provider) ?? 0n) + (BigInt(a.billableGpuSeconds ?? -1) * price) / 3600n);
  }
  return out;
}

describe('settlement on the local federation', () => {
  it('a funded job runs and settles once; the escrow credits match status to the base unit', async () => {
    const name = 'paid-a100';
    const created = await createJob(hub.kc, paidJob(ns, name, { maxAmount: '5', providers: ['provider-b'], product: A100, gpus: 2, runSeconds: 4 }));
    const payer = payerAddress(PAYER_ACCOUNTS.settle);
    await probe.mint(PAYER_ACCOUNTS.settle, USDC('5'));
    const before = { provider: await probe.owed(payoutOf('provider-b')), payer: await probe.owed(payer) };

    const funded = await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.settle);
    expect(funded).toMatchObject({ escrowJobId: escrowJobIdOf(created.metadata.uid ?? ''), deposited: '5', total: '5', token: 'USDC' });

    const done = (await waitForAIJob(ns, name, phase('Settled'), 180_000)) as AIJob;
    const id = escrowJobIdOf(done.metadata.uid ?? '');
    const metered = meteredByProvider(done);
    const cost = metered.get('provider-b') ?? 0n;
    expect(done.status?.attempts).toEqual([expect.objectContaining({ provider: 'provider-b', reason: 'Succeeded', pricePerGpuHour: '1.2' })]);
    // 2 GPUs × the 4 s it ran, on the hub's clock: the provider's second-granular pod timestamps only
    // narrow the hub's window (core/metering.ts), so up to a second per replica may not count.
    expect(done.status?.attempts?.[0]?.billableGpuSeconds).toBeGreaterThanOrEqual(6);
    expect(cost).toBeGreaterThan(0n);
    expect(done.status?.cost).toEqual({ amount: fromBaseUnits(cost, 6), token: 'USDC' });
    expect(done.status?.funding).toEqual({ escrowJobId: id, deposited: '5' });
    expect(done.status?.settlement).toEqual({
      id,
      amounts: [{ provider: 'provider-b', payoutAddress: payoutOf('provider-b'), amount: fromBaseUnits(cost, 6) }],
      refund: fromBaseUnits(USDC('5') - cost, 6),
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(condition(done, 'Funded')).toMatchObject({ status: 'True', reason: 'EscrowDeposited' });
    expect(condition(done, 'Settled')).toMatchObject({ status: 'True', reason: 'SettlementConfirmed' });

    // The chain: one Settled event with exactly these amounts; credits moved by exactly them.
    expect(await probe.settledEvents(id)).toEqual([
      { txHash: done.status?.settlement?.txHash, providers: [payoutOf('provider-b')], amounts: [cost], refund: USDC('5') - cost },
    ]);
    expect((await probe.job(id)).status).toBe(2n); // Settled
    expect((await probe.owed(payoutOf('provider-b'))) - before.provider).toBe(cost);
    expect((await probe.owed(payer)) - before.payer).toBe(USDC('5') - cost);

    // The payer withdraws its refund (with any earlier ones) through `flotilla provider withdraw`'s logic.
    const credit = await probe.owed(payer);
    const balance = await probe.balance(payer);
    const withdrawn = await withdrawCredit(chainConfigOf(c), devKey(PAYER_ACCOUNTS.settle), 'USDC');
    expect(withdrawn).toMatchObject({ account: payer, amount: fromBaseUnits(credit, 6), token: 'USDC' });
    expect((await probe.balance(payer)) - balance).toBe(credit);
    expect(await probe.owed(payer)).toBe(0n);
  });

  it('a job with spec.payment but no deposit stays Pending naming the missing amount, and runs once funded', async () => {
    const name = 'paid-gated';
    await createJob(hub.kc, paidJob(ns, name, { maxAmount: '3', providers: ['provider-b'], product: A100, gpus: 1, runSeconds: 2 }));
    await probe.mint(PAYER_ACCOUNTS.gate, USDC('3'));

    const waiting = await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'AwaitingDeposit', 60_000);
    expect(condition(waiting, 'Funded')?.message).toMatch(/no deposit for escrow job id 0x[0-9a-f]{64}; deposit 3 USDC/);

    await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.gate, '1');
    const short = await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'InsufficientDeposit', 60_000);
    expect(condition(short, 'Funded')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('deposit 1 USDC is below spec.payment.maxAmount 3 USDC: 2 USDC missing'),
    });
    expect(short?.status?.funding?.deposited).toBe('1');
    // Nothing was placed while the deposit fell short.
    expect(short?.status?.attempts ?? []).toEqual([]);
    expect(short?.status?.phase ?? 'Pending').toBe('Pending');

    const topUp = await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.gate);
    expect(topUp).toMatchObject({ deposited: '2', total: '3' });
    const done = (await waitForAIJob(ns, name, phase('Settled'), 180_000)) as AIJob;
    expect(condition(done, 'Funded')).toMatchObject({ status: 'True', reason: 'EscrowDeposited' });
    expect(done.status?.attempts).toHaveLength(1);
    // Funded before the first attempt started.
    expect(Date.parse(condition(done, 'Funded')?.lastTransitionTime ?? '')).toBeLessThanOrEqual(Date.parse(done.status?.attempts?.[0]?.startTime ?? ''));
    expect(await probe.settledEvents(escrowJobIdOf(done.metadata.uid ?? ''))).toHaveLength(1);
  });
});

describe('a crash between sending the settlement and writing status', () => {
  let crashNs = '';
  afterAll(async () => {
    if (crashNs) await deleteNamespace(hub.core, crashNs);
  });

  it('leaves exactly one settlement on chain after the restart', async () => {
    crashNs = await paymentNamespace(hub.core, 't-pay-crash', [PAYER_ACCOUNTS.crash]);
    const name = 'paid-crash';
    const created = await createJob(hub.kc, paidJob(crashNs, name, { maxAmount: '2', providers: ['provider-b'], product: A100, gpus: 1, runSeconds: 2 }));
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    await probe.mint(PAYER_ACCOUNTS.crash, USDC('2'));
    await fund(hub.kc, c, crashNs, name, PAYER_ACCOUNTS.crash);

    const crashing = startOperator(crashNs, operatorChainEnv(c, { FLOTILLA_FAILPOINT: 'after-settle-send' }));
    const alive = () => {
      try {
        process.kill(crashing.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await pollUntil(
      'the operator to exit at the failpoint',
      async () => alive(),
      (a) => !a,
      180_000,
      250,
    );
    expect(crashing.logs()).toMatch(/failpoint after-settle-send/);

    // The transaction landed; status knows the intent but not the transaction.
    const crashed = (await waitForAIJob(crashNs, name, () => true)) as AIJob;
    expect(crashed.status?.phase).toBe('Succeeded');
    expect(crashed.status?.settlement?.id).toBe(id);
    expect(crashed.status?.settlement?.txHash).toBeUndefined();
    expect(condition(crashed, 'Settled')).toMatchObject({ status: 'False', reason: 'SettlementPending' });
    const [landed, ...more] = await probe.settledEvents(id);
    expect(more).toEqual([]);

    const restarted = startOperator(crashNs, operatorChainEnv(c));
    try {
      const done = (await waitForAIJob(crashNs, name, phase('Settled'), 120_000)) as AIJob;
      expect(done.status?.settlement?.txHash).toBe(landed?.txHash);
      expect(condition(done, 'Settled')).toMatchObject({ status: 'True', reason: 'SettlementConfirmed' });
      expect(await probe.settledEvents(id)).toHaveLength(1);
      expect(restarted.logs()).not.toMatch(/settlement sent/);
    } finally {
      await restarted.stop();
    }
  });
});
