// The cloud GPU pools (EKS node group, GKE node pool, each with the NVIDIA GPU Operator) under
// Pulumi's mocks: the resources they declare, and the order the engine would create them in —
// node pool ─▶ GPU Operator release ─▶ pool.ready ─▶ provider chart ─▶ … ─▶ GPUProvider. The order
// is read from what the engine receives (each registration's parent and dependency URNs), not from
// the components' fields. No cloud, cluster or Pulumi engine is involved.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import * as yaml from 'js-yaml';
import ts from 'typescript';
import { recordingMocks } from '../support/pulumi-mocks.ts';

/** One registration as the engine receives it. */
interface Wired {
  urn: string;
  parent: string;
  dependencies: string[];
}
const wired = new Map<string, Wired>();
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nprovider CA\n-----END CERTIFICATE-----\n').toString('base64');

const declared = await recordingMocks();

// Registrations and reads both carry the parent and the dependencies the engine orders creation by.
interface Request {
  getParent(): string;
  getDependenciesList(): string[];
}
type Callback = (err: unknown, response?: { getUrn(): string }) => void;
const monitor = pulumi.runtime.getMonitor() as unknown as Record<'registerResource' | 'readResource', (req: Request, cb: Callback) => unknown>;
for (const method of ['registerResource', 'readResource'] as const) {
  const original = monitor[method].bind(monitor);
  monitor[method] = (req, cb) =>
    original(req, (err, response) => {
      if (response) wired.set(response.getUrn(), { urn: response.getUrn(), parent: req.getParent(), dependencies: req.getDependenciesList() });
      cb(err, response);
    });
}

// The token controller's wait is the one I/O outside the engine (as in pulumi.test.ts).
jest.unstable_mockModule('../../pulumi/token.ts', () => ({ waitForServiceAccountToken: async () => ({ token: 'lent-token', caData: CA }) }));
const { FlotillaProvider, NvidiaGpuOperator, GPU_OPERATOR_VERSION } = await import('../../pulumi/index.ts');
const { EksGpuNodePool } = await import('../../pulumi/eks-pool.ts');
const { GkeGpuNodePool } = await import('../../pulumi/gke-pool.ts');
const k8s = await import('@pulumi/kubernetes');

const resolved = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
const one = (type: string, name: string) => {
  const found = declared.filter((d) => d.type === type && d.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const urnOf = (r: pulumi.Resource) => resolved(r.urn);
/** The same resources, by identity (a deep comparison of resources says nothing). */
const expectSame = (actual: readonly pulumi.Resource[], expected: readonly pulumi.Resource[]) => {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((r, i) => expect(actual[i]).toBe(r));
};
/** Every URN `urn` waits for, directly or through what it waits for. */
const waitsFor = (urn: string): Set<string> => {
  const seen = new Set<string>();
  const next = [urn];
  while (next.length > 0) for (const dep of wired.get(next.pop()!)?.dependencies ?? []) if (!seen.has(dep) && seen.add(dep)) next.push(dep);
  return seen;
};
const kubeconfig = (server: string) =>
  yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'admin',
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': CA } }],
    contexts: [{ name: 'admin', context: { cluster: 'c', user: 'admin' } }],
    users: [{ name: 'admin', user: { token: 'admin' } }],
  });

const H100 = { product: 'NVIDIA-H100-80GB-HBM3', gpusPerNode: 8, gpuMemoryMiB: 81559, family: 'hopper', compute: '9.0' };
const L4 = { product: 'NVIDIA-L4', gpusPerNode: 1, gpuMemoryMiB: 23034, family: 'ada-lovelace', compute: '8.9' };
const A100 = { product: 'NVIDIA-A100-SXM4-40GB', gpusPerNode: 4, gpuMemoryMiB: 40960, family: 'ampere', compute: '8.0' };
const eksNetwork = {
  clusterName: 'acme-eks',
  nodeRoleArn: 'arn:aws:iam::123456789012:role/acme-gpu-nodes',
  subnetIds: ['subnet-0a1', 'subnet-0b2'],
  region: 'us-east',
};

