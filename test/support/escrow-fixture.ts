// A real chain for contract tests: starts a private anvil, compiles the contracts (cached), deploys
// them from the fresh artifacts and hands out one nonce-managed signer per dev account.
// In test/support/ because bench/settlement-gas.ts uses it too (bench/ imports test-support code
// from test/support/ only, never from a suite's folder).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Contract, ContractFactory, JsonRpcProvider, MaxUint256, NonceManager, Wallet, id, isCallException } from 'ethers';
import type {
  BaseContract,
  BaseContractMethod,
  ContractRunner,
  ContractTransactionReceipt,
  ContractTransactionResponse,
  TransactionRequest,
  TransactionResponse,
} from 'ethers';
import { startAnvil, rpc } from '../../federation/anvil.ts';
import type { AnvilNode } from '../../federation/anvil.ts';
import { buildContracts } from '../../contracts/build.ts';
import { loadArtifact } from '../../contracts/artifacts.ts';
import type { ContractName } from '../../contracts/artifacts.ts';

/**
 * anvil's well-known dev accounts (mnemonic "test test test test test test test test test test test
 * junk"), as printed in its startup log. They hold fake ETH on local chains only; these are the
 * only keys allowed in the repository.
 */
export const DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
] as const;

/** JobStatus in FlotillaEscrow.sol. */
export const JobStatus = { None: 0n, Open: 1n, Settled: 2n, Reclaimed: 3n } as const;

type Tx = ContractTransactionResponse;
type Write<A extends unknown[], R = void> = BaseContractMethod<A, R, Tx>;
type Read<A extends unknown[], R> = BaseContractMethod<A, R, R>;

export interface JobView {
  readonly payer: string;
  readonly deadline: bigint;
  readonly status: bigint;
  readonly closedAtBlock: bigint;
  readonly token: string;
  readonly deposit: bigint;
}

export interface SettlementBatchEntry {
  readonly jobId: string;
  readonly providers: readonly string[];
  readonly amounts: readonly bigint[];
}

/** The escrow's ABI as TypeScript, for the tests (ethers' Contract is untyped). */
export interface Escrow extends BaseContract {
  SETTLER_ROLE: Read<[], string>;
  DEFAULT_ADMIN_ROLE: Read<[], string>;
  hasRole: Read<[string, string], boolean>;
  grantRole: Write<[string, string]>;
  revokeRole: Write<[string, string]>;
  deposit: Write<[string, string, bigint, bigint]>;
  settle: Write<[string, readonly string[], readonly bigint[]]>;
  settleBatch: Write<[readonly SettlementBatchEntry[]], bigint>;
  reclaim: Write<[string]>;
  withdraw: Write<[string], bigint>;
  owed: Read<[string, string], bigint>;
  jobs: Read<[string], JobView>;
  settlementOf: Read<[string], [bigint, bigint]>;
  UNBOND_DELAY: Read<[], bigint>;
  postBond: Write<[string, string, bigint]>;
  requestUnbond: Write<[string, bigint]>;
  withdrawBond: Write<[string], bigint>;
  slash: Write<[string, string, string, bigint], bigint>;
  /** [bonded, unbonding, unbondableAt] */
  bondOf: Read<[string, string], [bigint, bigint, bigint]>;
  slashedOf: Read<[string], boolean>;
}

export interface TestToken extends BaseContract {
  decimals: Read<[], bigint>;
  balanceOf: Read<[string], bigint>;
  mint: Write<[string, bigint]>;
  approve: Write<[string, bigint]>;
  transfer: Write<[string, bigint]>;
}

export interface HostileToken extends TestToken {
  arm: Write<[string, string, boolean]>;
  setFeeBps: Write<[bigint]>;
  execute: Write<[string, string], string>;
  reentryAttempted: Read<[], boolean>;
  reentrySucceeded: Read<[], boolean>;
  reentryResult: Read<[], string>;
}

/**
 * A NonceManager that forgets its count when a send fails before reaching the chain (for example
 * when gas estimation reverts): ethers' own keeps the skipped nonce, and every later transaction
 * from that key would then wait forever behind the gap.
 */
class ChainNonceManager extends NonceManager {
  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    try {
      return await super.sendTransaction(tx);
    } catch (e) {
      this.reset();
      throw e;
    }
  }
}

/** Jest's default 5 s is too short for starting anvil and compiling on a busy machine. */
export const CHAIN_SETUP_TIMEOUT_MS = 60_000;

export interface Chain {
  readonly node: AnvilNode;
  readonly provider: JsonRpcProvider;
  /** One nonce-managed signer per dev account (index = anvil account index). */
  readonly signers: readonly NonceManager[];
  readonly addresses: readonly string[];
  stop(): Promise<void>;
}

