// `flotilla fund <job>`: deposit an AIJob's payment into the escrow under the job's escrow id.
// The logic is operator/payments/fund.ts; this file parses flags only.
import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { loadChainConfig, readKeyFile } from '../../operator/payments/chain-config.ts';
import { fundJob } from '../../operator/payments/fund.ts';

interface FundFlags {
  namespace: string;
  keyFile?: string;
  amount?: string;
  deadline?: string;
  kubeconfig?: string;
}

export function register(program: Command): void {
  program
    .command('fund')
    .description("deposit an AIJob's spec.payment.maxAmount (or --amount) into the escrow, approving the token first if needed")
    .argument('<job>', 'AIJob name')
    .option('-n, --namespace <namespace>', 'AIJob namespace', 'default')
    .option('--key-file <file>', 'payer private key file (default $FLOTILLA_PAYER_KEY_FILE)')
    .option('--amount <units>', 'token units to deposit (default: what is missing to spec.payment.maxAmount)')
    .option('--deadline <rfc3339>', 'when the payer may reclaim an unsettled deposit (default: in 7 days)')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .action(async (job: string, flags: FundFlags) => {
      const chain = loadChainConfig();
      if (!chain) throw new Error('set FLOTILLA_CHAIN_RPC, FLOTILLA_ESCROW_ADDRESS and FLOTILLA_TOKENS (see docs/payments.md)');
      const keyFile = flags.keyFile ?? process.env.FLOTILLA_PAYER_KEY_FILE;
      if (!keyFile) throw new Error('--key-file (or FLOTILLA_PAYER_KEY_FILE) is required');
      const hub = new KubeConfig();
      if (flags.kubeconfig) hub.loadFromFile(flags.kubeconfig);
      else hub.loadFromDefault();
      const deadlineMs = flags.deadline ? Date.parse(flags.deadline) : undefined;
      if (deadlineMs !== undefined && !Number.isFinite(deadlineMs)) throw new Error(`--deadline ${flags.deadline} is not an RFC 3339 time`);
      const result = await fundJob({
        hub,
        namespace: flags.namespace,
        name: job,
        chain,
        payerKey: readKeyFile(keyFile),
        ...(flags.amount ? { amount: flags.amount } : {}),
        ...(deadlineMs !== undefined ? { deadline: BigInt(Math.floor(deadlineMs / 1000)) } : {}),
      });
      process.stdout.write(
        result.depositTx
          ? `deposited ${result.deposited} ${result.token} for ${flags.namespace}/${job} under ${result.escrowJobId} (tx ${result.depositTx}); total ${result.total}\n`
          : `${flags.namespace}/${job} is already funded: ${result.total} ${result.token} under ${result.escrowJobId}\n`,
      );
    });
}