// Provider "acme" on EKS: an H100 group that installs the GPU Operator, and an L4 group on spot
// capacity that joins it (one operator per cluster).
const eksCluster = new k8s.Provider('acme-eks', { kubeconfig: kubeconfig('https://acme.eks.example:443') });
const h100 = new EksGpuNodePool('acme-h100', {
  ...eksNetwork,
  poolName: 'h100',
  instanceType: 'p5.48xlarge',
  nodes: 2,
  shape: H100,
  pricePerGpuHour: '2.40',
  kubernetes: eksCluster,
});
const l4 = new EksGpuNodePool('acme-l4', {
  ...eksNetwork,
  poolName: 'l4',
  instanceType: 'g6.2xlarge',
  nodes: 3,
  shape: L4,
  pricePerGpuHour: '0.45',
  capacityType: 'SPOT',
  diskSizeGiB: 100,
  gpuOperator: h100.gpuOperator,
});
// Provider "globex" on GKE: A100s in one zone of a regional cluster, driver version pinned by value.
const gkeCluster = new k8s.Provider('globex-gke', { kubeconfig: kubeconfig('https://globex.gke.example:443') });
const a100 = new GkeGpuNodePool('globex-a100', {
  poolName: 'a100',
  cluster: 'globex-gke',
  location: 'us-central1',
  zones: ['us-central1-c'],
  machineType: 'a2-highgpu-4g',
  acceleratorType: 'nvidia-tesla-a100',
  nodes: 3,
  shape: A100,
  region: 'us-central',
  pricePerGpuHour: '1.20',
  spot: true,
  kubernetes: gkeCluster,
  gpuOperatorValues: { driver: { version: '580.95.05' } },
});

const hub = new k8s.Provider('hub', { kubeconfig: 'hub-kubeconfig' });
const acme = new FlotillaProvider('acme', {
  providerName: 'acme',
  kubeconfig: kubeconfig('https://acme.eks.example:443'),
  hub,
  region: 'us-east',
  payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  capacity: [h100, l4],
});
const globex = new FlotillaProvider('globex', {
  providerName: 'globex',
  kubeconfig: kubeconfig('https://globex.gke.example:443'),
  hub,
  region: 'us-central',
  payoutAddress: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  capacity: [a100],
});

beforeAll(async () => {
  await Promise.all([acme, globex].flatMap((p) => [urnOf(p.gpuProvider), urnOf(p.kubeconfigSecret)]));
  await settle();
});

