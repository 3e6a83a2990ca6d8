// The Pulumi components under Pulumi's mocks: which resources they declare, with which inputs,
// and how the provider chart's token becomes the hub's kubeconfig Secret and GPUProvider. The real
// engine runs them in test/pulumi/capacity.test.ts; the charts themselves are installed for real by
// charts.test.ts and provider-rbac.test.ts.
import { jest } from '@jest/globals';
import type * as pulumi from '@pulumi/pulumi';
import * as yaml from 'js-yaml';
import { recordingMocks } from '../support/pulumi-mocks.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.lent-token';
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nprovider CA\n-----END CERTIFICATE-----\n').toString('base64');

const declared = await recordingMocks();

// The one I/O the components do outside the engine: waiting for the token controller (real in
// test/pulumi/capacity.test.ts). Here it records what it was asked to wait for.
const tokenWaits: unknown[][] = [];
jest.unstable_mockModule('../../pulumi/token.ts', () => ({
  waitForServiceAccountToken: async (...args: unknown[]) => {
    tokenWaits.push(args);
    return { token: TOKEN, caData: CA };
  },
}));
const { FlotillaHub, FlotillaProvider } = await import('../../pulumi/index.ts');
const k8s = await import('@pulumi/kubernetes');

const resolved = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
const ofType = (type: string) => declared.filter((d) => d.type === type);
const PROVIDER_KUBECONFIG = yaml.dump({
  apiVersion: 'v1',
  kind: 'Config',
  'current-context': 'admin',
  clusters: [{ name: 'a', cluster: { server: 'https://10.0.0.7:6443', 'certificate-authority-data': CA } }],
  contexts: [{ name: 'admin', context: { cluster: 'a', user: 'admin' } }],
  users: [{ name: 'admin', user: { token: 'admin-token-never-leaves' } }],
});

describe('FlotillaHub', () => {
  test('installs charts/flotilla with the provider Secret names as the only readable Secrets', async () => {
    const hub = new FlotillaHub('flotilla', { providerSecretNames: ['provider-a-kubeconfig'], values: { operator: { workers: 8 } } });
    expect(await resolved(hub.namespace)).toBe('flotilla-system');
    await settle();
    const release = ofType('kubernetes:helm.sh/v3:Release').find((d) => d.name === 'flotilla')!;
    expect(release.inputs).toMatchObject({
      chart: expect.stringMatching(/\/charts\/flotilla$/),
      namespace: 'flotilla-system',
      createNamespace: true,
      values: { providerSecretNames: ['provider-a-kubeconfig'], operator: { workers: 8 } },
    });
  });
});

