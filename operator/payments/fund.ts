// What `flotilla fund`, `flotilla provider withdraw` and the `flotilla provider bond` commands do, as
// functions (the CLI only parses flags).
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { isAddress } from 'ethers';
import { AIJOB, GROUP, VERSION } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../core/money.ts';
import { ChainConfigError, resolveToken } from './chain-config.ts';
import type { ChainConfig, TokenConfig } from './chain-config.ts';
import { EscrowClient, escrowJobIdOf } from './escrow-client.ts';
import type { BondView } from './escrow-client.ts';

/**
 * Deposit deadline when none is given: a week after now (or after spec.deadline when that is
 * later). The funding gate counts a deposit only when its deadline covers the job's deadline (or
 * the operator's default max runtime) plus the settlement window, 3 + 3 days by default; a week
 * also lets the payer reclaim a deposit for a job that never ran.
 */
export const DEFAULT_DEPOSIT_SECONDS = 7 * 24 * 3600;

export interface FundRequest {
  readonly hub: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly chain: ChainConfig;
  /** The payer's hex private key. */
  readonly payerKey: string;
  /** Token units to deposit; default: what is missing to spec.payment.maxAmount. */
  readonly amount?: string;
  /** Unix seconds after which the payer may reclaim; default max(now, spec.deadline) + DEFAULT_DEPOSIT_SECONDS. */
  readonly deadline?: bigint;
  readonly now?: () => Date;
}

export interface FundResult {
  readonly escrowJobId: string;
  readonly token: string;
  /** Token units deposited by this call ("0" when the job was already funded). */
  readonly deposited: string;
  /** Token units under the job id after this call. */
  readonly total: string;
  readonly depositTx?: string;
  readonly approveTx?: string;
}

/** Deposits for an AIJob under its escrow id (from its uid), approving the escrow first if needed. */
export async function fundJob(req: FundRequest): Promise<FundResult> {
  const api = req.hub.makeApiClient(CustomObjectsApi);
  const job = (await api.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: AIJOB.plural,
    namespace: req.namespace,
    name: req.name,
  })) as AIJob;
  const payment = job.spec.payment;
  if (!payment) throw new ChainConfigError(`AIJob ${req.namespace}/${req.name} has no spec.payment: nothing to fund`);
  const token = resolveToken(req.chain.tokens, payment.token);
  if (!token) throw new ChainConfigError(`spec.payment.token ${payment.token} is not a configured token`);
  const escrowJobId = escrowJobIdOf(job.metadata.uid ?? '');
  const chain = new EscrowClient(req.chain, { key: req.payerKey, pollingIntervalMs: 100 });
  try {
    const current = await chain.deposit(escrowJobId);
    const already = current.status === 'Open' ? current.deposit : 0n;
    const required = toBaseUnits(payment.maxAmount, token.decimals);
    const amount = req.amount !== undefined ? toBaseUnits(req.amount, token.decimals) : required > already ? required - already : 0n;
    if (amount === 0n) return { escrowJobId, token: payment.token, deposited: '0', total: fromBaseUnits(already, token.decimals) };
    const now = BigInt(Math.floor((req.now?.() ?? new Date()).getTime() / 1000));
    const jobDeadline = Date.parse(job.spec.deadline ?? '');
    const from = Number.isFinite(jobDeadline) ? (BigInt(Math.ceil(jobDeadline / 1000)) > now ? BigInt(Math.ceil(jobDeadline / 1000)) : now) : now;
    const deadline = req.deadline ?? from + BigInt(DEFAULT_DEPOSIT_SECONDS);
    const txs = await chain.fund(escrowJobId, token.address, amount, deadline);
    return {
      escrowJobId,
      token: payment.token,
      deposited: fromBaseUnits(amount, token.decimals),
      total: fromBaseUnits(already + amount, token.decimals),
      ...txs,
    };
  } finally {
    chain.destroy();
  }
}

export interface WithdrawResult {
  readonly account: string;
  readonly token: string;
  /** Token units withdrawn ("0" when there was no credit). */
  readonly amount: string;
  readonly txHash?: string;
}

/** Withdraws the key's whole escrow credit in one configured token (a provider's pay, a payer's refund). */
export async function withdrawCredit(chainConfig: ChainConfig, key: string, tokenName: string): Promise<WithdrawResult> {
  const token = resolveToken(chainConfig.tokens, tokenName);
  if (!token) throw new ChainConfigError(`${tokenName} is not a configured token`);
  const chain = new EscrowClient(chainConfig, { key, pollingIntervalMs: 100 });
  try {
    const result = await chain.withdraw(token.address);
    return {
      account: chain.address ?? '',
      token: token.symbol,
      amount: fromBaseUnits(result?.amount ?? 0n, token.decimals),
      ...(result ? { txHash: result.txHash } : {}),
    };
  } finally {
    chain.destroy();
  }
}

