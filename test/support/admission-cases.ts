// Example objects of both kinds and what admission must do with them: accept, or reject naming a
// field (and, for CEL rules, with our exact message). The unit tests run them through
// local-validation; an integration test can run the same table against a real kube-apiserver,
// which is the authority. `field` is the path the apiserver reports the error at.
// Lives in test/support/, the one home of test-support code: unit tests beside the operator's code,
// the integration suites under test/ and bench/ all import it from here, and shipped code
// (operator/, cli/, pulumi/) may not (eslint.config.js; operator/boundaries.test.ts).
import type { AIJobManifest, AIJobSpecInput, GPUProviderManifest, GPUProviderSpecInput } from '../../operator/api/types.ts';

export interface AdmissionCase {
  /** A sentence: what the object is. */
  readonly name: string;
  readonly object: unknown;
  /** For an update: the object as it was created. */
  readonly old?: unknown;
  /** Absent when the object must be accepted. `message` is given for CEL rules (ours, exact). */
  readonly rejected?: { readonly field: string; readonly message?: string };
}

export const CID_V1 = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
export const CID_V0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';

/** The smallest valid AIJob, with `spec` merged over it. */
export function aiJobManifest(spec: Partial<AIJobSpecInput> = {}, name = 'train'): AIJobManifest {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name, namespace: 'default' },
    spec: { image: 'ghcr.io/example/trainer:1', payment: { token: 'USDC', maxAmount: '250' }, ...spec },
  };
}

/** The smallest valid GPUProvider, with `spec` merged over it. */
export function gpuProviderManifest(spec: Partial<GPUProviderSpecInput> = {}, name = 'provider-a'): GPUProviderManifest {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'GPUProvider',
    metadata: { name },
    spec: {
      kubeconfigSecretRef: { name: 'provider-a-kubeconfig', namespace: 'flotilla-system' },
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.80' }],
      ...spec,
    },
  };
}

