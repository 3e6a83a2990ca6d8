// One nonce manager per key against a real anvil: concurrent sends from one key get consecutive
// nonces and all land; a send whose simulation reverts spends no nonce; a second process using the
// same key (nonce taken behind the manager's back) costs one retry, not a stuck queue.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { startAnvil } from '../../federation/anvil.ts';
import type { AnvilNode } from '../../federation/anvil.ts';
import { deployFederationChain, devKey } from '../../federation/chain-contracts.ts';
import { ChainRevertError, EscrowClient } from '../../operator/payments/escrow-client.ts';
import { KeyNonceManager, nonceManagerFor } from '../../operator/payments/nonce-manager.ts';
import { chainConfigOf } from './payments-fixture.ts';
import type { ChainUnderTest } from './payments-fixture.ts';

let stateDir = '';
let node: AnvilNode;
let provider: JsonRpcProvider;
let c: ChainUnderTest;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'flotilla-nonce-'));
  node = await startAnvil({ stateDir, name: 'anvil-nonce' });
  provider = new JsonRpcProvider(node.rpcUrl, node.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
  c = { rpcUrl: node.rpcUrl, chainId: node.chainId, chain: await deployFederationChain(node.rpcUrl, node.chainId, stateDir) };
});
afterAll(async () => {
  provider.destroy();
  await node.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('KeyNonceManager on anvil', () => {
  it('sends 20 concurrent transactions from one key with consecutive nonces, all mined', async () => {
    const wallet = new Wallet(devKey(6), provider);
    const start = await provider.getTransactionCount(wallet.address, 'pending');
    const m = new KeyNonceManager({ address: wallet.address, pendingNonce: () => provider.getTransactionCount(wallet.address, 'pending') });
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => m.send((nonce) => wallet.sendTransaction({ to: wallet.address, value: BigInt(i), nonce }))),
    );
    expect(sent.map((tx) => tx.nonce)).toEqual(Array.from({ length: 20 }, (_, i) => start + i));
    const receipts = await Promise.all(sent.map((tx) => tx.wait()));
    expect(receipts.every((r) => r?.status === 1)).toBe(true);
    expect(await provider.getTransactionCount(wallet.address, 'latest')).toBe(start + 20);
  });

  it('a send whose simulation reverts spends no nonce; a key used behind its back costs one retry', async () => {
    const key = devKey(7);
    const wallet = new Wallet(key, provider);
    const client = new EscrowClient(chainConfigOf(c), { key, pollingIntervalMs: 50 });
    try {
      // settleBatch from a key without SETTLER_ROLE reverts in simulation: nothing is sent.
      const before = await provider.getTransactionCount(wallet.address, 'pending');
      await expect(client.sendSettleBatch([{ jobId: `0x${'11'.repeat(32)}`, providers: [], amounts: [] }])).rejects.toThrow(ChainRevertError);
      expect(await provider.getTransactionCount(wallet.address, 'pending')).toBe(before);

      // The client's manager is the process's one manager for this key.
      const manager = nonceManagerFor({ address: wallet.address, pendingNonce: async () => 0 });
      const first = await manager.send((nonce) => wallet.sendTransaction({ to: wallet.address, value: 1n, nonce }));
      await first.wait();
      // Another process sends from the same key: the manager's count is now stale.
      const other = new Wallet(key, provider);
      await (await other.sendTransaction({ to: wallet.address, value: 2n, nonce: first.nonce + 1 })).wait();
      const next = await manager.send((nonce) => wallet.sendTransaction({ to: wallet.address, value: 3n, nonce }));
      expect(next.nonce).toBe(first.nonce + 2);
      expect((await next.wait())?.status).toBe(1);
    } finally {
      client.destroy();
    }
  });
});
