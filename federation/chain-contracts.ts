// The federation's contracts: the escrow and a 6-decimal test stablecoin, deployed on the
// federation's anvil from the freshly built artifacts, and the settlement key the operator uses.
//
// anvil dev accounts (mnemonic "test test … junk", derived here and checked against eth_accounts):
//   #0       deployer and escrow admin (DEFAULT_ADMIN_ROLE)
//   #1–#3    provider payout addresses (examples/federation/fleet.yaml)
//   #4–#8    payers (the demo, tests)
//   #9       the operator's settlement key (SETTLER_ROLE), written to <state>/chain/settler.key
//   #10      the operator's receipt signer (FLOTILLA_RECEIPT_KEY of the demo and the tests)
// One key per role: a receipt signed with a provider's payout key (or a payer's) would prove nothing
// about the hub, so the signer is none of them (chain-contracts.test.ts checks it against the fleet).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContractFactory, HDNodeWallet, JsonRpcProvider, Mnemonic, NonceManager, Wallet } from 'ethers';
import { buildContracts } from '../contracts/build.ts';
import { loadArtifact } from '../contracts/artifacts.ts';

export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';
export const DEPLOYER_ACCOUNT = 0;
export const PROVIDER_PAYOUT_ACCOUNTS: readonly number[] = [1, 2, 3];
export const PAYER_ACCOUNTS: readonly number[] = [4, 5, 6, 7, 8];
export const SETTLER_ACCOUNT = 9;
/** anvil starts with ANVIL_DEV_ACCOUNTS (11) accounts so that this one exists and is funded like the rest. */
export const RECEIPT_SIGNER_ACCOUNT = 10;
/** spec.payment.token symbol under which the test stablecoin is configured locally. */
export const LOCAL_TOKEN_SYMBOL = 'USDC';

export interface FederationChain {
  readonly escrow: string;
  readonly tokens: ReadonlyArray<{ readonly symbol: string; readonly address: string; readonly decimals: number }>;
  readonly admin: string;
  readonly settler: string;
  /** File holding the settler's private key (the operator's FLOTILLA_SETTLEMENT_KEY_FILE). */
  readonly settlementKeyFile: string;
}

/** The private key of anvil dev account `index`, derived from the mnemonic (BIP-44 m/44'/60'/0'/0/index). */
export function devKey(index: number): string {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`).privateKey;
}

/** Checks that the derived keys are the node's own accounts (a wrong key would fail much later). */
export async function assertDevAccounts(provider: JsonRpcProvider, indices: readonly number[]): Promise<void> {
  const accounts = (await provider.send('eth_accounts', [])) as string[];
  for (const i of indices) {
    const derived = new Wallet(devKey(i)).address;
    if (accounts[i]?.toLowerCase() !== derived.toLowerCase()) throw new Error(`dev account #${i}: derived ${derived}, anvil has ${accounts[i]}`);
  }
}

/** Deploys TestStablecoin and FlotillaEscrow(admin #0, settler #9) and writes the settler key file. */
export async function deployFederationChain(rpcUrl: string, chainId: number, stateDir: string): Promise<FederationChain> {
  buildContracts();
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  try {
    await assertDevAccounts(provider, [DEPLOYER_ACCOUNT, SETTLER_ACCOUNT, RECEIPT_SIGNER_ACCOUNT]);
    const deployer = new Wallet(devKey(DEPLOYER_ACCOUNT), provider);
    const sender = new NonceManager(deployer);
    const settler = new Wallet(devKey(SETTLER_ACCOUNT));
    const deploy = async (name: 'TestStablecoin' | 'FlotillaEscrow', args: unknown[]) => {
      const { abi, bytecode } = loadArtifact(name);
      const contract = await new ContractFactory(abi, bytecode, sender).deploy(...args);
      await contract.waitForDeployment();
      return contract.getAddress();
    };
    const token = await deploy('TestStablecoin', []);
    const escrow = await deploy('FlotillaEscrow', [deployer.address, settler.address]);
    const dir = join(stateDir, 'chain');
    mkdirSync(dir, { recursive: true });
    const settlementKeyFile = join(dir, 'settler.key');
    writeFileSync(settlementKeyFile, `${settler.privateKey}\n`, { mode: 0o600 });
    chmodSync(settlementKeyFile, 0o600);
    return {
      escrow,
      tokens: [{ symbol: LOCAL_TOKEN_SYMBOL, address: token, decimals: 6 }],
      admin: deployer.address,
      settler: settler.address,
      settlementKeyFile,
    };
  } finally {
    provider.destroy();
  }
}

/**
 * Whether the recorded escrow is still deployed (anvil keeps no state across restarts) and is the
 * contract as the sources compile now: a federation kept up across a contract change (a function
 * added) gets the new one deployed, instead of tests calling functions the old one lacks.
 */
export async function chainDeployed(rpcUrl: string, chainId: number, chain: FederationChain | undefined): Promise<boolean> {
  if (!chain) return false;
  buildContracts();
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true });
  try {
    return (await provider.getCode(chain.escrow)).toLowerCase() === loadArtifact('FlotillaEscrow').deployedBytecode.toLowerCase();
  } catch {
    return false;
  } finally {
    provider.destroy();
  }
}

/** The operator's environment for the federation's chain (see operator/payments/chain-config.ts). */
export function chainEnv(anvil: { rpcUrl: string; chainId: number }, chain: FederationChain): Record<string, string> {
  return {
    FLOTILLA_CHAIN_RPC: anvil.rpcUrl,
    FLOTILLA_CHAIN_ID: String(anvil.chainId),
    FLOTILLA_ESCROW_ADDRESS: chain.escrow,
    FLOTILLA_TOKENS: chain.tokens.map((t) => `${t.symbol}=${t.address}:${t.decimals}`).join(','),
    FLOTILLA_SETTLEMENT_KEY_FILE: chain.settlementKeyFile,
  };
}