describe('EksGpuNodePool', () => {
  test('declares a fixed-size managed node group of NVIDIA-AMI GPU instances, tainted and labelled', () => {
    const group = one('aws:eks/nodeGroup:NodeGroup', 'acme-h100-nodes');
    expect(group.inputs).toEqual({
      clusterName: 'acme-eks',
      nodeGroupName: 'h100',
      nodeRoleArn: 'arn:aws:iam::123456789012:role/acme-gpu-nodes',
      subnetIds: ['subnet-0a1', 'subnet-0b2'],
      instanceTypes: ['p5.48xlarge'],
      amiType: 'AL2023_x86_64_NVIDIA',
      capacityType: 'ON_DEMAND',
      diskSize: 200,
      // Scaling is a `pulumi up` that changes `nodes`: nothing else resizes the group.
      scalingConfig: { desiredSize: 2, minSize: 2, maxSize: 2 },
      updateConfig: { maxUnavailable: 1 },
      labels: { 'flotilla.dev/node-pool': 'h100' },
      taints: [{ key: 'nvidia.com/gpu', effect: 'NO_SCHEDULE' }],
    });
    expect(one('aws:eks/nodeGroup:NodeGroup', 'acme-l4-nodes').inputs).toMatchObject({
      instanceTypes: ['g6.2xlarge'],
      capacityType: 'SPOT',
      diskSize: 100,
      scalingConfig: { desiredSize: 3, minSize: 3, maxSize: 3 },
    });
  });

  test('installs the GPU Operator for the preinstalled driver: device plugin and GFD, no driver or toolkit', () => {
    const release = one('kubernetes:helm.sh/v3:Release', 'acme-h100-gpu-operator');
    expect(release.provider).toContain('acme-eks');
    expect(release.inputs).toMatchObject({
      name: 'gpu-operator',
      chart: 'gpu-operator',
      version: GPU_OPERATOR_VERSION,
      repositoryOpts: { repo: 'https://helm.ngc.nvidia.com/nvidia' },
      namespace: 'gpu-operator',
    });
    expect(release.inputs.values).toEqual({
      devicePlugin: { enabled: true },
      gfd: { enabled: true },
      nfd: { enabled: true },
      driver: { enabled: false },
      toolkit: { enabled: false },
    });
    expect(GPU_OPERATOR_VERSION).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(one('kubernetes:core/v1:Namespace', 'acme-h100-gpu-operator-namespace').inputs).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'gpu-operator', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
    });
    // EKS admits node-critical pods in any namespace: no quota for them.
    expect(declared.filter((d) => d.type === 'kubernetes:core/v1:ResourceQuota' && d.name.startsWith('acme-'))).toEqual([]);
  });

  test('the operator release waits for the node group and lives inside the pool; ready is both', async () => {
    const [pool, operator, release, group, namespace] = await Promise.all(
      [h100, h100.gpuOperator, h100.gpuOperator.release, h100.nodeGroup, h100.gpuOperator.namespace].map(urnOf),
    );
    expect(wired.get(release!)!.dependencies).toEqual(expect.arrayContaining([group, namespace]));
    expect(wired.get(release!)!.parent).toBe(operator);
    expect(wired.get(operator!)!.parent).toBe(pool);
    expect(wired.get(group!)!.parent).toBe(pool);
    expectSame(h100.ready, [h100.nodeGroup, h100.gpuOperator.release]);
    expect(h100.gpus).toBe(16);
  });

  test('a second pool of the cluster joins the first one’s operator instead of installing another', () => {
    expect(l4.gpuOperator).toBe(h100.gpuOperator);
    expectSame(l4.ready, [l4.nodeGroup, h100.gpuOperator.release]);
    expect(declared.filter((d) => d.type === 'kubernetes:helm.sh/v3:Release' && d.name.startsWith('acme-l4'))).toEqual([]);
    expect(l4.gpus).toBe(3);
  });

  test('refuses a group EKS cannot make and an operator of another cloud, declaring nothing', async () => {
    const base = { ...eksNetwork, poolName: 'bad', instanceType: 'p5.48xlarge', shape: H100, pricePerGpuHour: '2.40', kubernetes: eksCluster };
    expect(() => new EksGpuNodePool('bad-zero', { ...base, nodes: 0 })).toThrow('nodes must be a whole number ≥ 1, got 0');
    expect(() => new EksGpuNodePool('bad-half', { ...base, nodes: 1.5 })).toThrow('got 1.5');
    expect(() => new EksGpuNodePool('bad-shape', { ...base, nodes: 1, shape: { ...H100, gpusPerNode: 0 } })).toThrow('gpusPerNode must be');
    const { kubernetes: _, ...noCluster } = base;
    expect(() => new EksGpuNodePool('bad-share', { ...noCluster, nodes: 1, gpuOperator: a100.gpuOperator })).toThrow(
      'pool bad: a eks pool cannot share a GPU Operator installed for gke',
    );
    await settle();
    expect(declared.filter((d) => d.name.startsWith('bad-'))).toEqual([]);
  });
});

