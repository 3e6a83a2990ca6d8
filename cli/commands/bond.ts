// `flotilla provider bond | unbond | bond-withdraw`: a provider's slashable bond in the escrow
// (docs/contracts.md, "Provider bonds and slashing"). The logic is operator/payments/fund.ts; this
// file parses flags only.
import type { Command } from 'commander';
import { Wallet } from 'ethers';
import { loadChainConfig, readKeyFile } from '../../operator/payments/chain-config.ts';
import type { ChainConfig } from '../../operator/payments/chain-config.ts';
import { postProviderBond, readBond, requestProviderUnbond, withdrawProviderBond } from '../../operator/payments/fund.ts';
import type { BondStatus } from '../../operator/payments/fund.ts';

interface KeyFlags {
  token: string;
  keyFile?: string;
}

/** The `provider` command group, created unless another module (withdraw.ts) already did. */
function providerGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'provider') ?? program.command('provider').description('commands for GPU providers');
}

function chainConfig(): ChainConfig {
  const chain = loadChainConfig();
  if (!chain) throw new Error('set FLOTILLA_CHAIN_RPC, FLOTILLA_ESCROW_ADDRESS and FLOTILLA_TOKENS (see docs/payments.md)');
  return chain;
}

function key(flags: KeyFlags): string {
  const keyFile = flags.keyFile ?? process.env.FLOTILLA_PAYOUT_KEY_FILE;
  if (!keyFile) throw new Error('--key-file (or FLOTILLA_PAYOUT_KEY_FILE) is required');
  return readKeyFile(keyFile);
}

/** "bonded 100 USDC, unbonding 20 USDC (withdrawable from 2026-…Z)" */
function describe(b: BondStatus): string {
  const unbonding = b.unbondableAt ? `, unbonding ${b.unbonding} ${b.token} (withdrawable from ${b.unbondableAt.toISOString()})` : '';
  return `${b.provider}: bonded ${b.bonded} ${b.token}${unbonding}`;
}

const tokenOption = ['--token <symbol>', 'configured token symbol or address', 'USDC'] as const;
const keyOption = ['--key-file <file>', 'private key file (default $FLOTILLA_PAYOUT_KEY_FILE)'] as const;

export function register(program: Command): void {
  const provider = providerGroup(program);

  provider
    .command('bond')
    .description("post a slashable bond for a provider (the key's own address, or --for), or show it without --amount")
    .option('--amount <units>', 'token units to add to the bond, paid by the key (approves the escrow first if needed)')
    .option('--for <address>', "the provider address the bond is for (default: the key's address; a funder pays for another provider)")
    .option(...tokenOption)
    .option(...keyOption)
    .action(async (flags: KeyFlags & { amount?: string; for?: string }) => {
      const chain = chainConfig();
      if (flags.amount === undefined) {
        const who = flags.for ?? new Wallet(key(flags)).address;
        process.stdout.write(`${describe(await readBond(chain, who, flags.token))}\n`);
        return;
      }
      const r = await postProviderBond(chain, key(flags), flags.token, flags.amount, flags.for);
      const by = r.funder.toLowerCase() === r.provider.toLowerCase() ? '' : ` paid by ${r.funder}`;
      process.stdout.write(`bonded ${r.posted} ${r.token} for ${r.provider}${by} (tx ${r.txHash})\n${describe(r)}\n`);
    });

  provider
    .command('unbond')
    .description("start unbonding part of the key's bond: it stays slashable, and is withdrawable with bond-withdraw after the delay")
    .requiredOption('--amount <units>', 'token units to move from bonded to unbonding (restarts the delay for everything unbonding)')
    .option(...tokenOption)
    .option(...keyOption)
    .action(async (flags: KeyFlags & { amount: string }) => {
      const r = await requestProviderUnbond(chainConfig(), key(flags), flags.token, flags.amount);
      process.stdout.write(`unbonding ${flags.amount} ${r.token} (tx ${r.txHash})\n${describe(r)}\n`);
    });

  provider
    .command('bond-withdraw')
    .description("withdraw the key's whole unbonding amount once the unbonding delay has passed")
    .option(...tokenOption)
    .option(...keyOption)
    .action(async (flags: KeyFlags) => {
      const r = await withdrawProviderBond(chainConfig(), key(flags), flags.token);
      if (r.txHash) {
        process.stdout.write(`withdrew ${r.withdrawn} ${r.token} of bond to ${r.provider} (tx ${r.txHash})\n${describe(r)}\n`);
      } else if (r.unbondableAt) {
        throw new Error(`${r.unbonding} ${r.token} is unbonding, withdrawable from ${r.unbondableAt.toISOString()} (chain time)`);
      } else {
        process.stdout.write(`${r.provider} has no ${r.token} bond unbonding (run flotilla provider unbond first)\n`);
      }
    });
}
