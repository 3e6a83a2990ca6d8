// `flotilla get <job> [-o dir]`: downloads a Succeeded job's output from IPFS and proves it is the
// output the operator signed for:
//
//   1. the AIJob (hub, your kubeconfig): status.outputCID and status.receiptCID
//   2. the receipt (flotilla receipt's checks): the signature recovers the operator address you
//      trust (--signer / $FLOTILLA_RECEIPT_SIGNER), and everything it names is pinned
//   3. the receipt is this job's (uid, namespace, name) and names the same outputCID as the status
//   4. every block of the output is hashed against its CID as it arrives (operator/artifacts/verified-dag.ts), so
//      the Kubo node serving it need not be trusted; files go to <dir>.partial-<pid> first and the
//      folder is renamed into place only when all of it verified
//
// --checkpoints also downloads each attempt's last checkpoint (the CIDs the signed receipt names;
// the status's with --skip-receipt) into <dir>-checkpoints/attempt-<N>, verified the same way.
//
// Any mismatch is an error (exit 1) and leaves no files. --skip-receipt skips 2–3 (for hubs that
// sign no receipts): the CID is then the hub's word, still checked block by block.
import { existsSync, readdirSync, rmSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { CID } from 'multiformats/cid';
import type { AIJob } from '../../operator/api/types.ts';
import { CliError, describeKubeError } from '../errors.ts';
import { connectHub, getAIJob } from '../kube.ts';
import type { HubFlags } from '../kube.ts';
import { DagVerificationError, DagWalker, DEFAULT_DAG_LIMITS } from '../../operator/artifacts/verified-dag.ts';
import type { DagSummary } from '../../operator/artifacts/verified-dag.ts';
import { FolderSink } from '../../operator/artifacts/folder-sink.ts';
import { resolveKuboApi } from './add.ts';
import { checkReceipt } from './receipt.ts';

/** The name a single-file output is written under, inside the target folder. */
export const FILE_OUTPUT_NAME = 'output';

/** Kubo's blocks are at most 2 MiB (its bitswap refuses larger): anything bigger is refused unread. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

/** Problems with the receipt as this job's receipt (beyond its signature and pins); [] when it is. */
export function receiptMismatches(job: AIJob, receipt: { job: { namespace: string; name: string; uid: string }; outputCID: string | null }): string[] {
  const problems: string[] = [];
  const want = { namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' };
  if (receipt.job.uid !== want.uid || receipt.job.namespace !== want.namespace || receipt.job.name !== want.name) {
    problems.push(
      `the receipt is for job ${receipt.job.namespace}/${receipt.job.name} (uid ${receipt.job.uid}), not ${want.namespace}/${want.name} (uid ${want.uid})`,
    );
  }
  if (receipt.outputCID !== (job.status?.outputCID ?? null)) {
    problems.push(`the receipt names output ${receipt.outputCID ?? 'none'}, but status.outputCID is ${job.status?.outputCID ?? 'unset'}`);
  }
  return problems;
}

/** Kubo's block/get, bounded in size and time; the bytes are checked by the walker, not here. */
export function kuboBlocks(api: string, timeoutMs: number): (cid: CID) => Promise<Uint8Array> {
  return async (cid) => {
    let res: Response;
    try {
      res = await fetch(`${api.replace(/\/$/, '')}/api/v0/block/get?arg=${cid.toString()}`, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const cause =
        (err as { cause?: { code?: string } }).cause?.code ??
        (err instanceof Error ? (err.name === 'TimeoutError' ? `timed out after ${timeoutMs / 1000}s` : err.message) : String(err));
      throw new CliError(`cannot read block ${cid} from the IPFS node at ${api}: ${cause}`);
    }
    if (!res.ok) throw new CliError(`the IPFS node at ${api} answered HTTP ${res.status} for block ${cid}: ${(await res.text()).slice(0, 300).trim()}`);
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_BLOCK_BYTES) throw new DagVerificationError(`block ${cid} is ${length} bytes, larger than any IPFS block (${MAX_BLOCK_BYTES})`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += (chunk as Uint8Array).length;
      if (size > MAX_BLOCK_BYTES) throw new DagVerificationError(`block ${cid} is larger than any IPFS block (${MAX_BLOCK_BYTES} bytes)`);
      chunks.push(chunk as Uint8Array);
    }
    return Buffer.concat(chunks);
  };
}

/** Downloads `cid` into `target` (which must not exist or be an empty folder), all or nothing. */
export async function downloadVerified(cid: string, target: string, getBlock: (cid: CID) => Promise<Uint8Array>, maxBytes: number): Promise<DagSummary> {
  const dir = resolve(target);
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0))
    throw new CliError(`${target} exists and is not an empty folder; pick another with -o`);
  const partial = `${dir}.partial-${process.pid}`;
  await mkdir(partial, { recursive: true });
  const sink = new FolderSink(partial);
  try {
    const summary = await new DagWalker(getBlock, sink, { ...DEFAULT_DAG_LIMITS, maxBytes }).walk(cid, FILE_OUTPUT_NAME);
    if (existsSync(dir)) rmdirSync(dir);
    renameSync(partial, dir);
    return summary;
  } catch (err) {
    await sink.closeAll();
    rmSync(partial, { recursive: true, force: true });
    if (err instanceof DagVerificationError) throw new CliError(`the output ${cid} does not verify: ${err.message}; nothing was written`);
    throw err;
  }
}

