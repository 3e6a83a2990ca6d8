// Example GPUProviders through the schema's defaulting, OpenAPI and CEL validation.
import { gpuProviderCrd } from './crds.ts';
import { admit } from './local-validation/admission.ts';
import type { GPUProvider, GPUProviderManifest, GPUProviderSpecInput } from './types.ts';

const schema = gpuProviderCrd.spec.versions[0]?.schema.openAPIV3Schema ?? {};

function provider(spec: Partial<GPUProviderSpecInput> = {}): GPUProviderManifest {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'GPUProvider',
    metadata: { name: 'provider-a' },
    spec: {
      kubeconfigSecretRef: { name: 'provider-a-kubeconfig', namespace: 'flotilla-system' },
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.80' }],
      ...spec,
    },
  };
}

const messages = (obj: unknown): string[] => admit(schema, obj).errors.map((e) => `${e.path}: ${e.message}`);

describe('GPUProvider admission', () => {
  it('a provider with a secret, an address and one price is accepted and gets every default', () => {
    const { object, errors } = admit(schema, provider());
    expect(errors).toEqual([]);
    const stored = object as GPUProvider;
    expect(stored.spec.namespace).toBe('flotilla-workloads');
    expect(stored.spec.priorityClassName).toBe('flotilla-lent');
    expect(stored.spec.kubeconfigSecretRef.key).toBe('kubeconfig');
    expect(stored.spec.cordoned).toBe(false);
  });

  it.each<[string, unknown]>([
    ['a provider using every field', provider({
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
    })],
    ['a provider lending no GPUs at the moment (maxGpus 0)', provider({ maxGpus: 0 })],
  ])('%s is accepted', (_, manifest) => {
    expect(messages(manifest)).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['a payout address that is not hex', provider({ payoutAddress: '0xZZ997970C51812dc3A010C7d01b50e0d17dc79C8' }), 'spec.payoutAddress: spec.payoutAddress must be an EVM address: 0x followed by 40 hex digits'],
    ['the zero payout address', provider({ payoutAddress: '0x0000000000000000000000000000000000000000' }), 'spec.payoutAddress: spec.payoutAddress must not be the zero address'],
    ['no prices', provider({ prices: [] }), 'spec.prices: spec.prices must list the price of at least one GPU product'],
    ['two prices for one product', provider({ prices: [{ gpuProduct: 'X', pricePerGpuHour: '1' }, { gpuProduct: 'X', pricePerGpuHour: '2' }] }), 'spec.prices[1]: Duplicate value: ["X"]'],
    ['a free GPU', provider({ prices: [{ gpuProduct: 'X', pricePerGpuHour: '0' }] }), 'spec.prices[0].pricePerGpuHour: spec.prices[].pricePerGpuHour must be a positive decimal number of token units as a string, e.g. "250" or "0.75"'],
    ['a product that is not a label value', provider({ prices: [{ gpuProduct: 'NVIDIA H100', pricePerGpuHour: '1' }] }), 'spec.prices[0].gpuProduct: spec.prices[].gpuProduct must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3'],
    ['a secret reference without a namespace', provider({ kubeconfigSecretRef: { name: 's' } as GPUProviderSpecInput['kubeconfigSecretRef'] }), 'spec.kubeconfigSecretRef.namespace: Required value'],
    ['a secret key with a slash', provider({ kubeconfigSecretRef: { name: 's', namespace: 'n', key: 'a/b' } }), 'spec.kubeconfigSecretRef.key: spec.kubeconfigSecretRef.key must be a Secret data key: letters, digits, \'-\', \'_\' and \'.\''],
    ['a workload namespace with capitals', provider({ namespace: 'Workloads' }), 'spec.namespace: spec.namespace must be a DNS label: lower-case letters, digits and \'-\''],
    ['an empty region', provider({ region: '' }), 'spec.region: spec.region must be a non-empty label value, e.g. eu-west'],
    ['a negative GPU cap', provider({ maxGpus: -1 }), 'spec.maxGpus: should be greater than or equal to 0'],
    ['a gateway that is not a URL', provider({ ipfsGateway: 'gateway.local' }), 'spec.ipfsGateway: spec.ipfsGateway must be an absolute http or https URL'],
    ['an unknown field', { ...provider(), spec: { ...provider().spec, kubeconfig: 'inline' } }, 'spec.kubeconfig: unknown field "spec.kubeconfig"'],
  ])('%s is rejected with a message naming the field', (_, manifest, expected) => {
    expect(messages(manifest)).toEqual([expected]);
  });
});
