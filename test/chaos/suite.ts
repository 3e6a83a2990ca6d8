// What every chaos suite shares beyond its corner (test/support/corner.ts): a corner with a hub
// namespace of its own that allows unpaid jobs, operators with payments on the federation's chain
// and pins on the hub's Kubo, a payer of the suite's own, the jobs, and the tear-down that leaves the
// federation healthy. The corner's GPUProviders have random payout addresses, so the chain's credits
// to them are the suite's alone and the oracle (oracle.ts) can demand exact balances.
import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts.ts';
import { chainEnv } from '../../federation/chain-contracts.ts';
import type { FederationChain } from '../../federation/chain-contracts.ts';
import { isHealthy } from '../../federation/federation.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { toBaseUnits } from '../../operator/core/money.ts';
import { loadChainConfig } from '../../operator/payments/chain-config.ts';
import { fundJob } from '../../operator/payments/fund.ts';
import { aijobManifest } from '../support/aijob.ts';
import { createJob, deleteAllJobs, openCorner, removeCorner } from '../support/corner.ts';
import type { OpenCorner, OpenCornerOptions } from '../support/corner.ts';
import { federation, pollUntil } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { declarePayers } from '../payments/payments-fixture.ts';

/** Price of the corner's product: 3.6 USDC per GPU-hour = 1000 base units per GPU-second. */
export const PRICE = '3.6';

/** How many times the randomised scenarios repeat (make chaos sets more; make test runs 1). */
export const CHAOS_RUNS = Math.max(1, Number(process.env.FLOTILLA_CHAOS_RUNS ?? '1') || 1);

/**
 * The suite's corner: product NVIDIA-CHAOS-<ID>, hub namespace t-chaos-<id>, GPUProviders
 * chaos-<id>-a, -b, … (two nodes each by default) at PRICE unless a cluster has its own.
 */
export async function openChaosCorner(opts: Omit<OpenCornerOptions, 'prefix' | 'price'> = {}): Promise<OpenCorner> {
  const corner = await openCorner({ prefix: 'chaos', hubPrefix: 't-chaos', price: PRICE, nodesPerProvider: 2, ...opts });
  // The chaos operators settle on chain: unpaid jobs run only where the namespace allows them.
  await declarePayers(corner.hub.core, corner.hubNamespace, [], { allowUnpaid: true });
  return corner;
}

export interface ChaosJobOptions {
  readonly runSeconds?: number;
  readonly gpus?: number;
  readonly replicas?: number;
  /** USDC deposited and settled (maxAmount); absent: unpaid. */
  readonly paid?: string;
  readonly pin?: boolean;
  readonly checkpointSeconds?: number;
  readonly maxRestarts?: number;
}

export function chaosJob(corner: OpenCorner, name: string, o: ChaosJobOptions = {}): AIJobManifest {
  return aijobManifest({
    name,
    namespace: corner.hubNamespace,
    image: 'registry.example/trainer@sha256:' + 'c'.repeat(64),
    replicas: o.replicas ?? 1,
    resources: { gpus: o.gpus ?? 2 },
    gpu: { products: [corner.product] },
    output: { path: '/flotilla/output', pin: o.pin ?? true },
    ...(o.checkpointSeconds ? { checkpoint: { path: '/flotilla/checkpoints', every: '30s' } } : {}),
    ...(o.paid ? { payment: { token: 'USDC', maxAmount: o.paid } } : {}),
    recovery: { maxRestarts: o.maxRestarts ?? 3, strategy: 'Failover' },
    sim: { runSeconds: o.runSeconds ?? 3, ...(o.checkpointSeconds ? { checkpointSeconds: o.checkpointSeconds } : {}) },
  });
}

export async function createJobs(manifests: readonly AIJobManifest[]): Promise<AIJob[]> {
  return Promise.all(manifests.map(createJob));
}

/** The federation's chain as the operator and the oracle see it. */
export function federationChainOf(): { rpcUrl: string; chainId: number; chain: FederationChain } {
  const ep = federation();
  if (!ep.chain) throw new Error('the federation has no contracts deployed (federation up deploys them)');
  return { rpcUrl: ep.anvil.rpcUrl, chainId: ep.anvil.chainId, chain: ep.chain };
}

