// Example AIJobs through the schema's defaulting, OpenAPI and CEL validation (local-validation
// approximates the apiserver; the integration suite repeats the important cases against a real one).
import { aiJobCrd } from './crds.ts';
import { admit } from './local-validation/admission.ts';
import type { AIJob, AIJobManifest, AIJobSpecInput } from './types.ts';

const schema = aiJobCrd.spec.versions[0]?.schema.openAPIV3Schema ?? {};

const CID_V1 = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const CID_V0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';

function job(spec: Partial<AIJobSpecInput> = {}, name = 'train'): AIJobManifest {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name, namespace: 'research' },
    spec: { image: 'ghcr.io/example/trainer:1', payment: { token: 'USDC', maxAmount: '250' }, ...spec },
  };
}

/** Sets a value at a dotted path of a copy of the manifest, for values the types would refuse. */
function withRaw(manifest: AIJobManifest, path: string, value: unknown): unknown {
  const copy = structuredClone(manifest) as unknown as Record<string, unknown>;
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
  const last = parts.at(-1) ?? '';
  if (value === undefined) delete at[last]; else at[last] = value;
  return copy;
}

const messages = (obj: unknown, old?: unknown): string[] => admit(schema, obj, old).errors.map((e) => `${e.path}: ${e.message}`);

const fullJob = job({
  command: ['python', 'train.py'],
  args: ['--epochs', '3'],
  env: [{ name: 'WANDB_MODE', value: 'offline' }],
  replicas: 2,
  resources: { gpus: 8, cpu: 32, memory: '256Gi' },
  gpu: { products: ['NVIDIA-H100-80GB-HBM3'], minMemoryMiB: 80000, minComputeCapability: '9.0' },
  inputs: [{ name: 'dataset', cid: CID_V1, mountPath: '/data' }, { name: 'script', cid: CID_V0, mountPath: '/src' }],
  output: { path: '/out', pin: false },
  checkpoint: { path: '/ckpt', every: '15m' },
  payment: { token: '0x5FbDB2315678afecb367f032d93F642f64180aa3', maxAmount: '250.5', maxPricePerGpuHour: '3.20' },
  placement: { allowedProviders: ['provider-a', 'provider-b'], deniedProviders: ['provider-c'], regions: ['eu-west'], minReputation: 0.9 },
  recovery: { maxRestarts: 0, strategy: 'SameProviderFirst' },
  deadline: '2026-12-31T00:00:00Z',
  callbackURL: 'https://example.org/hooks/flotilla',
  podAnnotations: { 'sim.flotilla.dev/run-seconds': '30', 'sim.flotilla.dev/outcome': 'Succeeded' },
});

