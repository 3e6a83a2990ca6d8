// Chain configuration of the operator and the CLI, from the environment (the Helm chart sets these
// from values and a Secret). Payments are off when FLOTILLA_CHAIN_RPC is unset.
//
//   FLOTILLA_CHAIN_RPC                 JSON-RPC URL of the EVM node
//   FLOTILLA_CHAIN_ID                  expected chain id (checked before anything is signed); optional
//   FLOTILLA_ESCROW_ADDRESS            the FlotillaEscrow contract
//   FLOTILLA_TOKENS                    SYMBOL=0xaddress:decimals[,…], e.g. USDC=0xA0b8…eB48:6,DAI=0x6B17…1d0F:18
//   FLOTILLA_SETTLEMENT_KEY_FILE       file holding the settlement key (hex private key; a mounted Secret)
//   FLOTILLA_CHAIN_CONFIRMATIONS       blocks a read or a settlement must be deep to count (default 1: mined)
//   FLOTILLA_CHAIN_POLL_MS             how often an unfunded job's deposit is read (default 5000)
//   FLOTILLA_CHAIN_TIMEOUT_MS          per-RPC-request timeout (default 10000)
//   FLOTILLA_SETTLEMENT_BATCH_MS       how long settlements are collected into one settleBatch (default 1000)
//   FLOTILLA_SETTLEMENT_BATCH_MAX      most jobs per settleBatch (default 50)
//   FLOTILLA_SETTLEMENT_WINDOW_SECONDS how long after a job's deadline a deposit must stay reclaim-proof
//                                      so the operator can settle it (default 259200: 3 days)
//   FLOTILLA_DEFAULT_MAX_RUNTIME_SECONDS the deadline assumed for a job without spec.deadline when its
//                                      deposit is checked (default 259200: 3 days from funding)
import { readFileSync } from 'node:fs';
import { positiveInt } from '../runtime/env.ts';

export interface TokenConfig {
  readonly symbol: string;
  /** Checksummed or lower-case 0x address; compared case-insensitively. */
  readonly address: string;
  readonly decimals: number;
}

export interface ChainConfig {
  readonly rpcUrl: string;
  readonly chainId?: number;
  readonly escrowAddress: string;
  readonly tokens: readonly TokenConfig[];
  /** Absent: the operator can read (funding) but not settle. */
  readonly settlementKeyFile?: string;
  readonly confirmations: number;
  readonly pollMs: number;
  readonly requestTimeoutMs: number;
  readonly batchWindowMs: number;
  readonly batchMax: number;
  /** A deposit's reclaim deadline must cover the job's deadline plus this (seconds). */
  readonly settlementWindowSeconds: number;
  /** The job deadline assumed, from the funding check, when spec.deadline is unset (seconds). */
  readonly defaultMaxRuntimeSeconds: number;
}

export const DEFAULT_SETTLEMENT_WINDOW_SECONDS = 3 * 24 * 3600;
export const DEFAULT_MAX_RUNTIME_SECONDS = 3 * 24 * 3600;

export class ChainConfigError extends Error {
  override name = 'ChainConfigError';
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** `USDC=0xabc…:6,DAI=0xdef…:18` → token list; throws on anything malformed. */
export function parseTokens(text: string): TokenConfig[] {
  const tokens = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^([A-Z][A-Z0-9]{1,15})=(0x[0-9a-fA-F]{40}):(\d{1,2})$/.exec(entry);
      if (!m) throw new ChainConfigError(`FLOTILLA_TOKENS entry "${entry}" is not SYMBOL=0xaddress:decimals`);
      return { symbol: m[1] as string, address: m[2] as string, decimals: Number(m[3]) };
    });
  const symbols = new Set(tokens.map((t) => t.symbol));
  if (symbols.size !== tokens.length) throw new ChainConfigError('FLOTILLA_TOKENS names a symbol twice');
  return tokens;
}

/** spec.payment.token (a symbol or an address) → the configured token, or undefined when not supported. */
export function resolveToken(tokens: readonly TokenConfig[], token: string): TokenConfig | undefined {
  return ADDRESS.test(token) ? tokens.find((t) => t.address.toLowerCase() === token.toLowerCase()) : tokens.find((t) => t.symbol === token);
}

const positive = (env: NodeJS.ProcessEnv, key: string, fallback: number) => positiveInt(env, key, fallback, ChainConfigError);

/** The chain configuration, or undefined when FLOTILLA_CHAIN_RPC is unset (payments off). */
export function loadChainConfig(env: NodeJS.ProcessEnv = process.env): ChainConfig | undefined {
  const rpcUrl = env.FLOTILLA_CHAIN_RPC;
  if (!rpcUrl) return undefined;
  const escrowAddress = env.FLOTILLA_ESCROW_ADDRESS ?? '';
  if (!ADDRESS.test(escrowAddress)) throw new ChainConfigError(`FLOTILLA_ESCROW_ADDRESS must be a 0x address, got "${escrowAddress}"`);
  const tokens = parseTokens(env.FLOTILLA_TOKENS ?? '');
  if (tokens.length === 0) throw new ChainConfigError('FLOTILLA_TOKENS must configure at least one token');
  return {
    rpcUrl,
    ...(env.FLOTILLA_CHAIN_ID ? { chainId: positive(env, 'FLOTILLA_CHAIN_ID', 1) } : {}),
    escrowAddress,
    tokens,
    ...(env.FLOTILLA_SETTLEMENT_KEY_FILE ? { settlementKeyFile: env.FLOTILLA_SETTLEMENT_KEY_FILE } : {}),
    confirmations: positive(env, 'FLOTILLA_CHAIN_CONFIRMATIONS', 1),
    pollMs: positive(env, 'FLOTILLA_CHAIN_POLL_MS', 5_000),
    requestTimeoutMs: positive(env, 'FLOTILLA_CHAIN_TIMEOUT_MS', 10_000),
    batchWindowMs: positive(env, 'FLOTILLA_SETTLEMENT_BATCH_MS', 1_000),
    batchMax: positive(env, 'FLOTILLA_SETTLEMENT_BATCH_MAX', 50),
    settlementWindowSeconds: positive(env, 'FLOTILLA_SETTLEMENT_WINDOW_SECONDS', DEFAULT_SETTLEMENT_WINDOW_SECONDS),
    defaultMaxRuntimeSeconds: positive(env, 'FLOTILLA_DEFAULT_MAX_RUNTIME_SECONDS', DEFAULT_MAX_RUNTIME_SECONDS),
  };
}

/** Reads a hex private key from a file (a mounted Secret); whitespace around it is ignored. */
export function readKeyFile(file: string): string {
  const key = readFileSync(file, 'utf8').trim();
  const hex = key.startsWith('0x') ? key : `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new ChainConfigError(`${file} does not hold a 32-byte hex private key`);
  return hex;
}
