// The chain going away, on a private anvil (the federation's shared one is never touched): the
// funding gate says Unknown/ChainUnreachable instead of guessing; a job that finishes while the
// chain is down stays Succeeded with Settled=False (ChainUnreachable) and settles once it is back.
// "Down" is anvil stopped with SIGSTOP: connections hang until the operator's request timeout,
// the harder case for a client than a refused connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAnvil } from '../../federation/anvil.ts';
import type { AnvilNode } from '../../federation/anvil.ts';
import { deployFederationChain } from '../../federation/chain-contracts.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, deleteNamespace, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  EscrowProbe,
  PAYER_ACCOUNTS,
  USDC,
  condition,
  createJob,
  escrowJobIdOf,
  fund,
  operatorChainEnv,
  paidJob,
  paymentNamespace,
} from './payments-fixture.ts';
import type { ChainUnderTest } from './payments-fixture.ts';

const hub = clusterClients('hub');
let stateDir = '';
let node: AnvilNode;
let c: ChainUnderTest;
let probe: EscrowProbe;
let ns = '';
let operator: OperatorProcess;
let stopped = false;

const pause = () => {
  process.kill(node.pid, 'SIGSTOP');
  stopped = true;
};
const resume = () => {
  process.kill(node.pid, 'SIGCONT');
  stopped = false;
};

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'flotilla-chain-down-'));
  node = await startAnvil({ stateDir, name: 'anvil-chain-down' });
  c = { rpcUrl: node.rpcUrl, chainId: node.chainId, chain: await deployFederationChain(node.rpcUrl, node.chainId, stateDir) };
  probe = new EscrowProbe(c);
  ns = await paymentNamespace(hub.core, 't-pay-down', [PAYER_ACCOUNTS.chainDown]);
  operator = startOperator(ns, operatorChainEnv(c, { FLOTILLA_CHAIN_TIMEOUT_MS: '1500' }));
});
afterAll(async () => {
  if (stopped) resume();
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  probe?.destroy();
  await node?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('payments while the chain is down', () => {
  it('funding reads Unknown (ChainUnreachable) and recovers; settlement waits in Succeeded and lands once, when the chain is back', async () => {
    const name = 'paid-chain-down';
    pause();
    const created = await createJob(
      hub.kc,
      paidJob(ns, name, { maxAmount: '2', providers: ['provider-b'], product: 'NVIDIA-A100-SXM4-40GB', gpus: 1, runSeconds: 6 }),
    );
    const id = escrowJobIdOf(created.metadata.uid ?? '');
    const unknown = await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'ChainUnreachable', 60_000);
    expect(condition(unknown, 'Funded')).toMatchObject({ status: 'Unknown', message: expect.stringContaining(id) });
    expect(unknown?.status?.attempts ?? []).toEqual([]);

    resume();
    await waitForAIJob(ns, name, (j) => condition(j, 'Funded')?.reason === 'AwaitingDeposit', 60_000);
    await probe.mint(PAYER_ACCOUNTS.chainDown, USDC('2'));
    await fund(hub.kc, c, ns, name, PAYER_ACCOUNTS.chainDown);

    // Take the chain away while the job runs.
    await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running', 120_000);
    pause();
    const waiting = (await waitForAIJob(ns, name, (j) => condition(j, 'Settled')?.reason === 'ChainUnreachable', 120_000)) as AIJob;
    expect(waiting.status?.phase).toBe('Succeeded');
    expect(condition(waiting, 'Settled')).toMatchObject({ status: 'False', message: expect.stringContaining(id) });

    resume();
    const done = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Settled', 120_000)) as AIJob;
    expect(condition(done, 'Settled')).toMatchObject({ status: 'True', reason: 'SettlementConfirmed' });
    const events = await probe.settledEvents(id);
    expect(events).toHaveLength(1);
    expect(events[0]?.txHash).toBe(done.status?.settlement?.txHash);
  });
});