export async function startChain(): Promise<Chain> {
  buildContracts();
  const stateDir = mkdtempSync(join(tmpdir(), 'flotilla-chain-'));
  const node = await startAnvil({ stateDir });
  // Poll receipts every 50 ms (the 4 s default makes every wait() slow); no response caching, so a
  // read right after a transaction sees it.
  const provider = new JsonRpcProvider(node.rpcUrl, node.chainId, { pollingInterval: 50, cacheTimeout: -1, staticNetwork: true });
  const wallets = DEV_KEYS.map((key) => new Wallet(key, provider));
  const accounts = (await provider.send('eth_accounts', [])) as string[];
  wallets.forEach((w, i) => {
    if (accounts[i]?.toLowerCase() !== w.address.toLowerCase()) throw new Error(`dev key ${i} is not anvil's account ${accounts[i]}`);
  });
  return {
    node,
    provider,
    signers: wallets.map((w) => new ChainNonceManager(w)),
    addresses: wallets.map((w) => w.address),
    async stop() {
      provider.destroy();
      await node.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export function signer(chain: Chain, index: number): NonceManager {
  const s = chain.signers[index];
  if (!s) throw new Error(`no dev signer ${index}`);
  return s;
}

export function address(chain: Chain, index: number): string {
  const a = chain.addresses[index];
  if (!a) throw new Error(`no dev account ${index}`);
  return a;
}

export async function deploy<T extends BaseContract>(name: ContractName, deployer: NonceManager, args: unknown[] = []): Promise<T> {
  const artifact = loadArtifact(name);
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, deployer);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  return contract as unknown as T;
}

/** The same deployed contract, sending from `runner`. */
export function connectAs<T extends BaseContract>(contract: T, runner: ContractRunner): T {
  return new Contract(contract.target, contract.interface, runner) as unknown as T;
}

export async function mined(tx: Promise<Tx>): Promise<ContractTransactionReceipt> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error('transaction was dropped');
  return receipt;
}

export interface Revert {
  readonly name: string;
  readonly args: readonly unknown[];
}

/**
 * The decoded custom error a call reverted with. Use it with `.staticCall(...)` (an eth_call from the
 * signer): sending a transaction that fails gas estimation would leave a NonceManager's count ahead.
 */
export async function revertOf(call: Promise<unknown>, errorsFrom?: BaseContract): Promise<Revert> {
  try {
    await call;
  } catch (e) {
    if (isCallException(e) && e.revert) return { name: e.revert.name, args: deepArray(e.revert.args) };
    // An error bubbled up from another contract (e.g. the escrow's, through a token's hook).
    const decoded = isCallException(e) && e.data ? errorsFrom?.interface.parseError(e.data) : null;
    if (decoded) return { name: decoded.name, args: deepArray(decoded.args) };
    throw e;
  }
  throw new Error('expected the call to revert, but it succeeded');
}

export async function latestTimestamp(chain: Chain): Promise<bigint> {
  const block = await chain.provider.getBlock('latest');
  if (!block) throw new Error('no latest block');
  return BigInt(block.timestamp);
}

/** Moves chain time forward and mines a block at the new time. */
export async function increaseTime(chain: Chain, seconds: bigint): Promise<void> {
  await rpc(chain.node.rpcUrl, 'evm_increaseTime', [Number(seconds)]);
  await rpc(chain.node.rpcUrl, 'evm_mine', []);
}

/** A bytes32 job id from a readable label (the operator derives it from the job uid instead). */
export function jobIdOf(label: string): string {
  return id(label);
}

/** Who is who in the contract tests (anvil account indices). */
export const Role = { admin: 0, settler: 1, payer: 2, providerA: 3, providerB: 4, outsider: 5 } as const;

export interface EscrowStack {
  readonly escrow: Escrow;
  readonly token: TestToken;
  /** The escrow as seen by each dev account. */
  escrowAs(index: number): Escrow;
  tokenAs(index: number): TestToken;
}

/** Deploys a TestStablecoin and a FlotillaEscrow (admin: account 0, settler: account 1). */
export async function deployEscrowStack(chain: Chain): Promise<EscrowStack> {
  const admin = signer(chain, Role.admin);
  const token = await deploy<TestToken>('TestStablecoin', admin);
  const escrow = await deploy<Escrow>('FlotillaEscrow', admin, [address(chain, Role.admin), address(chain, Role.settler)]);
  return {
    escrow,
    token,
    escrowAs: (index) => connectAs(escrow, signer(chain, index)),
    tokenAs: (index) => connectAs(token, signer(chain, index)),
  };
}

/** Mints `amount` to the account and lets the escrow pull any amount of it. */
export async function fund(chain: Chain, token: TestToken, escrow: Escrow, index: number, amount: bigint): Promise<void> {
  await mined(token.mint(address(chain, index), amount));
  await mined(connectAs(token, signer(chain, index)).approve(await escrow.getAddress(), MaxUint256));
}

export interface EmittedEvent {
  readonly name: string;
  readonly args: readonly unknown[];
}

/** The events `contract` emitted in a receipt, decoded, in log order. */
export function eventsOf(receipt: ContractTransactionReceipt, contract: BaseContract): EmittedEvent[] {
  const out: EmittedEvent[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== String(contract.target).toLowerCase()) continue;
    const parsed = contract.interface.parseLog(log);
    if (parsed) out.push({ name: parsed.name, args: deepArray(parsed.args) });
  }
  return out;
}

/** ethers' Result → plain nested arrays, so whole events compare with toEqual. */
function deepArray(value: readonly unknown[]): unknown[] {
  return [...value].map((v) => (Array.isArray(v) ? deepArray(v) : v));
}
