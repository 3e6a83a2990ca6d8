// `flotilla receipt CID`: verifies a job's provenance receipt — its signature recovers the operator's
// address (--signer, $FLOTILLA_RECEIPT_SIGNER, or the address of $FLOTILLA_RECEIPT_KEY(_FILE)) and the
// receipt and everything it names are pinned on the IPFS node. Exits 1 when anything fails. The
// logic is operator/artifacts/verify.ts.
import type { Command } from 'commander';
import { loadReceiptSigner } from '../../operator/artifacts/signer.ts';
import { formatVerification, verifyReceipt } from '../../operator/artifacts/verify.ts';
import type { ReceiptVerification } from '../../operator/artifacts/verify.ts';
import { kuboFrom } from './add.ts';

export function trustedSigner(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.FLOTILLA_RECEIPT_SIGNER) return env.FLOTILLA_RECEIPT_SIGNER;
  const wallet = loadReceiptSigner({
    ...(env.FLOTILLA_RECEIPT_KEY ? { key: env.FLOTILLA_RECEIPT_KEY } : {}),
    ...(env.FLOTILLA_RECEIPT_KEY_FILE ? { keyFile: env.FLOTILLA_RECEIPT_KEY_FILE } : {}),
  });
  if (wallet) return wallet.address;
  throw new Error('whose signature to trust? pass --signer <operator address> or set FLOTILLA_RECEIPT_SIGNER');
}

export async function checkReceipt(cid: string, opts: { kubo?: string; signer?: string } = {}): Promise<ReceiptVerification> {
  return verifyReceipt(kuboFrom(opts.kubo), cid, { signer: trustedSigner(opts.signer) });
}

export function register(program: Command): void {
  program
    .command('receipt')
    .description("verify a job's provenance receipt: operator signature and pins of everything it names")
    .argument('<cid>', 'status.receiptCID of the AIJob')
    .option('--kubo <url>', "Kubo RPC API URL (default $FLOTILLA_KUBO_API, else the local federation's hub Kubo)")
    .option('--signer <address>', 'operator address the signature must recover (default $FLOTILLA_RECEIPT_SIGNER)')
    .option('--json', 'print the verification as JSON')
    .action(async (cid: string, flags: { kubo?: string; signer?: string; json?: boolean }) => {
      const v = await checkReceipt(cid, flags);
      process.stdout.write(flags.json ? `${JSON.stringify(v, null, 2)}\n` : formatVerification(v));
      if (!v.ok) process.exitCode = 1;
    });
}