describe('GkeGpuNodePool', () => {
  test('declares a node pool with the GPUs attached, GKE’s driver and device plugin off, Ubuntu nodes', () => {
    const pool = one('gcp:container/nodePool:NodePool', 'globex-a100-nodes');
    expect(pool.inputs).toEqual({
      name: 'a100',
      cluster: 'globex-gke',
      location: 'us-central1',
      nodeLocations: ['us-central1-c'],
      nodeCount: 3,
      nodeConfig: {
        machineType: 'a2-highgpu-4g',
        imageType: 'UBUNTU_CONTAINERD',
        guestAccelerators: [{ type: 'nvidia-tesla-a100', count: 4, gpuDriverInstallationConfig: { gpuDriverVersion: 'INSTALLATION_DISABLED' } }],
        labels: { 'flotilla.dev/node-pool': 'a100', 'gke-no-default-nvidia-gpu-device-plugin': 'true' },
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
        spot: true,
      },
      management: { autoRepair: true },
      upgradeSettings: { maxSurge: 0, maxUnavailable: 1 },
    });
  });

  test('installs the GPU Operator with the driver and toolkit, user values merged in', () => {
    const release = one('kubernetes:helm.sh/v3:Release', 'globex-a100-gpu-operator');
    expect(release.provider).toContain('globex-gke');
    expect(release.inputs).toMatchObject({
      chart: 'gpu-operator',
      version: GPU_OPERATOR_VERSION,
      repositoryOpts: { repo: 'https://helm.ngc.nvidia.com/nvidia' },
    });
    expect(release.inputs.values).toEqual({
      devicePlugin: { enabled: true },
      gfd: { enabled: true },
      nfd: { enabled: true },
      driver: { enabled: true, version: '580.95.05' },
      toolkit: { enabled: true, env: [{ name: 'RUNTIME_CONFIG_SOURCE', value: 'file' }] },
    });
  });

  test('admits the operator’s node-critical pods in its namespace before the release', async () => {
    const quota = one('kubernetes:core/v1:ResourceQuota', 'globex-a100-gpu-operator-critical-pods');
    expect(quota.provider).toContain('globex-gke');
    expect(quota.inputs).toEqual({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'gpu-operator-quota', namespace: 'gpu-operator' },
      spec: {
        hard: { pods: '100' },
        scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['system-node-critical', 'system-cluster-critical'] }] },
      },
    });
    const [release, quotaUrn, nodePool] = await Promise.all([a100.gpuOperator.release, a100.gpuOperator.criticalPodsQuota!, a100.nodePool].map(urnOf));
    expect(wired.get(release!)!.dependencies).toEqual(expect.arrayContaining([quotaUrn, nodePool]));
    expectSame(a100.ready, [a100.nodePool, a100.gpuOperator.release]);
  });

  test('counts the GPUs of every zone and refuses a regional pool whose zones it cannot count', () => {
    expect(a100.gpus).toBe(12);
    const base = {
      poolName: 'z',
      cluster: 'globex-gke',
      machineType: 'a3-highgpu-8g',
      acceleratorType: 'nvidia-h100-80gb',
      nodes: 2,
      shape: H100,
      region: 'us-central',
      pricePerGpuHour: '2.40',
      kubernetes: gkeCluster,
    };
    expect(new GkeGpuNodePool('two-zones', { ...base, location: 'us-central1', zones: ['us-central1-a', 'us-central1-b'] }).gpus).toBe(32);
    expect(new GkeGpuNodePool('zonal', { ...base, location: 'us-central1-a' }).gpus).toBe(16);
    expect(() => new GkeGpuNodePool('regional', { ...base, location: 'us-central1' })).toThrow('us-central1 is a region');
    expect(() => new GkeGpuNodePool('no-zones', { ...base, location: 'us-central1', zones: [] })).toThrow('must name at least one zone');
  });
});

