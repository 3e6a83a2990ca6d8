// The chain adapter (ethers v6): FlotillaEscrow and ERC-20 calls the operator and the CLI make.
// Every request has a timeout, the chain id is checked before anything is signed, and every
// transaction from a key goes through that key's one nonce manager.
import { Contract, FetchRequest, JsonRpcProvider, Wallet, id, isCallException } from 'ethers';
import type { ContractTransactionResponse, TransactionReceipt, TransactionRequest } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts.ts';
import type { EscrowDeposit } from '../core/metering.ts';
import { ChainConfigError } from './chain-config.ts';
import type { ChainConfig } from './chain-config.ts';
import { nonceManagerFor } from './nonce-manager.ts';
import type { KeyNonceManager } from './nonce-manager.ts';
import { assertLeading } from '../runtime/lease-guard.ts';

/**
 * The escrow job id of an AIJob: keccak256 of the UTF-8 bytes of its metadata.uid. The settlement
 * id is the same value (a job id settles at most once). `flotilla fund` and the operator both call
 * this; nothing else derives ids.
 */
export function escrowJobIdOf(uid: string): string {
  if (!uid) throw new Error('an AIJob without a uid has no escrow job id');
  return id(uid);
}

const JOB_STATUS = ['None', 'Open', 'Settled', 'Reclaimed'] as const;
export type EscrowJobStatus = (typeof JOB_STATUS)[number];

export interface SettlementEntry {
  readonly jobId: string;
  readonly providers: readonly string[];
  /** Base units. */
  readonly amounts: readonly bigint[];
}

export interface SettledEvent {
  readonly txHash: string;
  readonly blockNumber: number;
  readonly providers: readonly string[];
  readonly amounts: readonly bigint[];
  readonly refund: bigint;
}

/** A provider's bond in one token (FlotillaEscrow.bondOf), in base units. */
export interface BondView {
  /** Slashable, not withdrawable. */
  readonly bonded: bigint;
  /** Still slashable; withdrawable from `unbondableAt` on. */
  readonly unbonding: bigint;
  /** Unix seconds; 0 while nothing is unbonding. */
  readonly unbondableAt: bigint;
}

/**
 * What `slash` did: the transaction and what actually left the bond (at most what was asked; 0
 * when the provider had none), or `already` when this job had been slashed before (an earlier try
 * landed), so a retry is a no-op.
 */
export type SlashResult =
  | {
      readonly already: false;
      readonly txHash: string;
      readonly blockNumber: number;
      readonly slashed: bigint;
      readonly toPayer: bigint;
      readonly toVerifier: bigint;
    }
  | { readonly already: true };

/** A revert, decoded against the escrow's ABI when possible (e.g. AlreadySettled(bytes32)). */
export class ChainRevertError extends Error {
  override name = 'ChainRevertError';
  readonly revert: string;
  constructor(revert: string, options?: { cause?: unknown }) {
    super(`the escrow reverted: ${revert}`, options);
    this.revert = revert;
  }
}

const ERC20_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 amount) returns (bool)',
  'function decimals() view returns (uint8)',
];

export interface EscrowClientOptions {
  /** Hex private key of the account that sends transactions (settlement key, payer, provider). */
  readonly key?: string;
  /** How often receipts are polled (default 500 ms). */
  readonly pollingIntervalMs?: number;
}

export class EscrowClient {
  readonly config: ChainConfig;
  private readonly key?: string;
  private readonly pollingIntervalMs: number;
  private connected?: Promise<{ provider: JsonRpcProvider; escrow: Contract; wallet?: Wallet; nonces?: KeyNonceManager }> | undefined;

  constructor(config: ChainConfig, opts: EscrowClientOptions = {}) {
    this.config = config;
    if (opts.key) this.key = opts.key;
    this.pollingIntervalMs = opts.pollingIntervalMs ?? 500;
  }

