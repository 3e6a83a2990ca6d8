// Several jobs that end close together settle in one settleBatch transaction.
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, deleteNamespace, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  EscrowProbe,
  PAYER_ACCOUNTS,
  USDC,
  createJob,
  escrowJobIdOf,
  federationChain,
  fund,
  operatorChainEnv,
  paidJob,
  paymentNamespace,
} from './payments-fixture.ts';

const hub = clusterClients('hub');
const c = federationChain();
const probe = new EscrowProbe(c);
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await paymentNamespace(hub.core, 't-pay-batch', [PAYER_ACCOUNTS.settle]);
  // A long collection window, so jobs ending a few seconds apart still share a transaction.
  operator = startOperator(ns, operatorChainEnv(c, { FLOTILLA_SETTLEMENT_BATCH_MS: '8000' }));
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  probe.destroy();
});

describe('batch settlement', () => {
  it('settles three jobs that end together in one settleBatch transaction, each once', async () => {
    const names = ['batch-0', 'batch-1', 'batch-2'];
    await probe.mint(PAYER_ACCOUNTS.settle, USDC('3'));
    for (const name of names) {
      await createJob(hub.kc, paidJob(ns, name, { maxAmount: '1', providers: ['provider-b'], product: 'NVIDIA-A100-SXM4-40GB', gpus: 1, runSeconds: 2 }));
      await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.settle);
    }
    const done = (await Promise.all(names.map((name) => waitForAIJob(ns, name, (j) => j?.status?.phase === 'Settled', 180_000)))) as AIJob[];
    const hashes = new Set(done.map((j) => j.status?.settlement?.txHash));
    expect(hashes.size).toBe(1);
    for (const job of done) {
      const events = await probe.settledEvents(escrowJobIdOf(job.metadata.uid ?? ''));
      expect(events.map((e) => e.txHash)).toEqual([job.status?.settlement?.txHash]);
    }
    expect(operator.logs()).toMatch(/"msg":"settlement sent".*"jobs":3/);
  });
});