describe('FlotillaProvider given cloud pools', () => {
  test('lends nodes × GPUs per node summed over its pools, at their prices', () => {
    const acmeChart = one('kubernetes:helm.sh/v3:Release', 'acme-chart');
    expect(acmeChart.inputs.values).toMatchObject({
      lentGpus: 2 * 8 + 3 * 1,
      provider: { name: 'acme', prices: { 'NVIDIA-H100-80GB-HBM3': '2.40', 'NVIDIA-L4': '0.45' } },
    });
    const acmeSpec = one('kubernetes:flotilla.dev/v1alpha1:GPUProvider', 'acme-gpuprovider').inputs.spec as Record<string, unknown>;
    expect(acmeSpec.maxGpus).toBe(19);
    expect(acmeSpec.prices).toEqual([
      { gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.40' },
      { gpuProduct: 'NVIDIA-L4', pricePerGpuHour: '0.45' },
    ]);
    const globexChart = one('kubernetes:helm.sh/v3:Release', 'globex-chart');
    expect(globexChart.inputs.values).toMatchObject({ lentGpus: 12, provider: { prices: { 'NVIDIA-A100-SXM4-40GB': '1.20' } } });
    expect((one('kubernetes:flotilla.dev/v1alpha1:GPUProvider', 'globex-gpuprovider').inputs.spec as Record<string, unknown>).maxGpus).toBe(12);
  });

  test('installs the provider chart only after every pool is ready, and registers with the hub after that', async () => {
    const [chart, gpuProvider, kubeconfigSecret, ...ready] = await Promise.all(
      [acme.release, acme.gpuProvider, acme.kubeconfigSecret, ...h100.ready, ...l4.ready].map(urnOf),
    );
    expect(wired.get(chart!)!.dependencies).toEqual(expect.arrayContaining(ready));
    // The hub learns of the provider only through the chart's token: after the pools, transitively.
    for (const later of [kubeconfigSecret!, gpuProvider!]) expect([...waitsFor(later)]).toEqual(expect.arrayContaining([chart, ...ready]));
    // The node groups themselves wait for nothing of Flotilla's.
    for (const group of [h100.nodeGroup, l4.nodeGroup]) expect(wired.get(await urnOf(group))!.dependencies).toEqual([]);

    const [globexChart, globexGpuProvider, nodePool, operator] = await Promise.all(
      [globex.release, globex.gpuProvider, a100.nodePool, a100.gpuOperator.release].map(urnOf),
    );
    expect(wired.get(globexChart!)!.dependencies).toEqual(expect.arrayContaining([nodePool, operator]));
    expect([...waitsFor(globexGpuProvider!)]).toEqual(expect.arrayContaining([globexChart, nodePool, operator]));
  });
});

describe('NvidiaGpuOperator', () => {
  test('takes an overriding chart version and namespace', async () => {
    const operator = new NvidiaGpuOperator('pinned', { kubernetes: eksCluster, variant: 'eks', nodePools: [], version: 'v25.3.4', namespace: 'nvidia' });
    await urnOf(operator.release);
    await settle();
    expect(one('kubernetes:helm.sh/v3:Release', 'pinned').inputs).toMatchObject({ version: 'v25.3.4', namespace: 'nvidia' });
    expect(one('kubernetes:core/v1:Namespace', 'pinned-namespace').inputs).toMatchObject({ metadata: { name: 'nvidia' } });
  });
});

describe('flotilla-pulumi entry points', () => {
  const pulumiDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../pulumi');
  /** The packages a module and the repository modules it imports load, by static import. */
  const packagesLoadedBy = (entry: string): Set<string> => {
    const packages = new Set<string>();
    const seen = new Set<string>();
    const next = [entry];
    while (next.length > 0) {
      const file = next.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
        if (fileName.startsWith('.')) next.push(resolve(dirname(file), fileName));
        else
          packages.add(
            fileName
              .split('/')
              .slice(0, fileName.startsWith('@') ? 2 : 1)
              .join('/'),
          );
      }
    }
    return packages;
  };

  test('the main entry loads neither @pulumi/aws nor @pulumi/gcp; /eks and /gke load theirs', () => {
    const main = packagesLoadedBy(join(pulumiDir, 'index.ts'));
    expect(main).toContain('@pulumi/kubernetes');
    expect(main).not.toContain('@pulumi/aws');
    expect(main).not.toContain('@pulumi/gcp');
    expect(packagesLoadedBy(join(pulumiDir, 'eks-pool.ts'))).toContain('@pulumi/aws');
    expect(packagesLoadedBy(join(pulumiDir, 'gke-pool.ts'))).toContain('@pulumi/gcp');
  });

  test('pulumi/package.json maps the subpaths to the compiled pools and asks for the clouds as optional peers', () => {
    const manifest = JSON.parse(readFileSync(join(pulumiDir, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(manifest.exports['./eks']).toEqual({ types: './dist/pulumi/eks-pool.d.ts', default: './dist/pulumi/eks-pool.js' });
    expect(manifest.exports['./gke']).toEqual({ types: './dist/pulumi/gke-pool.d.ts', default: './dist/pulumi/gke-pool.js' });
    for (const cloud of ['@pulumi/aws', '@pulumi/gcp']) {
      expect(manifest.peerDependencies[cloud]).toBeDefined();
      expect(manifest.peerDependenciesMeta[cloud]).toEqual({ optional: true });
    }
  });
});
