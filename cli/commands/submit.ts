// `flotilla submit <name> [--] [command...]`: builds an AIJob from flags, the way a job-submission
// command takes them (GPU product and count, replicas, image, inputs as CIDs or local paths — added
// to IPFS first —, output, token, max amount, callback URL), creates it in the hub, and optionally
// follows it (--watch). --dry-run prints the manifest after the apiserver (CEL, webhooks) judged it.
import { Option } from 'commander';
import type { Command } from 'commander';
import type { AIJobManifest } from '../../operator/api/types.ts';
import { describeKubeError } from '../errors.ts';
import { addLocalPath, isCid } from '../ipfs.ts';
import { exitCodeFor } from '../job-view.ts';
import { connectHub, createAIJob } from '../kube.ts';
import type { HubFlags } from '../kube.ts';
import { buildManifest, parseInput } from '../manifest.ts';
import type { SubmitFlags } from '../manifest.ts';
import { collect, collectRaw, outputOption, positiveInt, print, render } from '../output.ts';
import type { OutputFormat } from '../output.ts';
import { watchAndPrint } from './watch.ts';

type Flags = Omit<SubmitFlags, 'name' | 'namespace' | 'command'> &
  HubFlags & {
    output?: OutputFormat;
    dryRun?: boolean;
    watch?: boolean;
    timeout?: number;
    kubo?: string;
    /** The flag's old name, still accepted (hidden from --help). */
    ipfsApi?: string;
  };

/** Replaces local paths among the inputs by the CIDs IPFS gives them. */
async function resolveInputs(inputs: readonly string[] | undefined, api: string | undefined, say: (line: string) => void): Promise<string[]> {
  const out: string[] = [];
  for (const text of inputs ?? []) {
    const input = parseInput(text);
    if (isCid(input.source)) {
      out.push(text);
      continue;
    }
    const cid = await addLocalPath(api, input.source);
    say(`added ${input.source} to IPFS as ${cid}`);
    out.push(`${input.name}=${cid}:${input.mountPath}`);
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('submit')
    .description('create an AIJob from flags (local input paths are added to IPFS first) and optionally follow it')
    .argument('<name>', 'AIJob name (a DNS subdomain, unique in the namespace)')
    .argument('[command...]', 'the container command and its arguments, after --')
    .requiredOption('--image <ref>', 'container image of every replica (digest-pinned ref@sha256:… recommended)')
    .option('--gpus <n>', 'whole GPUs per replica', positiveInt('--gpus'))
    .option('--replicas <n>', 'replicas in the gang (all on one provider)', positiveInt('--replicas'))
    .option('--gpu-product <product>', 'acceptable GPU product, e.g. NVIDIA-H100-80GB-HBM3 (repeatable or comma-separated)', collect)
    .option('--min-gpu-memory <MiB>', 'minimum GPU memory in MiB', positiveInt('--min-gpu-memory'))
    .option('--cpu <quantity>', 'CPU request per replica, e.g. 4')
    .option('--memory <quantity>', 'memory request per replica, e.g. 16Gi')
    .option(
      '--input <name=CID|path[:mountPath]>',
      'input by CID, or a local file/folder to add to IPFS (repeatable); mounted at /flotilla/inputs/<name> unless given',
      collectRaw,
    )
    .option('--output-path <path>', "directory whose content becomes the job's output CID (default /flotilla/output)")
    .option('--no-pin', "do not pin the output on the hub's IPFS node")
    .option('--checkpoint <path>', 'checkpoint directory (resume after preemption)')
    .option('--checkpoint-every <duration>', 'expected checkpoint interval, e.g. 10m')
    .option('--token <symbol|0xaddress>', 'payment token, e.g. USDC')
    .option('--max-amount <units>', 'most the job may cost, in token units, e.g. 250')
    .option('--max-price <units>', 'most per GPU-hour, in token units')
    .option('--callback-url <url>', 'URL that receives a signed POST when the job finishes')
    .option('--allow-provider <name>', 'only these GPUProviders (repeatable or comma-separated)', collect)
    .option('--deny-provider <name>', 'never these GPUProviders (repeatable or comma-separated)', collect)
    .option('--region <region>', 'acceptable provider regions (repeatable or comma-separated)', collect)
    .option('--max-restarts <n>', 'attempts after the first before the job fails', (v: string) => Number(v))
    .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collectRaw)
    .option('--annotation <KEY=VALUE>', 'annotation on every pod (repeatable)', collectRaw)
    .option('--label <KEY=VALUE>', 'label on the AIJob (repeatable)', collectRaw)
    .option('--kubo <url>', 'Kubo RPC API URL for local inputs (default $FLOTILLA_KUBO_API)')
    // The name `flotilla add` and `receipt` use; --ipfs-api / $FLOTILLA_IPFS_API were this flag's old names.
    .addOption(new Option('--ipfs-api <url>', 'deprecated: --kubo').hideHelp())
    .option('-n, --namespace <namespace>', 'AIJob namespace (default: the kubeconfig context\'s, else "default")')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--dry-run', 'have the hub judge the AIJob (CEL, webhooks) and print it, without creating it')
    .option('-w, --watch', 'follow the job until it finishes (exit code 0 succeeded, 1 failed)')
    .option('--timeout <seconds>', 'with --watch: give up after this many seconds (exit code 2)', positiveInt('--timeout'))
    .addOption(outputOption())
    .action(async (name: string, command: string[], flags: Flags) => {
      const hub = connectHub(flags);
      const say = (line: string) => process.stderr.write(`${line}\n`);
      const input = await resolveInputs(flags.input, flags.kubo ?? flags.ipfsApi ?? (process.env.FLOTILLA_KUBO_API || process.env.FLOTILLA_IPFS_API), say);
      const manifest: AIJobManifest = buildManifest({ ...flags, input, name, namespace: hub.namespace, ...(command.length > 0 ? { command } : {}) });
      const created = await createAIJob(hub, manifest, flags.dryRun).catch((err: unknown) => {
        throw describeKubeError(err, `AIJob ${hub.namespace}/${name}`, hub.server);
      });
      if (flags.output) print(render(created, flags.output));
      else print(`aijob.flotilla.dev/${name} ${flags.dryRun ? 'judged valid (dry run, not created)' : 'created'} in ${hub.namespace}`);
      if (flags.watch && !flags.dryRun) {
        const job = await watchAndPrint(hub, name, flags);
        process.exitCode = exitCodeFor(job);
      }
    });
}