describe('FlotillaProvider', () => {
  const hubCluster = new k8s.Provider('hub', { kubeconfig: 'hub-kubeconfig' });
  const onboarded = new FlotillaProvider('provider-a', {
    providerName: 'provider-a',
    kubeconfig: PROVIDER_KUBECONFIG,
    hub: hubCluster,
    lentGpus: 4,
    region: 'us-east',
    payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    prices: { 'NVIDIA-H100-80GB-HBM3': '2.40' },
    // Isolation values pass through; the component's own keys win over a conflicting one.
    values: { networkPolicy: { ipfs: { cidrs: ['10.0.0.5/32'], ports: [8080] } }, lentGpus: 99 },
  });

  beforeAll(async () => {
    await resolved(onboarded.gpuProvider.urn);
    await resolved(onboarded.kubeconfigSecret.urn);
    await settle();
  });

  test('installs the provider chart through a provider-cluster k8s Provider', () => {
    const cluster = ofType('pulumi:providers:kubernetes').find((d) => d.name === 'provider-a-cluster')!;
    expect(cluster.inputs.kubeconfig).toBe(PROVIDER_KUBECONFIG);
    const release = ofType('kubernetes:helm.sh/v3:Release').find((d) => d.name === 'provider-a-chart')!;
    expect(release.provider).toContain('provider-a-cluster');
    expect(release.inputs).toMatchObject({
      chart: expect.stringMatching(/\/charts\/flotilla-provider$/),
      values: {
        namespace: { name: 'flotilla-workloads', create: true },
        serviceAccount: { name: 'flotilla-hub' },
        priorityClass: { name: 'flotilla-lent', value: -100 },
        lentGpus: 4,
        provider: { name: 'provider-a', region: 'us-east', prices: { 'NVIDIA-H100-80GB-HBM3': '2.40' } },
        networkPolicy: { ipfs: { cidrs: ['10.0.0.5/32'], ports: [8080] } },
      },
    });
  });

  test("reads the chart's token Secret back from the provider cluster once the token controller filled it", () => {
    expect(tokenWaits).toContainEqual([PROVIDER_KUBECONFIG, 'flotilla-workloads', 'flotilla-hub-token', { timeoutMs: 120_000 }]);
    // A plain API read, not a Pulumi read resource: nothing of the token lands in the stack's state but the hub Secret.
    expect(ofType('kubernetes:core/v1:Secret').map((d) => d.name)).toEqual(['provider-a-kubeconfig']);
  });

  // Same naming as federation/register.ts: provider-<GPUProvider name>-kubeconfig.
  test('stores a token kubeconfig (never the admin one) as a Secret in the hub', () => {
    const secret = ofType('kubernetes:core/v1:Secret').find((d) => d.name === 'provider-a-kubeconfig')!;
    expect(secret.provider).toContain('hub');
    expect(secret.inputs).toMatchObject({ metadata: { name: 'provider-provider-a-kubeconfig', namespace: 'flotilla-system' }, type: 'Opaque' });
    // Marked secret: Pulumi encrypts it in state (the mock sees the secret signature and the value).
    const stringData = secret.inputs.stringData as { '4dabf18193072939515e22adb298388d': string; value: { kubeconfig: string } };
    expect(stringData['4dabf18193072939515e22adb298388d']).toBe('1b47061264138c4ac30d75fd1eb44270');
    const text = stringData.value.kubeconfig;
    expect(text).not.toContain('admin-token-never-leaves');
    expect(yaml.load(text)).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'provider',
      clusters: [{ name: 'provider', cluster: { server: 'https://10.0.0.7:6443', 'certificate-authority-data': CA } }],
      users: [{ name: 'flotilla-hub', user: { token: TOKEN } }],
      contexts: [{ name: 'provider', context: { cluster: 'provider', user: 'flotilla-hub', namespace: 'flotilla-workloads' } }],
    });
  });

  test('creates the GPUProvider in the hub, referring to that Secret', () => {
    const gp = ofType('kubernetes:flotilla.dev/v1alpha1:GPUProvider').find((d) => d.name === 'provider-a-gpuprovider')!;
    expect(gp.provider).toContain('hub');
    expect(gp.inputs).toEqual({
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'GPUProvider',
      metadata: { name: 'provider-a' },
      spec: {
        kubeconfigSecretRef: { name: 'provider-provider-a-kubeconfig', namespace: 'flotilla-system', key: 'kubeconfig' },
        namespace: 'flotilla-workloads',
        region: 'us-east',
        payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.40' }],
        priorityClassName: 'flotilla-lent',
        // lentGpus, the chart's GPU quota, is the hub's placement cap too.
        maxGpus: 4,
      },
    });
  });
});

describe('examples/pulumi', () => {
  test('onboards every provider of the local federation to the hub', async () => {
    const { federation } = await import('../support/federation.ts');
    const program = await import('../../examples/pulumi/index.ts');
    const names = await Promise.all(program.gpuProviders.map((n) => resolved(n)));
    await settle();
    expect(names.sort()).toEqual(
      federation()
        .providers.map((p) => p.name)
        .sort(),
    );
    const hubRelease = declared.filter((d) => d.type === 'kubernetes:helm.sh/v3:Release' && d.name === 'flotilla').at(-1)!;
    expect((hubRelease.inputs.values as { providerSecretNames: string[] }).providerSecretNames.sort()).toEqual(
      federation()
        .providers.map((p) => `provider-${p.name}-kubeconfig`)
        .sort(),
    );
  });
});
