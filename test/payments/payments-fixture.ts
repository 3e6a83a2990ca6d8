// What the payment tests share: the federation's chain (escrow, test stablecoin, settler key), payer
// keys from anvil's dev mnemonic, paid AIJobs, and reads of the escrow's events and credits.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts.ts';
import { chainEnv, devKey } from '../../federation/chain-contracts.ts';
import type { FederationChain } from '../../federation/chain-contracts.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { ALLOW_UNPAID_ANNOTATION, PAYERS_ANNOTATION } from '../../operator/core/funding.ts';
import { toBaseUnits } from '../../operator/core/money.ts';
import type { ChainConfig } from '../../operator/payments/chain-config.ts';
import { loadChainConfig } from '../../operator/payments/chain-config.ts';
import { escrowJobIdOf } from '../../operator/payments/escrow-client.ts';
import { fundJob } from '../../operator/payments/fund.ts';
import type { FundResult } from '../../operator/payments/fund.ts';
import { createNamespace, federation } from '../support/federation.ts';
import { aijobManifest } from '../support/aijob.ts';

/** anvil dev accounts these suites pay from (the federation's own roles are #0–#3 and #9). */
export const PAYER_ACCOUNTS = { settle: 5, gate: 6, crash: 7, preempt: 8, chainDown: 4 } as const;

/**
 * Declares who may fund the namespace's jobs (the Namespace annotation flotilla.dev/payers, which
 * a cluster admin writes), and optionally lets unpaid jobs run there, as the test's admin client.
 */