export interface BondStatus {
  readonly provider: string;
  readonly token: string;
  /** Token units. */
  readonly bonded: string;
  readonly unbonding: string;
  /** When the unbonding amount becomes withdrawable; absent while nothing is unbonding. */
  readonly unbondableAt?: Date;
}

function bondStatus(provider: string, token: TokenConfig, bond: BondView): BondStatus {
  return {
    provider,
    token: token.symbol,
    bonded: fromBaseUnits(bond.bonded, token.decimals),
    unbonding: fromBaseUnits(bond.unbonding, token.decimals),
    ...(bond.unbonding > 0n ? { unbondableAt: new Date(Number(bond.unbondableAt) * 1000) } : {}),
  };
}

function configuredToken(chainConfig: ChainConfig, tokenName: string): TokenConfig {
  const token = resolveToken(chainConfig.tokens, tokenName);
  if (!token) throw new ChainConfigError(`${tokenName} is not a configured token`);
  return token;
}

/** Runs `fn` with a client for `key` (or a read-only one), destroying it afterwards. */
async function withClient<T>(chainConfig: ChainConfig, key: string | undefined, fn: (chain: EscrowClient) => Promise<T>): Promise<T> {
  const chain = new EscrowClient(chainConfig, { ...(key ? { key } : {}), pollingIntervalMs: 100 });
  try {
    return await fn(chain);
  } finally {
    chain.destroy();
  }
}

/** A provider's bond in one configured token (read-only: no key needed). */
export function readBond(chainConfig: ChainConfig, provider: string, tokenName: string): Promise<BondStatus> {
  const token = configuredToken(chainConfig, tokenName);
  if (!isAddress(provider)) throw new ChainConfigError(`${provider} is not a 0x address`);
  return withClient(chainConfig, undefined, async (chain) => bondStatus(provider, token, await chain.bondOf(provider, token.address)));
}

/**
 * Posts `amount` token units as the bond of `provider` (default: the key's own address), paid by
 * the key's account, approving the escrow first if needed.
 */
export async function postProviderBond(
  chainConfig: ChainConfig,
  key: string,
  tokenName: string,
  amount: string,
  provider?: string,
): Promise<BondStatus & { funder: string; posted: string; txHash: string; approveTx?: string }> {
  const token = configuredToken(chainConfig, tokenName);
  const units = toBaseUnits(amount, token.decimals);
  if (units === 0n) throw new ChainConfigError('the bond amount must be more than 0');
  if (provider !== undefined && !isAddress(provider)) throw new ChainConfigError(`--for ${provider} is not a 0x address`);
  return withClient(chainConfig, key, async (chain) => {
    const funder = chain.address ?? '';
    const who = provider ?? funder;
    const txs = await chain.postBond(who, token.address, units);
    const status = bondStatus(who, token, await chain.bondOf(who, token.address));
    return { ...status, funder, posted: fromBaseUnits(units, token.decimals), ...txs };
  });
}

/** Starts unbonding `amount` token units of the key's own bond (withdrawable after the contract's UNBOND_DELAY). */
export async function requestProviderUnbond(
  chainConfig: ChainConfig,
  key: string,
  tokenName: string,
  amount: string,
): Promise<BondStatus & { txHash: string }> {
  const token = configuredToken(chainConfig, tokenName);
  const units = toBaseUnits(amount, token.decimals);
  if (units === 0n) throw new ChainConfigError('the unbond amount must be more than 0');
  return withClient(chainConfig, key, async (chain) => {
    const provider = chain.address ?? '';
    const { txHash } = await chain.requestUnbond(token.address, units);
    return { ...bondStatus(provider, token, await chain.bondOf(provider, token.address)), txHash };
  });
}

export interface BondWithdrawResult extends BondStatus {
  /** Token units withdrawn ("0" when nothing was, see `unbondableAt`). */
  readonly withdrawn: string;
  readonly txHash?: string;
}

/** Withdraws the key's whole unbonding amount once its delay has passed; withdraws nothing (and says when) before. */
export async function withdrawProviderBond(chainConfig: ChainConfig, key: string, tokenName: string): Promise<BondWithdrawResult> {
  const token = configuredToken(chainConfig, tokenName);
  return withClient(chainConfig, key, async (chain) => {
    const provider = chain.address ?? '';
    const result = await chain.withdrawBond(token.address);
    const status = bondStatus(provider, token, await chain.bondOf(provider, token.address));
    return result.status === 'withdrawn'
      ? { ...status, withdrawn: fromBaseUnits(result.amount, token.decimals), txHash: result.txHash }
      : { ...status, withdrawn: '0' };
  });
}
