// `flotilla submit`'s flags → an AIJob manifest. Pure (local inputs must already be CIDs here; the
// command adds local paths to IPFS first), so the mapping is tested without a cluster. Checks
// only what the user can fix from the command line; everything else is the apiserver's (CEL) and
// the webhook's to judge, and their messages come back verbatim.
import { API_VERSION, AIJOB } from '../operator/api/group.ts';
import type { AIJobManifest, AIJobSpecInput } from '../operator/api/types.ts';
import { CliError } from './errors.ts';

export interface SubmitFlags {
  readonly name: string;
  readonly namespace: string;
  readonly image?: string;
  readonly command?: readonly string[];
  readonly gpus?: number;
  readonly replicas?: number;
  readonly cpu?: string;
  readonly memory?: string;
  readonly gpuProduct?: readonly string[];
  readonly minGpuMemory?: number;
  /** name=CID[:mountPath], CIDs only by now. */
  readonly input?: readonly string[];
  readonly outputPath?: string;
  readonly pin?: boolean;
  readonly checkpoint?: string;
  readonly checkpointEvery?: string;
  readonly token?: string;
  readonly maxAmount?: string;
  readonly maxPrice?: string;
  readonly callbackUrl?: string;
  readonly allowProvider?: readonly string[];
  readonly denyProvider?: readonly string[];
  readonly region?: readonly string[];
  readonly maxRestarts?: number;
  readonly env?: readonly string[];
  readonly annotation?: readonly string[];
  readonly label?: readonly string[];
}

export const DEFAULT_INPUT_ROOT = '/flotilla/inputs';

export interface InputSpec {
  readonly name: string;
  /** A CID, or a local path still to be added. */
  readonly source: string;
  readonly mountPath: string;
}

/** `name=source[:mountPath]`; the mount path defaults to /flotilla/inputs/<name>. */
export function parseInput(text: string): InputSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError(`--input "${text}" must be name=CID-or-path[:mountPath], e.g. data=bafy…:/data`);
  const name = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  // The mount path is absolute, so ":/" starts it; a Windows-free CLI need not guess further.
  const colon = rest.lastIndexOf(':/');
  const source = colon >= 0 ? rest.slice(0, colon) : rest;
  const mountPath = colon >= 0 ? rest.slice(colon + 1) : `${DEFAULT_INPUT_ROOT}/${name}`;
  if (!source) throw new CliError(`--input "${text}" names no CID or path`);
  return { name, source, mountPath };
}

function pairs(flag: string, values: readonly string[] | undefined): Array<[string, string]> {
  return (values ?? []).map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new CliError(`--${flag} "${v}" must be KEY=VALUE`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  });
}

export function buildManifest(flags: SubmitFlags): AIJobManifest {
  if (!flags.image) throw new CliError('--image is required: the container image every replica runs (a digest-pinned ref@sha256:… is recommended)');
  if (flags.token && !flags.maxAmount) throw new CliError('--token needs --max-amount: the most the job may cost, in token units');
  if (!flags.token && (flags.maxAmount || flags.maxPrice)) throw new CliError('--max-amount and --max-price need --token (e.g. --token USDC)');
  if (flags.checkpointEvery && !flags.checkpoint) throw new CliError('--checkpoint-every needs --checkpoint <path>');
  const inputs = (flags.input ?? []).map(parseInput);
  const names = new Set<string>();
  for (const i of inputs) {
    if (names.has(i.name)) throw new CliError(`--input names "${i.name}" twice`);
    names.add(i.name);
  }
  const [command, ...args] = flags.command ?? [];
  const placement = {
    ...(flags.allowProvider?.length ? { allowedProviders: [...flags.allowProvider] } : {}),
    ...(flags.denyProvider?.length ? { deniedProviders: [...flags.denyProvider] } : {}),
    ...(flags.region?.length ? { regions: [...flags.region] } : {}),
  };
  const spec: AIJobSpecInput = {
    image: flags.image,
    ...(command ? { command: [command], ...(args.length > 0 ? { args } : {}) } : {}),
    ...(flags.env?.length ? { env: pairs('env', flags.env).map(([name, value]) => ({ name, value })) } : {}),
    ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
    resources: {
      gpus: flags.gpus ?? 1,
      ...(flags.cpu ? { cpu: flags.cpu } : {}),
      ...(flags.memory ? { memory: flags.memory } : {}),
    },
    ...(flags.gpuProduct?.length || flags.minGpuMemory
      ? {
          gpu: {
            ...(flags.gpuProduct?.length ? { products: [...flags.gpuProduct] } : {}),
            ...(flags.minGpuMemory ? { minMemoryMiB: flags.minGpuMemory } : {}),
          },
        }
      : {}),
    ...(inputs.length > 0 ? { inputs: inputs.map((i) => ({ name: i.name, cid: i.source, mountPath: i.mountPath })) } : {}),
    ...(flags.outputPath || flags.pin === false
      ? { output: { ...(flags.outputPath ? { path: flags.outputPath } : {}), ...(flags.pin === false ? { pin: false } : {}) } }
      : {}),
    ...(flags.checkpoint ? { checkpoint: { path: flags.checkpoint, ...(flags.checkpointEvery ? { every: flags.checkpointEvery } : {}) } } : {}),
    ...(flags.token
      ? { payment: { token: flags.token, maxAmount: flags.maxAmount as string, ...(flags.maxPrice ? { maxPricePerGpuHour: flags.maxPrice } : {}) } }
      : {}),
    ...(Object.keys(placement).length > 0 ? { placement } : {}),
    ...(flags.maxRestarts !== undefined ? { recovery: { maxRestarts: flags.maxRestarts } } : {}),
    ...(flags.callbackUrl ? { callbackURL: flags.callbackUrl } : {}),
    ...(flags.annotation?.length ? { podAnnotations: Object.fromEntries(pairs('annotation', flags.annotation)) } : {}),
  } as AIJobSpecInput;
  return {
    apiVersion: API_VERSION,
    kind: AIJOB.kind,
    metadata: { name: flags.name, namespace: flags.namespace, ...(flags.label?.length ? { labels: Object.fromEntries(pairs('label', flags.label)) } : {}) },
    spec,
  };
}