/** A copy of `object` with `value` at a dotted path (removed when undefined), for values the types refuse. */
export function withRaw(object: object, path: string, value: unknown): unknown {
  const copy = structuredClone(object) as Record<string, unknown>;
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
  const last = parts.at(-1) ?? '';
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

const job = aiJobManifest;
const provider = gpuProviderManifest;
const cel = (field: string, message: string) => ({ field, message });
const openApi = (field: string) => ({ field });

const POSITIVE_AMOUNT = (f: string) => `${f} must be a positive decimal number of token units as a string, e.g. "250" or "0.75"`;
const QUANTITY = (f: string) => `${f} must be a positive quantity, e.g. 4, "500m" or "16Gi"`;
const CID_MESSAGE = 'spec.inputs[].cid must be an IPFS CID: v0 (Qm…, 46 characters) or v1 in base32 (b…), base58btc (z…) or base36 (k…)';
const NORMALIZED = (f: string) => `${f} must be normalized: no empty, '.' or '..' segments and no trailing '/'`;
const RESERVED = (f: string) => `${f} must not be '/' nor under /proc, /sys, /dev or /etc`;
const DEADLINE = 'spec.deadline must be an RFC 3339 time, e.g. "2026-12-31T00:00:00Z"';
const EVERY = 'spec.checkpoint.every must be a duration of at least 30s, e.g. "10m" or "1h30m"';
const TOKEN_MESSAGE = 'spec.payment.token must be a token symbol such as USDC or DAI, or a 0x contract address';

export const fullAiJob = job(
  {
    command: ['python', 'train.py'],
    args: ['--epochs', '3'],
    env: [
      { name: 'WANDB_MODE', value: 'offline' },
      { name: 'WANDB_API_KEY', valueFrom: { secretKeyRef: { name: 'wandb', key: 'api-key' } } },
    ],
    imagePullSecrets: [{ name: 'regcred' }],
    replicas: 2,
    resources: { gpus: 8, cpu: 32, memory: '256Gi', shmSize: '64Gi' },
    gpu: { products: ['NVIDIA-H100-80GB-HBM3'], minMemoryMiB: 80000, minComputeCapability: '9.0' },
    inputs: [
      { name: 'dataset', cid: CID_V1, mountPath: '/data' },
      { name: 'script', cid: CID_V0, mountPath: '/src' },
    ],
    output: { path: '/out', pin: false },
    checkpoint: { path: '/ckpt', every: '15m', marker: 'COMPLETE.ok' },
    payment: { token: '0x5FbDB2315678afecb367f032d93F642f64180aa3', maxAmount: '250.5', maxPricePerGpuHour: '3.20' },
    placement: { allowedProviders: ['provider-a', 'provider-b'], deniedProviders: ['provider-c'], regions: ['eu-west'], minReputation: 0.9 },
    recovery: { maxRestarts: 0, strategy: 'SameProviderFirst' },
    deadline: '2026-12-31T00:00:00Z',
    callbackURL: 'https://example.org/hooks/flotilla',
    podAnnotations: { 'sim.flotilla.dev/run-seconds': '30', 'sim.flotilla.dev/outcome': 'Succeeded' },
  },
  'full',
);

const oldJob = job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/data' }] }, 'existing');
const oldInputs = oldJob.spec.inputs ?? [];
const update = (spec: Partial<AIJobSpecInput>) => job({ inputs: oldInputs, ...spec }, 'existing');

export const aiJobAdmissionCases: readonly AdmissionCase[] = [
  { name: 'a job with only image and payment', object: job() },
  { name: 'a job using every field', object: fullAiJob },
  { name: 'a job whose cpu is a string quantity and memory an integer', object: job({ resources: { cpu: '500m', memory: 1073741824 } }) },
  { name: 'a job with a GPU memory floor but no product list', object: job({ gpu: { minMemoryMiB: 40000 } }) },
  { name: 'a job whose name is 48 characters', object: job({}, 'a'.repeat(48)) },
  { name: 'a job paying a fraction of a token', object: job({ payment: { token: 'DAI', maxAmount: '0.000001' } }) },
  { name: 'a job calling back over plain http', object: job({ callbackURL: 'http://hooks.internal:8080/done' }) },

  { name: 'a job with replicas 0', object: job({ replicas: 0 }), rejected: cel('spec.replicas', 'spec.replicas must be at least 1') },
  { name: 'a job with more replicas than a gang may have', object: job({ replicas: 129 }), rejected: openApi('spec.replicas') },
  {
    name: 'a job with negative GPUs',
    object: job({ resources: { gpus: -1 } }),
    rejected: cel('spec.resources.gpus', 'spec.resources.gpus must be at least 1 (whole GPUs per replica)'),
  },
  {
    name: 'a job with an empty image',
    object: job({ image: '' }),
    rejected: cel('spec.image', 'spec.image must be a non-empty image reference without whitespace'),
  },
  {
    name: 'a job whose image has a space',
    object: job({ image: 'trainer latest' }),
    rejected: cel('spec.image', 'spec.image must be a non-empty image reference without whitespace'),
  },
  { name: 'a job without an image', object: withRaw(job(), 'spec.image', undefined), rejected: openApi('spec.image') },
  { name: 'a job without payment (the funding gate applies only to jobs that pay)', object: withRaw(job(), 'spec.payment', undefined) },
  { name: 'a payment without maxAmount', object: withRaw(job(), 'spec.payment.maxAmount', undefined), rejected: openApi('spec.payment.maxAmount') },
  { name: 'a job with an unknown field', object: withRaw(job(), 'spec.gpuCount', 8), rejected: openApi('spec.gpuCount') },
  {
    name: 'a job with an empty product list',
    object: job({ gpu: { products: [] } }),
    rejected: cel('spec.gpu', 'spec.gpu.products must not be empty: leave it out to accept any product'),
  },
  {
    name: 'a job with an empty product name',
    object: job({ gpu: { products: [''] } }),
    rejected: cel('spec.gpu.products[0]', 'spec.gpu.products[] must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3'),
  },
  {
    name: 'a job with a compute capability without a minor version',
    object: job({ gpu: { minComputeCapability: '8' } }),
    rejected: cel('spec.gpu.minComputeCapability', 'spec.gpu.minComputeCapability must be major.minor, e.g. "8.0"'),
  },
  {
    name: 'a job with an input whose CID is not a CID',
    object: job({ inputs: [{ name: 'data', cid: 'Qm123', mountPath: '/data' }] }),
    rejected: cel('spec.inputs[0].cid', CID_MESSAGE),
  },
  {
    name: 'a job with an input whose CIDv1 is in base58btc (the operator parses it)',
    object: job({ inputs: [{ name: 'data', cid: 'zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7', mountPath: '/data' }] }),
  },
  {
    name: 'a job with an input whose CIDv1 is in base36 (the operator parses it)',
    object: job({ inputs: [{ name: 'data', cid: 'k2jmtxw8rjh1z69c6not3wtdxb0u1urbzkyzqj4p89n2tn3msrbu0dao', mountPath: '/data' }] }),
  },
  {
    name: 'a job with an input whose CID is upper-case base32 (the operator does not parse it)',
    object: job({ inputs: [{ name: 'data', cid: CID_V1.toUpperCase(), mountPath: '/data' }] }),
    rejected: cel('spec.inputs[0].cid', CID_MESSAGE),
  },
  {
    name: 'a job with an input mounted at /',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/' }] }),
    rejected: cel('spec.inputs[0].mountPath', RESERVED('spec.inputs[].mountPath')),
  },
  {
    name: 'a job with an input mounted under /proc',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/proc/self' }] }),
    rejected: cel('spec.inputs[0].mountPath', RESERVED('spec.inputs[].mountPath')),
  },
  {
    name: 'a job with an input mounted at /etc',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/etc' }] }),
    rejected: cel('spec.inputs[0].mountPath', RESERVED('spec.inputs[].mountPath')),
  },
  {
    name: 'a job with an input mounted through ..',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/a/../../etc' }] }),
    rejected: cel('spec.inputs[0].mountPath', NORMALIZED('spec.inputs[].mountPath')),
  },
  {
    name: 'a job with an input mount path ending in /',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/data/' }] }),
    rejected: cel('spec.inputs[0].mountPath', NORMALIZED('spec.inputs[].mountPath')),
  },
  { name: 'a job with an /etcetera mount path (not under /etc)', object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/etcetera' }] }) },
  { name: 'a job with its output under /sys', object: job({ output: { path: '/sys/out' } }), rejected: cel('spec.output.path', RESERVED('spec.output.path')) },
  {
    name: 'a job whose checkpoint marker is a path, not a file name',
    object: job({ checkpoint: { path: '/ckpt', marker: '../done' } }),
    rejected: openApi('spec.checkpoint.marker'),
  },
  {
    name: 'a job with its checkpoint path under /dev',
    object: job({ checkpoint: { path: '/dev/shm/ckpt' } }),
    rejected: cel('spec.checkpoint.path', RESERVED('spec.checkpoint.path')),
  },
  {
    name: 'a job with an input mounted over its output',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/out' }], output: { path: '/out' } }),
    rejected: cel('spec', 'spec.inputs[].mountPath must not overlap spec.output.path: they need separate directories'),
  },
  {
    name: 'a job with an input mounted inside its output',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/flotilla/output/data' }] }),
    rejected: cel('spec', 'spec.inputs[].mountPath must not overlap spec.output.path: they need separate directories'),
  },
  {
    name: 'a job checkpointing into its output',
    object: job({ output: { path: '/work' }, checkpoint: { path: '/work/ckpt' } }),
    rejected: cel('spec', 'spec.checkpoint.path must not overlap spec.output.path: they need separate directories'),
  },
  {
    name: 'a job with an input mounted over its checkpoints',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/ckpt' }], checkpoint: { path: '/ckpt' } }),
    rejected: cel('spec', 'spec.inputs[].mountPath must not overlap spec.checkpoint.path: they need separate directories'),
  },
  {
    name: 'a job with an input on a relative mount path',
    object: job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: 'data' }] }),
    rejected: cel('spec.inputs[0].mountPath', "spec.inputs[].mountPath must be an absolute path without ':'"),
  },
  {
    name: 'a job with an input named with capitals',
    object: job({ inputs: [{ name: 'Data', cid: CID_V1, mountPath: '/data' }] }),
    rejected: cel('spec.inputs[0].name', "spec.inputs[].name must be a DNS label: lower-case letters, digits and '-'"),
  },
  {
    name: 'a job with two inputs of one name',
    object: job({
      inputs: [
        { name: 'd', cid: CID_V1, mountPath: '/a' },
        { name: 'd', cid: CID_V0, mountPath: '/b' },
      ],
    }),
    rejected: openApi('spec.inputs[1]'),
  },
  {
    name: 'a job with two inputs on one mount path',
    object: job({
      inputs: [
        { name: 'a', cid: CID_V1, mountPath: '/d' },
        { name: 'b', cid: CID_V0, mountPath: '/d' },
      ],
    }),
    rejected: cel('spec.inputs', 'spec.inputs[].mountPath values must be unique'),
  },
  {
    name: 'a job with a negative amount',
    object: job({ payment: { token: 'USDC', maxAmount: '-5' } }),
    rejected: cel('spec.payment.maxAmount', POSITIVE_AMOUNT('spec.payment.maxAmount')),
  },
  {
    name: 'a job with a zero amount',
    object: job({ payment: { token: 'USDC', maxAmount: '0.00' } }),
    rejected: cel('spec.payment.maxAmount', POSITIVE_AMOUNT('spec.payment.maxAmount')),
  },
  {
    name: 'a job with an amount in exponent notation',
    object: job({ payment: { token: 'USDC', maxAmount: '1e3' } }),
    rejected: cel('spec.payment.maxAmount', POSITIVE_AMOUNT('spec.payment.maxAmount')),
  },
  { name: 'a job with an amount as a number', object: withRaw(job(), 'spec.payment.maxAmount', 250), rejected: openApi('spec.payment.maxAmount') },
  {
    name: 'a job with a price of 19 decimals',
    object: job({ payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.1234567890123456789' } }),
    rejected: cel('spec.payment.maxPricePerGpuHour', POSITIVE_AMOUNT('spec.payment.maxPricePerGpuHour')),
  },
  {
    name: 'a job with a lower-case token symbol',
    object: job({ payment: { token: 'usdc', maxAmount: '1' } }),
    rejected: cel('spec.payment.token', TOKEN_MESSAGE),
  },
  {
    name: 'a job with a token address one digit short',
    object: job({ payment: { token: '0x5FbDB2315678afecb367f032d93F642f64180aa', maxAmount: '1' } }),
    rejected: cel('spec.payment.token', TOKEN_MESSAGE),
  },
  {
    name: 'a job with a provider both allowed and denied',
    object: job({ placement: { allowedProviders: ['a', 'b'], deniedProviders: ['b'] } }),
    rejected: cel('spec.placement', 'spec.placement: a provider cannot be both allowed and denied'),
  },
  {
    name: 'a job denying a provider name with capitals',
    object: job({ placement: { deniedProviders: ['Provider-A'] } }),
    rejected: cel('spec.placement.deniedProviders[0]', "spec.placement.deniedProviders[] must be a DNS subdomain: lower-case letters, digits, '-' and '.'"),
  },
  { name: 'a job asking for a reputation above 1', object: job({ placement: { minReputation: 1.5 } }), rejected: openApi('spec.placement.minReputation') },
  {
    name: 'a job with an unknown recovery strategy',
    object: withRaw(job(), 'spec.recovery', { strategy: 'Random' }),
    rejected: openApi('spec.recovery.strategy'),
  },
  { name: 'a job with more than 100 restarts', object: job({ recovery: { maxRestarts: 101 } }), rejected: openApi('spec.recovery.maxRestarts') },
  {
    name: 'a job with a checkpoint interval without a unit',
    object: job({ checkpoint: { path: '/c', every: '600' } }),
    rejected: cel('spec.checkpoint.every', 'spec.checkpoint.every must be a duration of at least 30s, e.g. "10m" or "1h30m"'),
  },
  {
    name: 'a job with a checkpoint interval below 30s',
    object: job({ checkpoint: { path: '/c', every: '10s' } }),
    rejected: cel('spec.checkpoint.every', 'spec.checkpoint.every must be a duration of at least 30s, e.g. "10m" or "1h30m"'),
  },
  {
    name: 'a job with a checkpoint interval in milliseconds (the operator parses none)',
    object: job({ checkpoint: { path: '/c', every: '1m500ms' } }),
    rejected: cel('spec.checkpoint.every', EVERY),
  },
  { name: 'a job with a checkpoint interval of 1h30m', object: job({ checkpoint: { path: '/c', every: '1h30m' } }) },
  { name: 'a job with a checkpoint without a path', object: withRaw(job(), 'spec.checkpoint', { every: '10m' }), rejected: openApi('spec.checkpoint.path') },
  {
    name: 'a job whose deadline is not a time',
    object: job({ deadline: 'tomorrow' }),
    rejected: cel('spec.deadline', 'spec.deadline must be an RFC 3339 time, e.g. "2026-12-31T00:00:00Z"'),
  },
  {
    name: 'a job whose deadline is a list (kube-apiserver lets one through format date-time)',
    object: withRaw(job(), 'spec.deadline', ['2026-12-31T00:00:00Z']),
    rejected: openApi('spec.deadline'),
  },
  { name: 'a job whose deadline is 31 February', object: job({ deadline: '2026-02-31T00:00:00Z' }), rejected: cel('spec.deadline', DEADLINE) },
  { name: 'a job whose deadline is 31 April', object: job({ deadline: '2026-04-31T12:00:00Z' }), rejected: cel('spec.deadline', DEADLINE) },
  { name: 'a job whose deadline is 29 February of a leap year', object: job({ deadline: '2028-02-29T00:00:00+01:00' }) },
  {
    name: 'a job whose deadline has month 13',
    object: job({ deadline: '2026-13-01T00:00:00Z' }),
    rejected: cel('spec.deadline', 'spec.deadline must be an RFC 3339 time, e.g. "2026-12-31T00:00:00Z"'),
  },
  {
    name: 'a job calling back over ftp',
    object: job({ callbackURL: 'ftp://example.org/x' }),
    rejected: cel('spec.callbackURL', 'spec.callbackURL must be an absolute http or https URL'),
  },
  {
    name: 'a job with a relative callback',
    object: job({ callbackURL: 'hooks/done' }),
    rejected: cel('spec.callbackURL', 'spec.callbackURL must be an absolute http or https URL'),
  },
  {
    name: 'a job with a pod annotation under flotilla.dev/',
    object: job({ podAnnotations: { 'flotilla.dev/attempt': '7' } }),
    rejected: cel('spec.podAnnotations', 'spec.podAnnotations: keys under flotilla.dev/ are reserved for the operator'),
  },
  {
    name: 'a job with an image whose path has capitals',
    object: job({ image: 'ghcr.io/Example/Trainer:1' }),
    rejected: cel('spec.image', 'spec.image must be an image reference: registry/name[:tag][@algorithm:digest], with a lower-case name'),
  },
  { name: 'a job with an image with a tag and a digest', object: job({ image: `localhost:5000/team/trainer:1@sha256:${'a'.repeat(64)}` }) },
  {
    name: 'a job with an image whose digest is short',
    object: job({ image: 'ghcr.io/example/trainer@sha256:abc' }),
    rejected: cel('spec.image', 'spec.image must be an image reference: registry/name[:tag][@algorithm:digest], with a lower-case name'),
  },
  {
    name: 'a job asking for more CPU than any node has',
    object: job({ resources: { cpu: 2000 } }),
    rejected: cel('spec.resources.cpu', 'spec.resources.cpu must be at most 1024'),
  },
  {
    name: 'a job asking for more memory than any node has',
    object: job({ resources: { memory: '100Ti' } }),
    rejected: cel('spec.resources.memory', 'spec.resources.memory must be at most 16Ti'),
  },
  {
    name: 'a job setting LD_PRELOAD',
    object: job({ env: [{ name: 'LD_PRELOAD', value: '/tmp/x.so' }] }),
    rejected: cel('spec.env[0].name', "spec.env[].name: LD_* and DYLD_* variables (the dynamic loader's, e.g. LD_PRELOAD) may not be set"),
  },
  {
    name: 'a job setting DYLD_INSERT_LIBRARIES',
    object: job({ env: [{ name: 'DYLD_INSERT_LIBRARIES', value: '/tmp/x.dylib' }] }),
    rejected: cel('spec.env[0].name', "spec.env[].name: LD_* and DYLD_* variables (the dynamic loader's, e.g. LD_PRELOAD) may not be set"),
  },
  { name: 'a job with a negative cpu', object: job({ resources: { cpu: '-1' } }), rejected: cel('spec.resources.cpu', QUANTITY('spec.resources.cpu')) },
  { name: 'a job with zero memory', object: job({ resources: { memory: 0 } }), rejected: cel('spec.resources.memory', QUANTITY('spec.resources.memory')) },
  {
    name: 'a job whose memory is not a quantity',
    object: job({ resources: { memory: 'lots' } }),
    rejected: cel('spec.resources.memory', QUANTITY('spec.resources.memory')),
  },
  { name: 'a job with a /dev/shm within its memory', object: job({ resources: { memory: '16Gi', shmSize: '16Gi' } }) },
  { name: 'a job with a /dev/shm and no memory stated', object: job({ resources: { shmSize: '64Gi' } }) },
  {
    name: 'a job with a /dev/shm larger than its memory',
    object: job({ resources: { memory: '4Gi', shmSize: '8Gi' } }),
    rejected: cel('spec.resources', "spec.resources.shmSize must not exceed spec.resources.memory: /dev/shm is counted against the replica's memory"),
  },
  {
    name: 'a job with a /dev/shm over 1Ti',
    object: job({ resources: { shmSize: '2Ti' } }),
    rejected: cel('spec.resources.shmSize', 'spec.resources.shmSize must be at most 1Ti'),
  },
  {
    name: 'a job with a zero /dev/shm',
    object: job({ resources: { shmSize: 0 } }),
    rejected: cel('spec.resources.shmSize', QUANTITY('spec.resources.shmSize')),
  },
  {
    name: 'a job with an env name starting with a digit',
    object: job({ env: [{ name: '1X', value: 'y' }] }),
    rejected: cel('spec.env[0].name', "spec.env[].name must consist of letters, digits, '_', '-' and '.', and not start with a digit"),
  },
  {
    name: 'a job with an env name the operator reserves',
    object: job({ env: [{ name: 'FLOTILLA_OUTPUT', value: 'y' }] }),
    rejected: cel('spec.env[0].name', 'spec.env[].name: the FLOTILLA_ prefix is reserved for variables the operator sets'),
  },
  {
    name: 'a job with an env var both literal and from a Secret',
    object: job({ env: [{ name: 'TOKEN', value: 'x', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }] }),
    rejected: cel('spec.env[0]', 'spec.env[]: set value or valueFrom, not both'),
  },
  {
    name: 'a job with an env var from a Secret whose name is not a DNS subdomain',
    object: job({ env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'HF_Creds', key: 'token' } } }] }),
    rejected: cel(
      'spec.env[0].valueFrom.secretKeyRef.name',
      "spec.env[].valueFrom.secretKeyRef.name must be a DNS subdomain: lower-case letters, digits, '-' and '.'",
    ),
  },
  {
    name: 'a job with an env var from a Secret key with a slash',
    object: job({ env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'a/b' } } }] }),
    rejected: cel('spec.env[0].valueFrom.secretKeyRef.key', "spec.env[].valueFrom.secretKeyRef.key must consist of letters, digits, '-', '_' and '.'"),
  },
  {
    name: 'a job with an env var from a Secret without a key',
    object: withRaw(
      job({ env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }] }),
      'spec.env.0.valueFrom.secretKeyRef.key',
      undefined,
    ),
    rejected: openApi('spec.env[0].valueFrom.secretKeyRef.key'),
  },
  {
    name: 'a job with an image pull Secret whose name is not a DNS subdomain',
    object: job({ imagePullSecrets: [{ name: 'Reg_Cred' }] }),
    rejected: cel('spec.imagePullSecrets[0].name', "spec.imagePullSecrets[].name must be a DNS subdomain: lower-case letters, digits, '-' and '.'"),
  },
  {
    name: 'a job with nine image pull Secrets',
    object: job({ imagePullSecrets: Array.from({ length: 9 }, (_, i) => ({ name: `r${i}` })) }),
    rejected: openApi('spec.imagePullSecrets'),
  },
  {
    name: 'a job whose name is 49 characters',
    object: job({}, 'a'.repeat(49)),
    rejected: cel('', 'metadata.name must be at most 48 characters, so the pod names of every attempt and replica stay valid'),
  },

  {
    name: 'an update changing the image',
    old: oldJob,
    object: update({ image: 'ghcr.io/example/trainer:2' }),
    rejected: cel('spec', 'spec.image is immutable'),
  },
  { name: 'an update removing the inputs', old: oldJob, object: job({}, 'existing'), rejected: cel('spec', 'spec.inputs is immutable') },
  {
    name: 'an update raising the amount',
    old: oldJob,
    object: update({ payment: { token: 'USDC', maxAmount: '300' } }),
    rejected: cel('spec', 'spec.payment is immutable'),
  },
  { name: 'an update adding GPUs per replica', old: oldJob, object: update({ resources: { gpus: 2 } }), rejected: cel('spec', 'spec.resources is immutable') },
  { name: 'an update denying a provider', old: oldJob, object: update({ placement: { deniedProviders: ['provider-c'] } }) },
  { name: 'an update raising the restart limit', old: oldJob, object: update({ recovery: { maxRestarts: 5 } }) },
  { name: 'an update writing out a default (replicas: 1)', old: oldJob, object: update({ replicas: 1 }) },
];

