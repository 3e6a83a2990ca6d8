// Who may fund a job and for how long, on the local federation's hub and anvil: only a deposit
// from a payer the Namespace declares (flotilla.dev/payers) whose reclaim deadline covers the job's
// deadline plus the settlement window funds it; a third party depositing under the job's public
// escrow id funds nothing; a job without spec.payment on this paid hub ends naming spec.payment
// unless its namespace allows unpaid jobs. Nothing refused here is ever placed.
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
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
const payer = new RandomPayer(c);
const stranger = new RandomPayer(c);
const A100 = 'NVIDIA-A100-SXM4-40GB';
const HOUR = 3600n;
let ns = '';
let open = '';
let operator: OperatorProcess;

beforeAll(async () => {
  // One operator for two namespaces would need a cluster-wide one: two small ones instead.
  ns = await createNamespace(hub.core, 't-pay-policy');
  open = await createNamespace(hub.core, 't-pay-open');
  await declarePayers(hub.core, ns, [payer.address]);
  await declarePayers(hub.core, open, [], { allowUnpaid: true });
  await Promise.all([payer.prepare(USDC('10')), stranger.prepare(USDC('10'))]);
  operator = startOperator(ns, operatorChainEnv(c));
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  await deleteNamespace(hub.core, open);
  payer.destroy();
  stranger.destroy();
});

const unix = () => BigInt(Math.floor(Date.now() / 1000));
const notPlaced = (job: AIJob | undefined) => {
  expect(job?.status?.attempts ?? []).toEqual([]);
  expect(job?.metadata.finalizers ?? []).not.toContain('flotilla.dev/settlement');
};

function unpaidJob(namespace: string, name: string): AIJobManifest {
  const m = paidJob(namespace, name, { maxAmount: '1', providers: ['provider-b'], product: A100, runSeconds: 2 });
  const { payment: _payment, ...spec } = m.spec;
  return { ...m, spec } as AIJobManifest;
}

describe('the funding gate on a paid hub', () => {
  it("a third party depositing under the job's escrow id funds nothing (and the contract then refuses the real payer under that id)", async () => {
    const name = 'griefed';
    const created = await createJob(hub.kc, paidJob(ns, name, { maxAmount: '2', providers: ['provider-b'], product: A100, runSeconds: 2 }));
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    await fundAs(hub.kc, c, ns, name, stranger.key);
    // The lifecycle answers the funding verdict (it waits for one, FUNDING_VERDICT_GRACE_MS): both land.
    const job = await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'UndeclaredPayer' && condition(j, 'Scheduled') !== undefined, 60_000);
    expect(condition(job, 'Funded')).toMatchObject({ status: 'False', message: expect.stringContaining(`made by ${stranger.address}`) });
    expect(condition(job, 'Funded')?.message).toContain(id);
    expect(job?.status?.funding?.deposited).toBe('2');
    expect(condition(job, 'Scheduled')).toMatchObject({ status: 'False', reason: 'AwaitingFunding' });
    notPlaced(job);
    // FlotillaEscrow keys a deposit by id alone and fixes its payer at the first deposit.
    await expect(fundAs(hub.kc, c, ns, name, payer.key, { amount: '2' })).rejects.toThrow(/NotPayer/);
  });

  it("a deposit that may be reclaimed before the job's deadline plus the settlement window funds nothing, and the payer cannot reclaim it early either", async () => {
    const name = 'short-deadline';
    const manifest = paidJob(ns, name, { maxAmount: '1', providers: ['provider-b'], product: A100, runSeconds: 2 });
    manifest.spec.deadline = new Date(Date.now() + 2 * 3600_000).toISOString();
    const created = await createJob(hub.kc, manifest);
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    // Reclaimable one hour from now: before the job's own deadline, let alone the window after it.
    await fundAs(hub.kc, c, ns, name, payer.key, { deadline: unix() + HOUR });
    const job = await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'DeadlineTooEarly', 60_000);
    expect(condition(job, 'Funded')?.message).toMatch(
      new RegExp(`the deposit under ${id} may be reclaimed after .*; it must stay until at least .* \\(the job's deadline plus the settlement window\\)`),
    );
    notPlaced(job);
    // The contract's side of the same promise: no reclaim before the deposit's deadline.
    await expect(payer.simulateReclaim(c.chain.escrow, id)).rejects.toThrow(/DeadlineNotReached/);
    await expect(stranger.simulateReclaim(c.chain.escrow, id)).rejects.toThrow(/NotPayer/);

    // A top-up can only move the deadline later: with one that covers it, the job is funded and runs.
    await fundAs(hub.kc, c, ns, name, payer.key, { amount: '0.000001', deadline: unix() + 10n * 24n * HOUR });
    // Settled, and the settlement finalizer released.
    const done = await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Settled' && !j.metadata.finalizers?.includes('flotilla.dev/settlement'), 120_000);
    expect(condition(done, 'Funded')).toMatchObject({ status: 'True', reason: 'EscrowDeposited' });
    expect(done?.status?.attempts).toHaveLength(1);
  });

  it('a job without spec.payment ends Failed naming spec.payment where unpaid jobs are not allowed, and runs where they are', async () => {
    await createJob(hub.kc, unpaidJob(ns, 'unpaid'));
    const refused = await waitForAIJob(ns, 'unpaid', (j) => j?.status?.phase === 'Failed', 60_000);
    expect(condition(refused, 'Funded')).toMatchObject({ status: 'False', reason: 'PaymentRequired' });
    expect(condition(refused, 'Finished')).toMatchObject({
      status: 'True',
      reason: 'PaymentRequired',
      message: expect.stringContaining('spec.payment is required'),
    });
    expect(condition(refused, 'Finished')?.message).toContain('flotilla.dev/allow-unpaid-jobs');
    notPlaced(refused);

    const second = startOperator(open, operatorChainEnv(c));
    try {
      await createJob(hub.kc, unpaidJob(open, 'unpaid'));
      const ran = await waitForAIJob(open, 'unpaid', (j) => j?.status?.phase === 'Succeeded', 120_000);
      expect(condition(ran, 'Funded')).toMatchObject({ status: 'True', reason: 'UnpaidAllowed' });
      expect(ran?.status?.attempts).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});