  /** The sender's address, when a key was given. */
  get address(): string | undefined {
    return this.key ? new Wallet(this.key).address : undefined;
  }

  private request(): FetchRequest {
    const req = new FetchRequest(this.config.rpcUrl);
    req.timeout = this.config.requestTimeoutMs;
    return req;
  }

  /** Connects lazily: learns (or checks) the chain id first; a failed attempt is retried on the next call. */
  private async connect() {
    this.connected ??= (async () => {
      const probe = new JsonRpcProvider(this.request(), undefined, { staticNetwork: true, batchMaxCount: 1 });
      let chainId: number;
      try {
        chainId = Number(BigInt((await probe.send('eth_chainId', [])) as string));
      } finally {
        probe.destroy();
      }
      if (this.config.chainId !== undefined && chainId !== this.config.chainId) {
        throw new ChainConfigError(`${this.config.rpcUrl} serves chain ${chainId}, FLOTILLA_CHAIN_ID says ${this.config.chainId}`);
      }
      const provider = new JsonRpcProvider(this.request(), chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: this.pollingIntervalMs });
      const wallet = this.key ? new Wallet(this.key, provider) : undefined;
      const escrow = new Contract(this.config.escrowAddress, loadArtifact('FlotillaEscrow').abi, wallet ?? provider);
      const nonces = wallet
        ? nonceManagerFor({ address: wallet.address, pendingNonce: () => provider.getTransactionCount(wallet.address, 'pending') })
        : undefined;
      return { provider, escrow, ...(wallet ? { wallet } : {}), ...(nonces ? { nonces } : {}) };
    })();
    try {
      return await this.connected;
    } catch (err) {
      this.connected = undefined;
      throw err;
    }
  }

  destroy(): void {
    void this.connected?.then(
      (c) => c.provider.destroy(),
      () => undefined,
    );
    this.connected = undefined;
  }

  /** The newest block that has the configured confirmations: head − (confirmations − 1). */
  async confirmedBlock(): Promise<number> {
    const { provider } = await this.connect();
    const head = await provider.getBlockNumber();
    return Math.max(0, head - (this.config.confirmations - 1));
  }

  /** FlotillaEscrow.jobs(jobId) at a block (default: the confirmed one). */
  async deposit(jobId: string, blockTag?: number): Promise<EscrowDeposit> {
    const { escrow } = await this.connect();
    const tag = blockTag ?? (await this.confirmedBlock());
    const j = (await escrow.getFunction('jobs').staticCall(jobId, { blockTag: tag })) as {
      payer: string;
      deadline: bigint;
      status: bigint;
      token: string;
      deposit: bigint;
    };
    return { status: JOB_STATUS[Number(j.status)] ?? 'None', payer: j.payer, token: j.token, deposit: j.deposit, deadline: j.deadline };
  }

  /** FlotillaEscrow.settlementOf(jobId) at a block (default: the confirmed one). */
  async settlementOf(jobId: string, blockTag?: number): Promise<{ status: EscrowJobStatus; closedAtBlock: number }> {
    const { escrow } = await this.connect();
    const tag = blockTag ?? (await this.confirmedBlock());
    const [status, closedAtBlock] = (await escrow.getFunction('settlementOf').staticCall(jobId, { blockTag: tag })) as [bigint, bigint];
    return { status: JOB_STATUS[Number(status)] ?? 'None', closedAtBlock: Number(closedAtBlock) };
  }

  /** The Settled event of a job, looked up in the block the escrow says it closed in. */
  async settledEvent(jobId: string, block: number): Promise<SettledEvent | undefined> {
    const { escrow } = await this.connect();
    const logs = await escrow.queryFilter(escrow.filters.Settled?.(jobId) ?? 'Settled', block, block);
    for (const log of logs) {
      if (!('args' in log)) continue;
      const [, , providers, amounts, refund] = log.args as unknown as [string, string, string[], bigint[], bigint];
      return { txHash: log.transactionHash, blockNumber: log.blockNumber, providers: [...providers], amounts: [...amounts], refund };
    }
    return undefined;
  }

  /** Credit of `account` in `token` (withdrawable). */
  async owed(account: string, token: string): Promise<bigint> {
    const { escrow } = await this.connect();
    return (await escrow.getFunction('owed').staticCall(account, token)) as bigint;
  }

  async tokenBalance(token: string, account: string): Promise<bigint> {
    const { provider } = await this.connect();
    return (await new Contract(token, ERC20_ABI, provider).getFunction('balanceOf').staticCall(account)) as bigint;
  }

  /**
   * Sends settleBatch(entries) after simulating it (a revert is raised as ChainRevertError without
   * spending a nonce). Resolves once the node accepted the transaction.
   */
  async sendSettleBatch(entries: readonly SettlementEntry[]): Promise<ContractTransactionResponse> {
    const { escrow } = await this.connect();
    const args = [entries.map((e) => ({ jobId: e.jobId, providers: [...e.providers], amounts: [...e.amounts] }))];
    await this.simulate(escrow, 'settleBatch', args);
    assertLeading(`send settleBatch for ${entries.length} job(s)`);
    return this.sendContract(escrow, 'settleBatch', args);
  }

  /** Approves the escrow for `amount` of `token` if the allowance is short; then deposits. */
  async fund(jobId: string, token: string, amount: bigint, deadline: bigint): Promise<{ approveTx?: string; depositTx: string }> {
    const { escrow, wallet } = await this.connect();
    if (!wallet) throw new ChainConfigError('funding needs a payer key');
    const approveTx = await this.approveEscrow(wallet, token, amount);
    const args = [jobId, token, amount, deadline];
    await this.simulate(escrow, 'deposit', args);
    const tx = await this.sendContract(escrow, 'deposit', args);
    await this.confirmed(tx);
    return { ...(approveTx ? { approveTx } : {}), depositTx: tx.hash };
  }

  /** Approves the escrow for `amount` of `token` when the sender's allowance is short; the approve transaction, if one was sent. */
  private async approveEscrow(wallet: Wallet, token: string, amount: bigint): Promise<string | undefined> {
    const erc20 = new Contract(token, ERC20_ABI, wallet);
    const allowance = (await erc20.getFunction('allowance').staticCall(wallet.address, this.config.escrowAddress)) as bigint;
    if (allowance >= amount) return undefined;
    const tx = await this.sendContract(erc20, 'approve', [this.config.escrowAddress, amount]);
    await this.confirmed(tx);
    return tx.hash;
  }

  /** Withdraws the sender's whole credit in `token`; undefined when there is none. */
  async withdraw(token: string): Promise<{ amount: bigint; txHash: string } | undefined> {
    const { escrow, wallet } = await this.connect();
    if (!wallet) throw new ChainConfigError('withdrawing needs the payout key');
    const amount = await this.owed(wallet.address, token);
    if (amount === 0n) return undefined;
    await this.simulate(escrow, 'withdraw', [token]);
    const tx = await this.sendContract(escrow, 'withdraw', [token]);
    await this.confirmed(tx);
    return { amount, txHash: tx.hash };
  }

  /** FlotillaEscrow.bondOf(provider, token) at a block (default: the confirmed one). */
  async bondOf(provider: string, token: string, blockTag?: number): Promise<BondView> {
    const { escrow } = await this.connect();
    const tag = blockTag ?? (await this.confirmedBlock());
    const [bonded, unbonding, unbondableAt] = (await escrow.getFunction('bondOf').staticCall(provider, token, { blockTag: tag })) as [bigint, bigint, bigint];
    return { bonded, unbonding, unbondableAt };
  }

  /** FlotillaEscrow.slashedOf(jobId) at a block (default: the confirmed one). */
  async slashedOf(jobId: string, blockTag?: number): Promise<boolean> {
    const { escrow } = await this.connect();
    const tag = blockTag ?? (await this.confirmedBlock());
    return (await escrow.getFunction('slashedOf').staticCall(jobId, { blockTag: tag })) as boolean;
  }

  /**
   * Posts `amount` base units of `token` as `provider`'s bond, paid by the sender (the provider, or
   * a funder posting for it); approves the escrow first if the allowance is short, as fund() does.
   */
  async postBond(provider: string, token: string, amount: bigint): Promise<{ approveTx?: string; txHash: string; totalBonded: bigint }> {
    const { escrow, wallet } = await this.connect();
    if (!wallet) throw new ChainConfigError('posting a bond needs a key');
    const approveTx = await this.approveEscrow(wallet, token, amount);
    const args = [provider, token, amount];
    await this.simulate(escrow, 'postBond', args);
    const tx = await this.sendContract(escrow, 'postBond', args);
    const receipt = await this.confirmed(tx);
    const [, , , , totalBonded] = eventArgs(escrow, receipt, 'BondPosted');
    return { ...(approveTx ? { approveTx } : {}), txHash: tx.hash, totalBonded: totalBonded as bigint };
  }

  /** Starts unbonding `amount` of the sender's bond; the whole unbonding amount is withdrawable at `availableAt` (unix seconds). */
  async requestUnbond(token: string, amount: bigint): Promise<{ txHash: string; availableAt: bigint }> {
    const { escrow, wallet } = await this.connect();
    if (!wallet) throw new ChainConfigError('unbonding needs the provider key');
    await this.simulate(escrow, 'requestUnbond', [token, amount]);
    const tx = await this.sendContract(escrow, 'requestUnbond', [token, amount]);
    const receipt = await this.confirmed(tx);
    const [, , , availableAt] = eventArgs(escrow, receipt, 'UnbondRequested');
    return { txHash: tx.hash, availableAt: availableAt as bigint };
  }

  /**
   * Withdraws the sender's whole unbonding amount in `token`: `none` when nothing is unbonding,
   * `not-ready` (sending nothing) while the chain's latest block is before `unbondableAt`.
   */
  async withdrawBond(
    token: string,
  ): Promise<{ status: 'none' } | { status: 'not-ready'; unbonding: bigint; availableAt: bigint } | { status: 'withdrawn'; amount: bigint; txHash: string }> {
    const { escrow, wallet, provider } = await this.connect();
    if (!wallet) throw new ChainConfigError('withdrawing a bond needs the provider key');
    const latest = await provider.getBlock('latest');
    if (!latest) throw new Error('the node has no latest block');
    const bond = await this.bondOf(wallet.address, token, latest.number);
    if (bond.unbonding === 0n) return { status: 'none' };
    // Chain time, not this machine's clock: the contract compares block.timestamp.
    if (BigInt(latest.timestamp) < bond.unbondableAt) return { status: 'not-ready', unbonding: bond.unbonding, availableAt: bond.unbondableAt };
    await this.simulate(escrow, 'withdrawBond', [token]);
    const tx = await this.sendContract(escrow, 'withdrawBond', [token]);
    const receipt = await this.confirmed(tx);
    const [, , amount] = eventArgs(escrow, receipt, 'BondWithdrawn');
    return { status: 'withdrawn', amount: amount as bigint, txHash: tx.hash };
  }

  /**
   * Slashes up to `amount` base units of `provider`'s bond for `jobId` (SETTLER_ROLE): half to
   * `verifier`, the rest to the job's payer, as escrow credit. Idempotent: a job that was already
   * slashed — found by the simulation, or by a transaction of ours that reverted because an earlier
   * one landed first — yields `{ already: true }`. Other reverts throw ChainRevertError.
   */
  async slash(jobId: string, provider: string, verifier: string, amount: bigint): Promise<SlashResult> {
    const { escrow } = await this.connect();
    const args = [jobId, provider, verifier, amount];
    try {
      await this.simulate(escrow, 'slash', args);
    } catch (err) {
      if (err instanceof ChainRevertError && err.revert.startsWith('AlreadySlashed(')) return { already: true };
      throw err;
    }
    assertLeading(`send slash for job ${jobId}`);
    let receipt: TransactionReceipt;
    try {
      receipt = await this.confirmed(await this.sendContract(escrow, 'slash', args));
    } catch (err) {
      // An earlier try landed between our simulation and our transaction: refused at gas
      // estimation, or mined and reverted. Either way the job is slashed, once.
      if ((err instanceof ChainRevertError || isCallException(err)) && (await this.slashedOf(jobId, await this.latestBlock()))) return { already: true };
      throw err;
    }
    const [, , , slashed, toPayer, toVerifier] = eventArgs(escrow, receipt, 'Slashed');
    return {
      already: false,
      txHash: receipt.hash,
      blockNumber: receipt.blockNumber,
      slashed: slashed as bigint,
      toPayer: toPayer as bigint,
      toVerifier: toVerifier as bigint,
    };
  }

  private async latestBlock(): Promise<number> {
    const { provider } = await this.connect();
    return provider.getBlockNumber();
  }

  /** Waits until the transaction has the configured confirmations; throws ChainRevertError if it reverted. */
  async confirmed(tx: { hash: string; wait(confirmations?: number): Promise<TransactionReceipt | null> }): Promise<TransactionReceipt> {
    let receipt: TransactionReceipt | null;
    try {
      receipt = await tx.wait(this.config.confirmations);
    } catch (err) {
      if (isCallException(err)) throw new ChainRevertError(`transaction ${tx.hash} reverted`, { cause: err });
      throw err;
    }
    if (!receipt) throw new Error(`transaction ${tx.hash} was dropped`);
    return receipt;
  }

  private async simulate(contract: Contract, method: string, args: unknown[]): Promise<void> {
    const { wallet } = await this.connect();
    try {
      await contract.getFunction(method).staticCall(...args, wallet ? { from: wallet.address } : {});
    } catch (err) {
      if (isCallException(err)) throw new ChainRevertError(describeRevert(err, contract), { cause: err });
      throw err;
    }
  }

  private async sendContract(contract: Contract, method: string, args: unknown[]): Promise<ContractTransactionResponse> {
    const { wallet, nonces } = await this.connect();
    if (!wallet || !nonces) throw new ChainConfigError('sending a transaction needs a key');
    const fn = contract.getFunction(method);
    const populated: TransactionRequest = await fn.populateTransaction(...args);
    return await nonces.send(async (nonce) => (await wallet.sendTransaction({ ...populated, nonce })) as ContractTransactionResponse);
  }
}

/** The arguments of the first `event` the escrow emitted in a receipt. */
function eventArgs(escrow: Contract, receipt: TransactionReceipt, event: string): unknown[] {
  const escrowAddress = String(escrow.target).toLowerCase();
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== escrowAddress) continue;
    const parsed = escrow.interface.parseLog(log);
    if (parsed?.name === event) return [...parsed.args];
  }
  throw new Error(`transaction ${receipt.hash} emitted no ${event} event`);
}

function describeRevert(err: unknown, contract: Contract): string {
  if (!isCallException(err)) return String(err);
  if (err.revert) return `${err.revert.name}(${err.revert.args.map(String).join(', ')})`;
  const parsed = err.data ? contract.interface.parseError(err.data) : null;
  return parsed ? `${parsed.name}(${parsed.args.map(String).join(', ')})` : err.shortMessage || err.message;
}

/** True for errors that mean "the chain did not answer" rather than "the chain said no". */
export function isChainUnavailable(err: unknown): boolean {
  if (err instanceof ChainRevertError || err instanceof ChainConfigError || isCallException(err)) return false;
  return true;
}