export const gpuProviderAdmissionCases: readonly AdmissionCase[] = [
  { name: 'a provider with a secret, an address and one price', object: provider() },
  {
    name: 'a provider using every field',
    object: provider(
      {
        namespace: 'gpu-lending',
        region: 'eu-west',
        prices: [
          { gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.80' },
          { gpuProduct: 'NVIDIA-A100-SXM4-40GB-MIG-1g.5gb', pricePerGpuHour: '0.35' },
        ],
        maxGpus: 64,
        cordoned: true,
        priorityClassName: 'low',
        ipfsGateway: 'http://127.0.0.1:8080',
        ipfsApi: 'http://127.0.0.1:5001',
      },
      'full',
    ),
  },
  { name: 'a provider lending no GPUs at the moment (maxGpus 0)', object: provider({ maxGpus: 0 }) },

  {
    name: 'a provider whose payout address is not hex',
    object: provider({ payoutAddress: '0xZZ997970C51812dc3A010C7d01b50e0d17dc79C8' }),
    rejected: cel('spec.payoutAddress', 'spec.payoutAddress must be an EVM address: 0x followed by 40 hex digits'),
  },
  {
    name: 'a provider paid at the zero address',
    object: provider({ payoutAddress: '0x0000000000000000000000000000000000000000' }),
    rejected: cel('spec.payoutAddress', 'spec.payoutAddress must not be the zero address'),
  },
  {
    name: 'a provider without prices',
    object: provider({ prices: [] }),
    rejected: cel('spec.prices', 'spec.prices must list the price of at least one GPU product'),
  },
  {
    name: 'a provider with two prices for one product',
    object: provider({
      prices: [
        { gpuProduct: 'X', pricePerGpuHour: '1' },
        { gpuProduct: 'X', pricePerGpuHour: '2' },
      ],
    }),
    rejected: openApi('spec.prices[1]'),
  },
  {
    name: 'a provider lending a GPU for free',
    object: provider({ prices: [{ gpuProduct: 'X', pricePerGpuHour: '0' }] }),
    rejected: cel('spec.prices[0].pricePerGpuHour', POSITIVE_AMOUNT('spec.prices[].pricePerGpuHour')),
  },
  {
    name: 'a provider pricing a product that is not a label value',
    object: provider({ prices: [{ gpuProduct: 'NVIDIA H100', pricePerGpuHour: '1' }] }),
    rejected: cel('spec.prices[0].gpuProduct', 'spec.prices[].gpuProduct must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3'),
  },
  {
    name: 'a provider whose secret reference lacks a namespace',
    object: withRaw(provider(), 'spec.kubeconfigSecretRef', { name: 's' }),
    rejected: openApi('spec.kubeconfigSecretRef.namespace'),
  },
  {
    name: 'a provider whose secret key has a slash',
    object: provider({ kubeconfigSecretRef: { name: 's', namespace: 'n', key: 'a/b' } }),
    rejected: cel('spec.kubeconfigSecretRef.key', "spec.kubeconfigSecretRef.key must be a Secret data key: letters, digits, '-', '_' and '.'"),
  },
  {
    name: 'a provider whose workload namespace has capitals',
    object: provider({ namespace: 'Workloads' }),
    rejected: cel('spec.namespace', "spec.namespace must be a DNS label: lower-case letters, digits and '-'"),
  },
  {
    name: 'a provider with an empty region',
    object: provider({ region: '' }),
    rejected: cel('spec.region', 'spec.region must be a non-empty label value, e.g. eu-west'),
  },
  { name: 'a provider with a negative GPU cap', object: provider({ maxGpus: -1 }), rejected: openApi('spec.maxGpus') },
  {
    name: 'a provider whose gateway is not a URL',
    object: provider({ ipfsGateway: 'gateway.local' }),
    rejected: cel('spec.ipfsGateway', 'spec.ipfsGateway must be an absolute http or https URL'),
  },
  {
    name: "a provider whose agents' IPFS API is not a URL",
    object: provider({ ipfsApi: 'kubo:5001' }),
    rejected: cel('spec.ipfsApi', 'spec.ipfsApi must be an absolute http or https URL'),
  },
  { name: 'a provider with an unknown field', object: withRaw(provider(), 'spec.kubeconfig', 'inline'), rejected: openApi('spec.kubeconfig') },
];