/** The operator environment of the chaos suites: payments on the federation's chain, pins on the hub's Kubo. */
export function chaosOperatorEnv(extra: Record<string, string> = {}): Record<string, string> {
  const ep = federation();
  const c = federationChainOf();
  return {
    ...chainEnv({ rpcUrl: c.rpcUrl, chainId: c.chainId }, c.chain),
    FLOTILLA_CHAIN_POLL_MS: '1000',
    FLOTILLA_CHAIN_TIMEOUT_MS: '3000',
    FLOTILLA_SETTLEMENT_BATCH_MS: '300',
    FLOTILLA_KUBO_API: ep.kubo.hub.api,
    FLOTILLA_PIN_TIMEOUT_MS: '20000',
    ...extra,
  };
}

export function startChaosOperator(corner: OpenCorner, extra: Record<string, string> = {}): OperatorProcess {
  return startOperator(corner.hubNamespace, chaosOperatorEnv(extra));
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A payer of the suite's own: a random key given ETH with anvil's setBalance and test USDC with the
 * token's open mint, so no dev account is shared with other suites (their nonces stay theirs).
 */
export class Payer {
  readonly wallet: Wallet;
  private readonly provider: JsonRpcProvider;
  private readonly c = federationChainOf();

  constructor() {
    this.provider = new JsonRpcProvider(this.c.rpcUrl, this.c.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    this.wallet = new Wallet(Wallet.createRandom().privateKey, this.provider);
  }

  async prepare(usdc: string): Promise<void> {
    await this.provider.send('anvil_setBalance', [this.wallet.address, '0x56BC75E2D63100000']);
    const token = new Contract(this.c.chain.tokens[0]?.address ?? '', loadArtifact('TestStablecoin').abi, new NonceManager(this.wallet));
    const tx = await token.getFunction('mint')(this.wallet.address, toBaseUnits(usdc, 6));
    await tx.wait();
  }

  /** Deposits each job's maxAmount, one after another (one key, one nonce sequence). */
  async fund(corner: OpenCorner, names: readonly string[]): Promise<void> {
    const chain = loadChainConfig(chaosOperatorEnv());
    if (!chain) throw new Error('no chain config');
    // Only a payer the namespace declares funds its jobs.
    await declarePayers(corner.hub.core, corner.hubNamespace, [this.wallet.address], { allowUnpaid: true });
    for (const name of names) await fundJob({ hub: corner.hub.kc, namespace: corner.hubNamespace, name, chain, payerKey: this.wallet.privateKey });
  }

  destroy(): void {
    this.provider.destroy();
  }
}

/** The federation still answers everywhere (every chaos test ends with this: it must leave it healthy). */
export async function assertFederationHealthy(timeoutMs = 180_000): Promise<void> {
  await pollUntil(
    'the federation healthy again',
    () => isHealthy(federation()),
    (ok) => ok,
    timeoutMs,
    500,
  );
}

/**
 * The end of every chaos suite: a clean operator (with `env`) deletes the corner's jobs — finalizers
 * need one — then the corner goes, the payer's provider is closed, and the federation must answer.
 */
export async function tearDownCorner(corner: OpenCorner, opts: { env?: Record<string, string>; payer?: Payer; timeoutMs?: number } = {}): Promise<void> {
  const op = startChaosOperator(corner, opts.env ?? {});
  await deleteAllJobs(corner.hubNamespace, opts.timeoutMs).catch(() => undefined);
  await op.stop();
  await removeCorner(corner);
  opts.payer?.destroy();
}

/** Waits until the process has exited; returns false when it is still alive after `timeoutMs`. */
export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !isAlive(pid);
}

/**
 * Plays the Deployment: restarts the operator whenever it exits (a leader that cannot renew its
 * lease exits on purpose), until stopped.
 */
export class Supervisor {
  current: OperatorProcess;
  restarts = 0;
  private stopped = false;
  private readonly loop: Promise<void>;
  private readonly corner: OpenCorner;
  private readonly env: Record<string, string>;

  constructor(corner: OpenCorner, env: Record<string, string> = {}) {
    this.corner = corner;
    this.env = env;
    this.current = startChaosOperator(corner, env);
    this.loop = this.keepRunning();
  }

  private async keepRunning(): Promise<void> {
    while (!this.stopped) {
      await new Promise((r) => setTimeout(r, 250));
      if (!this.stopped && !isAlive(this.current.pid)) {
        this.restarts++;
        this.current = startChaosOperator(this.corner, this.env);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.current.stop();
  }
}