export async function declarePayers(core: CoreV1Api, namespace: string, payers: readonly string[], opts: { allowUnpaid?: boolean } = {}): Promise<void> {
  const annotations = { [PAYERS_ANNOTATION]: payers.join(','), ...(opts.allowUnpaid ? { [ALLOW_UNPAID_ANNOTATION]: 'true' } : {}) };
  await core.patchNamespace({ name: namespace, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

/** A fresh namespace whose jobs the given dev accounts may fund. */
export async function paymentNamespace(core: CoreV1Api, prefix: string, accounts: readonly number[], opts: { allowUnpaid?: boolean } = {}): Promise<string> {
  const ns = await createNamespace(core, prefix);
  await declarePayers(core, ns, accounts.map(payerAddress), opts);
  return ns;
}

export interface ChainUnderTest {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly chain: FederationChain;
}

export function federationChain(): ChainUnderTest {
  const ep = federation();
  if (!ep.chain) throw new Error('the federation has no contracts deployed (federation up deploys them)');
  return { rpcUrl: ep.anvil.rpcUrl, chainId: ep.anvil.chainId, chain: ep.chain };
}

/** The operator's environment for a chain, with quick polling for tests. */
export function operatorChainEnv(c: ChainUnderTest, extra: Record<string, string> = {}): Record<string, string> {
  return { ...chainEnv({ rpcUrl: c.rpcUrl, chainId: c.chainId }, c.chain), FLOTILLA_CHAIN_POLL_MS: '1000', FLOTILLA_SETTLEMENT_BATCH_MS: '300', ...extra };
}

export function chainConfigOf(c: ChainUnderTest): ChainConfig {
  const config = loadChainConfig(operatorChainEnv(c));
  if (!config) throw new Error('no chain config');
  return config;
}

export const USDC = (amount: string): bigint => toBaseUnits(amount, 6);

/** Read access to the escrow and the test token, and minting for payers. */
export class EscrowProbe {
  readonly provider: JsonRpcProvider;
  readonly escrow: Contract;
  readonly token: Contract;
  readonly tokenAddress: string;

  constructor(c: ChainUnderTest) {
    this.provider = new JsonRpcProvider(c.rpcUrl, c.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    this.tokenAddress = c.chain.tokens[0]?.address ?? '';
    this.escrow = new Contract(c.chain.escrow, loadArtifact('FlotillaEscrow').abi, this.provider);
    this.token = new Contract(this.tokenAddress, loadArtifact('TestStablecoin').abi, this.provider);
  }

  destroy(): void {
    this.provider.destroy();
  }

  /** Mints test tokens to a dev account (TestStablecoin.mint is open; the account pays its own gas). */
  async mint(account: number, amount: bigint): Promise<void> {
    const wallet = new NonceManager(new Wallet(devKey(account), this.provider));
    const tx = await (this.token.connect(wallet) as Contract).getFunction('mint')(await wallet.getAddress(), amount);
    await tx.wait();
  }

  owed(address: string): Promise<bigint> {
    return this.escrow.getFunction('owed').staticCall(address, this.tokenAddress) as Promise<bigint>;
  }

  balance(address: string): Promise<bigint> {
    return this.token.getFunction('balanceOf').staticCall(address) as Promise<bigint>;
  }

  /** Every Settled event for a job id since genesis: exactly-once means at most one. */
  async settledEvents(jobId: string): Promise<Array<{ txHash: string; providers: string[]; amounts: bigint[]; refund: bigint }>> {
    const filter = this.escrow.filters.Settled?.(jobId);
    if (!filter) throw new Error('no Settled event in the ABI');
    const logs = await this.escrow.queryFilter(filter, 0, 'latest');
    return logs.map((log) => {
      const args = (log as unknown as { args: [string, string, string[], bigint[], bigint] }).args;
      return { txHash: log.transactionHash, providers: [...args[2]], amounts: [...args[3]], refund: args[4] };
    });
  }

  async job(jobId: string): Promise<{ status: bigint; deposit: bigint; payer: string }> {
    return (await this.escrow.getFunction('jobs').staticCall(jobId)) as { status: bigint; deposit: bigint; payer: string };
  }
}

export function payerAddress(account: number): string {
  return new Wallet(devKey(account)).address;
}

/** Funds a job through the same function `flotilla fund` runs. */
export function fund(hub: KubeConfig, c: ChainUnderTest, namespace: string, name: string, account: number, amount?: string): Promise<FundResult> {
  return fundJob({ hub, namespace, name, chain: chainConfigOf(c), payerKey: devKey(account), ...(amount ? { amount } : {}) });
}

/** Funds a job from any key (`flotilla fund --key-file`), with an optional amount and reclaim deadline (unix seconds). */
export function fundAs(
  hub: KubeConfig,
  c: ChainUnderTest,
  namespace: string,
  name: string,
  payerKey: string,
  opts: { amount?: string; deadline?: bigint } = {},
): Promise<FundResult> {
  return fundJob({
    hub,
    namespace,
    name,
    chain: chainConfigOf(c),
    payerKey,
    ...(opts.amount ? { amount: opts.amount } : {}),
    ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
  });
}

/**
 * A payer of the suite's own: a random key given ETH with anvil's setBalance and test USDC with the
 * token's open mint, so no dev account (and its nonces) is shared with other suites.
 */
export class RandomPayer {
  readonly wallet: Wallet;
  private readonly provider: JsonRpcProvider;
  private readonly c: ChainUnderTest;

  constructor(c: ChainUnderTest) {
    this.c = c;
    this.provider = new JsonRpcProvider(c.rpcUrl, c.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    this.wallet = new Wallet(Wallet.createRandom().privateKey, this.provider);
  }

  get address(): string {
    return this.wallet.address;
  }
  get key(): string {
    return this.wallet.privateKey;
  }

  async prepare(usdc: bigint): Promise<void> {
    await this.provider.send('anvil_setBalance', [this.wallet.address, '0x56BC75E2D63100000']);
    const token = new Contract(this.c.chain.tokens[0]?.address ?? '', loadArtifact('TestStablecoin').abi, new NonceManager(this.wallet));
    await (await token.getFunction('mint')(this.wallet.address, usdc)).wait();
  }

  /** What FlotillaEscrow.reclaim(id) from this key would do: resolves on success, rejects with the decoded revert. */
  async simulateReclaim(escrow: string, jobId: string): Promise<void> {
    const contract = new Contract(escrow, loadArtifact('FlotillaEscrow').abi, this.wallet);
    await contract.getFunction('reclaim').staticCall(jobId);
  }

  destroy(): void {
    this.provider.destroy();
  }
}

/** A paid single-replica job pinned to some providers, running `runSeconds` in the simulated executor. */
export function paidJob(
  namespace: string,
  name: string,
  opts: {
    maxAmount: string;
    providers: string[];
    product: string;
    gpus?: number;
    runSeconds: number;
    checkpoint?: boolean;
  },
): AIJobManifest {
  return aijobManifest({
    name,
    namespace,
    resources: { gpus: opts.gpus ?? 1 },
    gpu: { products: [opts.product] },
    output: { path: '/flotilla/output', pin: false },
    ...(opts.checkpoint ? { checkpoint: { path: '/flotilla/checkpoints', every: '30s' } } : {}),
    payment: { token: 'USDC', maxAmount: opts.maxAmount },
    placement: { allowedProviders: opts.providers },
    recovery: { maxRestarts: 2, strategy: 'Failover' },
    sim: { runSeconds: opts.runSeconds },
  });
}

export async function createJob(hub: KubeConfig, manifest: AIJobManifest): Promise<AIJob> {
  const api = hub.makeApiClient(CustomObjectsApi);
  return (await api.createNamespacedCustomObject({
    group: 'flotilla.dev',
    version: 'v1alpha1',
    plural: 'aijobs',
    namespace: manifest.metadata.namespace ?? '',
    body: manifest,
  })) as AIJob;
}

export const condition = (job: AIJob | undefined, type: string) => job?.status?.conditions?.find((c) => c.type === type);

export { escrowJobIdOf };