describe('AIJob admission', () => {
  it('a job with only image and payment is accepted and gets every default', () => {
    const { object, errors } = admit(schema, job());
    expect(errors).toEqual([]);
    const stored = object as AIJob;
    expect(stored.spec.replicas).toBe(1);
    expect(stored.spec.resources).toEqual({ gpus: 1 });
    expect(stored.spec.output).toEqual({ path: '/flotilla/output', pin: true });
    expect(stored.spec.recovery).toEqual({ maxRestarts: 3, strategy: 'Failover' });
  });

  it('a checkpoint without an interval gets every: 10m', () => {
    const { object } = admit(schema, job({ checkpoint: { path: '/ckpt' } }));
    expect((object as AIJob).spec.checkpoint).toEqual({ path: '/ckpt', every: '10m' });
  });

  it.each<[string, unknown]>([
    ['a job using every field', fullJob],
    ['a job whose cpu is a string quantity and memory an integer', job({ resources: { cpu: '500m', memory: 1073741824 } })],
    ['a job with a GPU memory floor but no product list', job({ gpu: { minMemoryMiB: 40000 } })],
    ['a job whose name is 48 characters', job({}, 'a'.repeat(48))],
    ['a job paying a fraction of a token', job({ payment: { token: 'DAI', maxAmount: '0.000001' } })],
    ['a job calling back over plain http', job({ callbackURL: 'http://hooks.internal:8080/done' })],
  ])('%s is accepted', (_, manifest) => {
    expect(messages(manifest)).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['replicas 0', withRaw(job(), 'spec.replicas', 0), 'spec.replicas: spec.replicas must be at least 1'],
    ['more replicas than a gang may have', job({ replicas: 129 }), 'spec.replicas: should be less than or equal to 128'],
    ['negative GPUs', job({ resources: { gpus: -1 } }), 'spec.resources.gpus: spec.resources.gpus must be at least 1 (whole GPUs per replica)'],
    ['an empty image', job({ image: '' }), 'spec.image: spec.image must be a non-empty image reference without whitespace'],
    ['an image with a space', job({ image: 'trainer latest' }), 'spec.image: spec.image must be a non-empty image reference without whitespace'],
    ['no image', withRaw(job(), 'spec.image', undefined), 'spec.image: Required value'],
    ['no payment', withRaw(job(), 'spec.payment', undefined), 'spec.payment: Required value'],
    ['an unknown field', withRaw(job(), 'spec.gpuCount', 8), 'spec.gpuCount: unknown field "spec.gpuCount"'],
    ['an empty product list', job({ gpu: { products: [] } }), 'spec.gpu: spec.gpu.products must not be empty: leave it out to accept any product'],
    ['an empty product name', job({ gpu: { products: [''] } }), 'spec.gpu.products[0]: spec.gpu.products[] must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3'],
    ['a compute capability without a minor version', job({ gpu: { minComputeCapability: '8' } }), 'spec.gpu.minComputeCapability: spec.gpu.minComputeCapability must be major.minor, e.g. "8.0"'],
    ['an input whose CID is not a CID', job({ inputs: [{ name: 'data', cid: 'Qm123', mountPath: '/data' }] }), 'spec.inputs[0].cid: spec.inputs[].cid must be an IPFS CID: v0 (Qm…, 46 characters) or v1 in base32 (b…)'],
    ['an input whose CIDv1 is not base32', job({ inputs: [{ name: 'data', cid: 'zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7', mountPath: '/data' }] }), 'spec.inputs[0].cid: spec.inputs[].cid must be an IPFS CID: v0 (Qm…, 46 characters) or v1 in base32 (b…)'],
    ['an input with a relative mount path', job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: 'data' }] }), 'spec.inputs[0].mountPath: spec.inputs[].mountPath must be an absolute path without \':\''],
    ['an input named with capitals', job({ inputs: [{ name: 'Data', cid: CID_V1, mountPath: '/data' }] }), 'spec.inputs[0].name: spec.inputs[].name must be a DNS label: lower-case letters, digits and \'-\''],
    ['two inputs with the same name', job({ inputs: [{ name: 'd', cid: CID_V1, mountPath: '/a' }, { name: 'd', cid: CID_V0, mountPath: '/b' }] }), 'spec.inputs[1]: Duplicate value: ["d"]'],
    ['two inputs on one mount path', job({ inputs: [{ name: 'a', cid: CID_V1, mountPath: '/d' }, { name: 'b', cid: CID_V0, mountPath: '/d' }] }), 'spec.inputs: spec.inputs[].mountPath values must be unique'],
    ['a negative amount', job({ payment: { token: 'USDC', maxAmount: '-5' } }), 'spec.payment.maxAmount: spec.payment.maxAmount must be a positive decimal number of token units as a string, e.g. "250" or "0.75"'],
    ['a zero amount', job({ payment: { token: 'USDC', maxAmount: '0.00' } }), 'spec.payment.maxAmount: spec.payment.maxAmount must be a positive decimal number of token units as a string, e.g. "250" or "0.75"'],
    ['an amount in exponent notation', job({ payment: { token: 'USDC', maxAmount: '1e3' } }), 'spec.payment.maxAmount: spec.payment.maxAmount must be a positive decimal number of token units as a string, e.g. "250" or "0.75"'],
    ['an amount as a number', withRaw(job(), 'spec.payment.maxAmount', 250), 'spec.payment.maxAmount: Invalid value: must be of type string'],
    ['a price with 19 decimals', job({ payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.1234567890123456789' } }), 'spec.payment.maxPricePerGpuHour: spec.payment.maxPricePerGpuHour must be a positive decimal number of token units as a string, e.g. "250" or "0.75"'],
    ['a lower-case token symbol', job({ payment: { token: 'usdc', maxAmount: '1' } }), 'spec.payment.token: spec.payment.token must be a token symbol such as USDC or DAI, or a 0x contract address'],
    ['a token address one digit short', job({ payment: { token: '0x5FbDB2315678afecb367f032d93F642f64180aa', maxAmount: '1' } }), 'spec.payment.token: spec.payment.token must be a token symbol such as USDC or DAI, or a 0x contract address'],
    ['a provider both allowed and denied', job({ placement: { allowedProviders: ['a', 'b'], deniedProviders: ['b'] } }), 'spec.placement: spec.placement: a provider cannot be both allowed and denied'],
    ['a provider name with capitals', job({ placement: { deniedProviders: ['Provider-A'] } }), 'spec.placement.deniedProviders[0]: spec.placement.deniedProviders[] must be a DNS subdomain: lower-case letters, digits, \'-\' and \'.\''],
    ['a reputation above 1', job({ placement: { minReputation: 1.5 } }), 'spec.placement.minReputation: should be less than or equal to 1'],
    ['an unknown recovery strategy', withRaw(job(), 'spec.recovery', { strategy: 'Random' }), 'spec.recovery.strategy: Unsupported value: supported values: Failover, SameProviderFirst'],
    ['more than 100 restarts', job({ recovery: { maxRestarts: 101 } }), 'spec.recovery.maxRestarts: should be less than or equal to 100'],
    ['a checkpoint interval without a unit', job({ checkpoint: { path: '/c', every: '600' } }), 'spec.checkpoint.every: spec.checkpoint.every must be a duration of at least 30s, e.g. "10m" or "1h30m"'],
    ['a checkpoint interval below 30s', job({ checkpoint: { path: '/c', every: '10s' } }), 'spec.checkpoint.every: spec.checkpoint.every must be a duration of at least 30s, e.g. "10m" or "1h30m"'],
    ['a checkpoint without a path', withRaw(job(), 'spec.checkpoint', { every: '10m' }), 'spec.checkpoint.path: Required value'],
    ['a deadline that is not a time', job({ deadline: 'tomorrow' }), 'spec.deadline: should be a date-time (RFC 3339)'],
    ['an ftp callback', job({ callbackURL: 'ftp://example.org/x' }), 'spec.callbackURL: spec.callbackURL must be an absolute http or https URL'],
    ['a relative callback', job({ callbackURL: 'hooks/done' }), 'spec.callbackURL: spec.callbackURL must be an absolute http or https URL'],
    ['a pod annotation under flotilla.dev/', job({ podAnnotations: { 'flotilla.dev/attempt': '7' } }), 'spec.podAnnotations: spec.podAnnotations: keys under flotilla.dev/ are reserved for the operator'],
    ['a negative cpu', job({ resources: { cpu: '-1' } }), 'spec.resources.cpu: spec.resources.cpu must be a positive quantity, e.g. 4, "500m" or "16Gi"'],
    ['zero memory', job({ resources: { memory: 0 } }), 'spec.resources.memory: spec.resources.memory must be a positive quantity, e.g. 4, "500m" or "16Gi"'],
    ['a memory that is not a quantity', job({ resources: { memory: 'lots' } }), 'spec.resources.memory: spec.resources.memory must be a positive quantity, e.g. 4, "500m" or "16Gi"'],
    ['an env name starting with a digit', job({ env: [{ name: '1X', value: 'y' }] }), 'spec.env[0].name: spec.env[].name must consist of letters, digits, \'_\', \'-\' and \'.\', and not start with a digit'],
    ['an env name the operator reserves', job({ env: [{ name: 'FLOTILLA_OUTPUT', value: 'y' }] }), 'spec.env[0].name: spec.env[].name: the FLOTILLA_ prefix is reserved for variables the operator sets'],
    ['a job name of 49 characters', job({}, 'a'.repeat(49)), ': metadata.name must be at most 48 characters, so the pod names of every attempt and replica stay valid'],
  ])('%s is rejected with a message naming the field', (_, manifest, expected) => {
    expect(messages(manifest)).toEqual([expected]);
  });

  it('a value of the wrong type is reported alone: CEL rules are not evaluated', () => {
    expect(messages(withRaw(job({ image: '' }), 'spec.replicas', 'two'))).toEqual(['spec.replicas: Invalid value: must be of type integer']);
  });
});

