// `flotilla provider withdraw`: a provider (or a payer, for its refunds) withdraws its escrow credit.
// The logic is operator/payments/fund.ts; this file parses flags only.
import type { Command } from 'commander';
import { loadChainConfig, readKeyFile } from '../../operator/payments/chain-config.ts';
import { withdrawCredit } from '../../operator/payments/fund.ts';

interface WithdrawFlags {
  token: string;
  keyFile?: string;
}

/** The `provider` command group, created unless another module already did. */
function providerGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'provider') ?? program.command('provider').description('commands for GPU providers');
}

export function register(program: Command): void {
  providerGroup(program)
    .command('withdraw')
    .description('withdraw the whole escrow credit of the payout key in one token')
    .option('--token <symbol>', 'configured token symbol or address', 'USDC')
    .option('--key-file <file>', 'payout private key file (default $FLOTILLA_PAYOUT_KEY_FILE)')
    .action(async (flags: WithdrawFlags) => {
      const chain = loadChainConfig();
      if (!chain) throw new Error('set FLOTILLA_CHAIN_RPC, FLOTILLA_ESCROW_ADDRESS and FLOTILLA_TOKENS (see docs/payments.md)');
      const keyFile = flags.keyFile ?? process.env.FLOTILLA_PAYOUT_KEY_FILE;
      if (!keyFile) throw new Error('--key-file (or FLOTILLA_PAYOUT_KEY_FILE) is required');
      const result = await withdrawCredit(chain, readKeyFile(keyFile), flags.token);
      process.stdout.write(
        result.txHash
          ? `withdrew ${result.amount} ${result.token} to ${result.account} (tx ${result.txHash})\n`
          : `${result.account} has no ${result.token} credit in the escrow\n`,
      );
    });
}