const positive = (flag: string) => (v: string) => {
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError(`${flag} must be a positive integer`);
  return Number(v);
};

interface GetFlags extends HubFlags {
  outputDir?: string;
  kubo?: string;
  signer?: string;
  skipReceipt?: boolean;
  checkpoints?: boolean;
  maxBytes?: number;
  timeout?: number;
}

export async function getOutput(name: string, flags: GetFlags, say: (line: string) => void): Promise<DagSummary> {
  const hub = connectHub(flags);
  const job = await getAIJob(hub, name).catch((err: unknown) => {
    throw describeKubeError(err, `AIJob ${hub.namespace}/${name}`, hub.server);
  });
  const what = `AIJob ${hub.namespace}/${name}`;
  let signedCheckpoints: Array<{ attempt: number; cid: string }> | undefined;
  const output = job.status?.outputCID;
  if (!output) throw new CliError(`${what} has no output yet (phase ${job.status?.phase ?? 'Pending'}; status.outputCID is unset)`);
  const api = resolveKuboApi(flags.kubo);
  if (!api) throw new CliError('no IPFS node: pass --kubo <Kubo RPC URL>, set FLOTILLA_KUBO_API, or start the local federation');
  if (flags.skipReceipt) {
    say(`warning: --skip-receipt: not checking the receipt; ${output} is the hub's word (its blocks are still verified against it)`);
  } else {
    const receipt = job.status?.receiptCID;
    if (!receipt)
      throw new CliError(
        `${what} has no receipt (status.receiptCID is unset: the operator signs none, or not yet); pass --skip-receipt to download ${output} unverified by a receipt`,
      );
    const v = await checkReceipt(receipt, { kubo: api, ...(flags.signer ? { signer: flags.signer } : {}) });
    const problems = [...v.problems, ...(v.signed ? receiptMismatches(job, v.signed.receipt) : [])];
    if (problems.length > 0) throw new CliError(`the receipt ${receipt} of ${what} does not verify, nothing downloaded:\n  ${problems.join('\n  ')}`);
    say(`receipt ${receipt}: signed by ${v.recovered}, names output ${output}`);
    signedCheckpoints = (v.signed?.receipt.attempts ?? []).flatMap((a) => (a.checkpointCID ? [{ attempt: a.index, cid: a.checkpointCID }] : []));
  }
  const target = flags.outputDir ?? name;
  const blocks = kuboBlocks(api, (flags.timeout ?? 60) * 1000);
  const maxBytes = flags.maxBytes ?? DEFAULT_DAG_LIMITS.maxBytes;
  const summary = await downloadVerified(output, target, blocks, maxBytes);
  say(`${output}: ${summary.files} file(s), ${summary.directories} folder(s), ${summary.bytes} bytes, every block verified → ${target}`);
  if (flags.checkpoints) {
    // The receipt's CIDs when it was checked: the status is the hub's word, the receipt is signed.
    const checkpoints = signedCheckpoints ?? (job.status?.attempts ?? []).flatMap((a) => (a.checkpointCID ? [{ attempt: a.index, cid: a.checkpointCID }] : []));
    if (checkpoints.length === 0) say(`${what} has no checkpoints`);
    const dir = `${target.replace(/\/+$/, '')}-checkpoints`;
    for (const c of checkpoints) {
      await mkdir(dir, { recursive: true });
      const into = join(dir, `attempt-${c.attempt}`);
      const got = await downloadVerified(c.cid, into, blocks, maxBytes);
      say(`checkpoint of attempt ${c.attempt} ${c.cid}: ${got.files} file(s), ${got.bytes} bytes, every block verified → ${into}`);
    }
  }
  return summary;
}

export function register(program: Command): void {
  program
    .command('get')
    .description("download a job's output by CID from IPFS and verify it against the job's signed receipt")
    .argument('<job>', 'AIJob name')
    .option('-o, --output-dir <dir>', 'folder to write the output into (must not exist, or be empty; default ./<job>)')
    .option('-n, --namespace <namespace>', 'AIJob namespace (default: the kubeconfig context\'s, else "default")')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--kubo <url>', "Kubo RPC API URL (default $FLOTILLA_KUBO_API, else the local federation's hub Kubo)")
    .option('--signer <address>', 'operator address the receipt signature must recover (default $FLOTILLA_RECEIPT_SIGNER)')
    .option('--skip-receipt', "do not check the receipt (the output CID is the hub's word; blocks are still verified)")
    .option('--checkpoints', "also download each attempt's last checkpoint into <dir>-checkpoints/attempt-<N>, verified the same way")
    .option('--max-bytes <n>', `most bytes to write (default ${DEFAULT_DAG_LIMITS.maxBytes})`, positive('--max-bytes'))
    .option('--timeout <seconds>', 'deadline per IPFS block (default 60)', positive('--timeout'))
    .action(async (name: string, flags: GetFlags) => {
      await getOutput(name, flags, (line) => process.stderr.write(`${line}\n`));
    });
}