describe('AIJob updates', () => {
  const old = job({ inputs: [{ name: 'data', cid: CID_V1, mountPath: '/data' }] });

  it.each<[string, unknown, string]>([
    ['changing the image', job({ image: 'ghcr.io/example/trainer:2', inputs: old.spec.inputs ?? [] }), 'spec: spec.image is immutable'],
    ['removing the inputs', job(), 'spec: spec.inputs is immutable'],
    ['raising the amount', job({ inputs: old.spec.inputs ?? [], payment: { token: 'USDC', maxAmount: '300' } }), 'spec: spec.payment is immutable'],
    ['adding GPUs per replica', job({ inputs: old.spec.inputs ?? [], resources: { gpus: 2 } }), 'spec: spec.resources is immutable'],
  ])('%s of an existing job is rejected', (_, updated, expected) => {
    expect(messages(updated, old)).toEqual([expected]);
  });

  it.each<[string, unknown]>([
    ['denying a provider', job({ inputs: old.spec.inputs ?? [], placement: { deniedProviders: ['provider-c'] } })],
    ['raising the restart limit', job({ inputs: old.spec.inputs ?? [], recovery: { maxRestarts: 5 } })],
    ['writing out a default (replicas: 1)', job({ inputs: old.spec.inputs ?? [], replicas: 1 })],
  ])('%s of an existing job is allowed', (_, updated) => {
    expect(messages(updated, old)).toEqual([]);
  });
});
