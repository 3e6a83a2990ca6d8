// The GPUProvider controller against the real local federation: it runs in this process against the
// hub, connects to the real provider apiservers, and writes real GPUProvider status. The registered
// providers (provider-a/b/c) are only read; every broken or proxied provider is one of our own,
// with a unique name, deleted afterwards.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { CustomObjectsApi, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { API_VERSION, GPUPROVIDER, GROUP, LABEL_JOB_UID, VERSION } from '../../operator/api/group.ts';
import type { Condition, GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import { startProviderConnections } from '../../operator/controllers/gpuprovider-controller.ts';
import type { ProviderConnections } from '../../operator/controllers/gpuprovider-controller.ts';
import { placeJob } from '../../operator/core/placement/place-job.ts';
import { aJob } from '../support/placement-fixtures.ts';
import type { ProviderConnection } from '../../operator/providers/connection.ts';
import { RateLimitedKubeConfig } from '../../operator/runtime/rate-limited-kubeconfig.ts';
import { clusterClients, federation, gpuPod, uniqueName } from '../support/federation.ts';

const H100 = 'NVIDIA-H100-80GB-HBM3';
const LOCAL_FEDERATION_POLICY = { allowInsecure: true, hubRanges: [] };
const SECRET_NAMESPACE = 'flotilla-system';
const WORKLOADS = 'flotilla-workloads';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const kubeconfigText = (cluster: string) => {
  const ep = federation();
  const file = cluster === 'hub' ? ep.hub.kubeconfig : ep.providers.find((p) => p.name === cluster)?.kubeconfig;
  if (!file) throw new Error(`no cluster ${cluster}`);
  return readFileSync(file, 'utf8');
};

interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  [key: string]: unknown;
}

/** provider-a's kubeconfig with one change. */
function providerAKubeconfig(change: (doc: KubeconfigDoc) => void): string {
  const doc = yaml.load(kubeconfigText('provider-a')) as KubeconfigDoc;
  change(doc);
  return yaml.dump(doc);
}

const clusterOf = (doc: KubeconfigDoc) => {
  const c = doc.clusters[0];
  if (!c) throw new Error('kubeconfig without clusters');
  return c.cluster;
};
const userOf = (doc: KubeconfigDoc) => {
  const u = doc.users[0];
  if (!u) throw new Error('kubeconfig without users');
  return u;
};

async function getProvider(name: string): Promise<GPUProvider | undefined> {
  try {
    return (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name })) as GPUProvider;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

const conditionOf = (gp: GPUProvider | undefined, type: string): Condition | undefined => gp?.status?.conditions?.find((c) => c.type === type);

/** Polls the hub until the GPUProvider satisfies `done`; fails with its last status. */
async function waitForProvider(name: string, done: (gp: GPUProvider) => boolean, timeoutMs = 30_000): Promise<GPUProvider> {
  const deadline = Date.now() + timeoutMs;
  let last: GPUProvider | undefined;
  while (Date.now() < deadline) {
    last = await getProvider(name);
    if (last && done(last)) return last;
    await sleep(100);
  }
  throw new Error(`GPUProvider ${name} did not reach the expected state; status: ${JSON.stringify(last?.status)}`);
}

const hasCondition = (type: string, status: string, reason?: string) => (gp: GPUProvider) => {
  const c = conditionOf(gp, type);
  return c?.status === status && (reason === undefined || c.reason === reason) && c.observedGeneration === gp.metadata.generation;
};

// ── our own GPUProviders and Secrets, always cleaned up ──────────────────────────────────────────

const created: { providers: Set<string>; secrets: Set<string> } = { providers: new Set(), secrets: new Set() };

async function putSecret(name: string, data: Record<string, string>): Promise<void> {
  const body = { metadata: { name, namespace: SECRET_NAMESPACE, labels: { 'flotilla.dev/test': 'providers' } }, stringData: data };
  created.secrets.add(name);
  await hub.core.createNamespacedSecret({ namespace: SECRET_NAMESPACE, body }).catch(async (err: { code?: number }) => {
    if (err.code !== 409) throw err;
    await hub.core.replaceNamespacedSecret({ name, namespace: SECRET_NAMESPACE, body });
  });
}

async function createProvider(name: string, secretName: string, extra: Partial<GPUProviderManifest['spec']> = {}): Promise<void> {
  const body: GPUProviderManifest = {
    apiVersion: API_VERSION,
    kind: GPUPROVIDER.kind,
    metadata: { name, labels: { 'flotilla.dev/test': 'providers' } },
    spec: {
      kubeconfigSecretRef: { name: secretName, namespace: SECRET_NAMESPACE, key: 'kubeconfig' },
      namespace: WORKLOADS,
      region: 'test',
      payoutAddress: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
      // Far above every real price, so jobs of suites running beside this one never land here.
      prices: [{ gpuProduct: H100, pricePerGpuHour: '9999' }],
      ...extra,
    },
  };
  created.providers.add(name);
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body });
}

async function mergePatch(name: string, body: object): Promise<void> {
  await custom.patchClusterCustomObject(
    { group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function deleteProvider(name: string): Promise<void> {
  await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }).catch(() => undefined);
  created.providers.delete(name);
}

async function cleanup(): Promise<void> {
  await Promise.all([...created.providers].map(deleteProvider));
  await Promise.all([...created.secrets].map((name) => hub.core.deleteNamespacedSecret({ name, namespace: SECRET_NAMESPACE }).catch(() => undefined)));
  created.secrets.clear();
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ── the controller under test ────────────────────────────────────────────────────────────────────

let controller: ProviderConnections;
const logs: string[] = [];

beforeAll(() => {
  controller = startProviderConnections({
    hub: hub.kc,
    rateLimit: { qps: 20, burst: 40 },
    // The local federation's providers listen on 127.0.0.1 (docs/local-federation.md).
    kubeconfigPolicy: LOCAL_FEDERATION_POLICY,
    // Quick retries so an outage and its end show within the test's patience.
    informerBackoff: { initialMs: 200, maxMs: 2_000 },
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
  });
});

afterAll(async () => {
  controller?.stop();
  await cleanup();
});

const expectedInventory: Record<string, { product: string; memoryMiB: number; nodes: number; allocatable: number }[]> = {
  'provider-a': [{ product: H100, memoryMiB: 81559, nodes: 2, allocatable: 16 }],
  'provider-b': [
    { product: 'NVIDIA-A100-SXM4-40GB', memoryMiB: 40960, nodes: 2, allocatable: 8 },
    { product: 'NVIDIA-L4', memoryMiB: 23034, nodes: 2, allocatable: 2 },
  ],
  'provider-c': [
    { product: 'NVIDIA-A100-SXM4-80GB', memoryMiB: 81920, nodes: 1, allocatable: 6 },
    { product: 'NVIDIA-A100-SXM4-80GB-MIG-3g.40gb', memoryMiB: 40192, nodes: 1, allocatable: 4 },
    { product: H100, memoryMiB: 81559, nodes: 1, allocatable: 8 },
    { product: 'NVIDIA-L4-SHARED', memoryMiB: 23034, nodes: 1, allocatable: 4 },
  ],
};

describe('GPUProvider controller on the local federation', () => {
  it.each(Object.entries(expectedInventory))('%s becomes Reachable and Ready with an inventory matching its KWOK nodes', async (name, inventory) => {
    const gp = await waitForProvider(
      name,
      (p) => hasCondition('Reachable', 'True', 'Connected')(p) && hasCondition('Ready', 'True', 'Ready')(p) && controller.registry.get(name)?.synced === true,
    );
    expect(gp.status?.inventory?.map(({ free: _free, ...rest }) => rest)).toEqual(inventory);
    for (const entry of gp.status?.inventory ?? []) expect(entry.free).toBeLessThanOrEqual(entry.allocatable ?? 0);
    expect(gp.status?.allocatableGpus).toBe(inventory.reduce((s, e) => s + e.allocatable, 0));
    // This controller's own view agrees, and placement sees the provider as usable.
    const snapshot = controller.registry.snapshots(6).find((s) => s.name === name);
    expect(snapshot).toMatchObject({ ready: true, cordoned: false });
    expect(snapshot?.nodes.map((n) => n.name)).toEqual(
      federation()
        .providers.find((p) => p.name === name)
        ?.nodes.slice()
        .sort(),
    );
  });

  it('a provider with a broken Secret shows Ready=False with the reason, and placement avoids it', async () => {
    const suffix = uniqueName('gp').slice(3);
    const refused = await closedPort();
    // A real ServiceAccount of provider-a with no RBAC: it authenticates, and may do nothing.
    const providerA = clusterClients('provider-a');
    const saName = `flotilla-test-${suffix}`;
    await providerA.core.createNamespacedServiceAccount({ namespace: WORKLOADS, body: { metadata: { name: saName } } });
    try {
      const token =
        (
          await providerA.core.createNamespacedServiceAccountToken({
            name: saName,
            namespace: WORKLOADS,
            body: { spec: { audiences: [], expirationSeconds: 600 } },
          })
        ).status?.token ?? '';
      const caOfB = clusterOf(yaml.load(kubeconfigText('provider-b')) as KubeconfigDoc)['certificate-authority-data'];
      const cases: { name: string; secret?: Record<string, string>; reason: string; message: RegExp }[] = [
        {
          name: `broken-nosecret-${suffix}`,
          reason: 'SecretNotFound',
          message: new RegExp(`Secret ${SECRET_NAMESPACE}/broken-nosecret-${suffix}-kubeconfig not found`),
        },
        { name: `broken-nokey-${suffix}`, secret: { config: 'x' }, reason: 'SecretKeyMissing', message: /has no key "kubeconfig".*it has "config"/ },
        { name: `broken-garbage-${suffix}`, secret: { kubeconfig: 'garbage: [' }, reason: 'KubeconfigInvalid', message: /does not parse/ },
        {
          name: `broken-ca-${suffix}`,
          secret: {
            kubeconfig: providerAKubeconfig((d) => {
              clusterOf(d)['certificate-authority-data'] = caOfB;
            }),
          },
          reason: 'CertificateInvalid',
          message: /^TLS verification of https:\/\/127\.0\.0\.1:\d+ failed: .*certificate/,
        },
        {
          name: `broken-refused-${suffix}`,
          secret: {
            kubeconfig: providerAKubeconfig((d) => {
              clusterOf(d).server = `https://127.0.0.1:${refused}`;
            }),
          },
          reason: 'ConnectionFailed',
          message: /connection refused \(ECONNREFUSED\)/,
        },
        {
          name: `broken-port1-${suffix}`,
          secret: {
            kubeconfig: providerAKubeconfig((d) => {
              clusterOf(d).server = 'https://127.0.0.1:1';
            }),
          },
          reason: 'ConnectionFailed',
          message: /127\.0\.0\.1:1/,
        },
        {
          name: `broken-token-${suffix}`,
          secret: {
            kubeconfig: providerAKubeconfig((d) => {
              userOf(d).user = { token: 'not-a-token' };
            }),
          },
          reason: 'Unauthorized',
          message: /401 Unauthorized/,
        },
        {
          name: `broken-rbac-${suffix}`,
          secret: {
            kubeconfig: providerAKubeconfig((d) => {
              userOf(d).user = { token };
            }),
          },
          reason: 'Forbidden',
          message: /403 Forbidden.*cannot list resource "nodes"/,
        },
      ];
      await Promise.all(
        cases.map(async (c) => {
          const secretName = `${c.name}-kubeconfig`;
          if (c.secret) await putSecret(secretName, c.secret);
          await createProvider(c.name, secretName);
        }),
      );
      for (const c of cases) {
        const gp = await waitForProvider(c.name, hasCondition('Reachable', 'False', c.reason));
        expect(conditionOf(gp, 'Reachable')?.message).toMatch(c.message);
        const ready = conditionOf(gp, 'Ready');
        // A refused kubeconfig is its own Ready reason; every other failure is an outage (Unreachable).
        if (c.reason === 'KubeconfigInvalid') {
          expect(ready).toMatchObject({ status: 'False', reason: 'KubeconfigInvalid', message: conditionOf(gp, 'Reachable')?.message });
        } else {
          expect(ready).toMatchObject({ status: 'False', reason: 'Unreachable' });
          expect(ready?.message.startsWith(`${c.reason}: `)).toBe(true);
        }
      }
      // None of them is in view: a starting operator's placement warm-up would wait for (then go around) each.
      expect(controller.notCaughtUp()).toEqual(expect.arrayContaining(cases.map((c) => c.name)));
      expect(controller.notCaughtUp()).not.toContain('provider-a');
      // Jobs avoid them: each is rejected as not Ready, with its reason in the user-facing message.
      const decision = placeJob(aJob().products(H100).build(), controller.registry.snapshots(6), Date.now());
      expect(decision.outcome).toBe('Placed');
      for (const c of cases) {
        const rejection = decision.rejections.find((r) => r.provider === c.name);
        expect(rejection?.reason).toBe('NotReady');
        expect(rejection?.message).toContain(c.reason);
      }
      expect(decision.outcome === 'Placed' && decision.placement.provider).toMatch(/^provider-[ac]$/);
    } finally {
      await providerA.core.deleteNamespacedServiceAccount({ name: saName, namespace: WORKLOADS }).catch(() => undefined);
      await cleanup();
    }
  });

  it('fixing the Secret makes the provider Ready within seconds; cordoning it makes it not Ready', async () => {
    const name = uniqueName('fixed');
    const secretName = `${name}-kubeconfig`;
    try {
      await createProvider(name, secretName);
      await waitForProvider(name, hasCondition('Reachable', 'False', 'SecretNotFound'));
      const fixedAt = Date.now();
      await putSecret(secretName, { kubeconfig: kubeconfigText('provider-a') });
      const gp = await waitForProvider(name, hasCondition('Ready', 'True', 'Ready'));
      const seconds = (Date.now() - fixedAt) / 1000;
      process.stdout.write(`[providers] Secret fixed → Ready=True in ${seconds.toFixed(2)} s (status observed on the hub)\n`);
      expect(seconds).toBeLessThan(10);
      expect(gp.status?.inventory?.[0]).toMatchObject({ product: H100, allocatable: 16 });
      expect(controller.notCaughtUp()).not.toContain(name);

      // Swapping the Secret's content for garbage stops the connection and says why.
      await putSecret(secretName, { kubeconfig: 'garbage: [' });
      await waitForProvider(name, hasCondition('Reachable', 'False', 'KubeconfigInvalid'));
      expect(controller.registry.get(name)).toBeUndefined();
      await putSecret(secretName, { kubeconfig: kubeconfigText('provider-a') });
      await waitForProvider(name, hasCondition('Ready', 'True', 'Ready'));

      // Reconciles that find nothing new write nothing: the same Secret again, a label on the GPUProvider.
      const connection = controller.registry.get(name) as ProviderConnection;
      const patches = controller.statusPatches(name);
      await putSecret(secretName, { kubeconfig: kubeconfigText('provider-a') });
      await mergePatch(name, { metadata: { labels: { 'flotilla.dev/touched': 'yes' } } });
      await sleep(2_000);
      expect(controller.statusPatches(name)).toBe(patches);
      expect(controller.registry.get(name)).toBe(connection);

      await mergePatch(name, { spec: { cordoned: true } });
      const cordoned = await waitForProvider(name, hasCondition('Ready', 'False', 'Cordoned'));
      expect(conditionOf(cordoned, 'Reachable')?.status).toBe('True');
      expect(controller.registry.snapshots(6).find((s) => s.name === name)).toMatchObject({ ready: true, cordoned: true });

      // Deleting the GPUProvider stops its connection.
      await deleteProvider(name);
      const deadline = Date.now() + 10_000;
      while (controller.registry.get(name) && Date.now() < deadline) await sleep(50);
      expect(controller.registry.get(name)).toBeUndefined();
      const after = connection.kubeConfig.totalRequests();
      await sleep(1_500);
      expect(connection.kubeConfig.totalRequests()).toBe(after);
    } finally {
      await cleanup();
    }
  });

  it('an informer that stops when the provider goes away restarts with backoff when it is back', async () => {
    const upstream = new URL(String(clusterOf(yaml.load(kubeconfigText('provider-a')) as KubeconfigDoc).server));
    // A TCP pass-through to provider-a's apiserver: TLS stays end to end, and we can pull the plug.
    const sockets = new Set<Socket>();
    const listen = (port: number) =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer((client) => {
          const remote = new (client.constructor as typeof Socket)();
          remote.connect(Number(upstream.port), upstream.hostname);
          for (const s of [client, remote]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => s.destroy());
          }
          client.pipe(remote).pipe(client);
        });
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(server));
      });
    const close = (server: Server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });

    let proxy = await listen(0);
    const port = (proxy.address() as AddressInfo).port;
    const name = uniqueName('proxied');
    try {
      await putSecret(`${name}-kubeconfig`, {
        kubeconfig: providerAKubeconfig((d) => {
          clusterOf(d).server = `https://127.0.0.1:${port}`;
        }),
      });
      await createProvider(name, `${name}-kubeconfig`);
      await waitForProvider(name, hasCondition('Ready', 'True', 'Ready'));
      const connection = controller.registry.get(name) as ProviderConnection;
      const restartsBefore = connection.restarts;

      await close(proxy);
      const down = await waitForProvider(name, hasCondition('Reachable', 'False', 'ConnectionFailed'));
      expect(conditionOf(down, 'Ready')?.reason).toBe('Unreachable');
      // The last inventory stays, lastSeen says how old it is.
      expect(down.status?.inventory?.[0]?.allocatable).toBe(16);

      proxy = await listen(port);
      const backAt = Date.now();
      await waitForProvider(name, (gp) => hasCondition('Ready', 'True', 'Ready')(gp) && hasCondition('Reachable', 'True', 'Connected')(gp));
      process.stdout.write(`[providers] provider back → Ready=True in ${((Date.now() - backAt) / 1000).toFixed(2)} s (backoff 0.2 s doubling to 2 s)\n`);
      expect(controller.registry.get(name)).toBe(connection);
      expect(connection.restarts).toBeGreaterThan(restartsBefore);
      expect(connection.synced).toBe(true);
    } finally {
      await close(proxy);
      await cleanup();
    }
  });

  it('a Flotilla-labelled pod in a provider reduces free in the status, and its deletion gives it back', async () => {
    const providerA = clusterClients('provider-a');
    const client = () => controller.registry.get('provider-a') as ProviderConnection;
    const uid = uniqueName('job');
    const podName = uniqueName('inventory-probe');
    /** Free H100s as the hub's status says, and as this controller's caches say it must be. */
    const freeNow = async () => {
      const gp = await getProvider('provider-a');
      const bound = client()
        .pods()
        .filter((p) => p.spec?.nodeName && !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
      const used = bound.reduce((s, p) => s + Number(p.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'] ?? 0), 0);
      return { status: gp?.status?.inventory?.find((e) => e.product === H100)?.free, expected: 16 - used };
    };
    const waitUntil = async (done: () => Promise<boolean>) => {
      const deadline = Date.now() + 30_000;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`free never matched: ${JSON.stringify(await freeNow())}`);
        await sleep(200);
      }
    };
    await waitForProvider('provider-a', hasCondition('Ready', 'True'));
    const pod = gpuPod(podName, { gpus: 3, product: H100, priorityClassName: 'flotilla-lent' });
    pod.metadata = { ...pod.metadata, labels: { [LABEL_JOB_UID]: uid } };
    await providerA.core.createNamespacedPod({ namespace: WORKLOADS, body: pod });
    try {
      // The pod informer sees it (jobPods), the scheduler binds it, and free drops by its 3 GPUs.
      await waitUntil(async () => client().jobPods(uid)[0]?.spec?.nodeName !== undefined);
      await waitUntil(async () => {
        const f = await freeNow();
        return f.status === f.expected && f.expected <= 13;
      });
    } finally {
      await providerA.core.deleteNamespacedPod({ name: podName, namespace: WORKLOADS, gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    await waitUntil(async () => client().jobPods(uid).length === 0);
    await waitUntil(async () => {
      const f = await freeNow();
      return f.status === f.expected;
    });
  });

  it('every request to a provider goes through its rate-limited client', async () => {
    const client = controller.registry.get('provider-a') as ProviderConnection;
    expect(client.kubeConfig).toBeInstanceOf(RateLimitedKubeConfig);
    expect(client.kubeConfig.bucket.limit).toEqual({ qps: 20, burst: 40 });
    const gets = () => client.requests.get('GET') ?? 0;
    const before = gets();
    expect(before).toBeGreaterThanOrEqual(2); // at least the node and pod lists
    // 60 requests at once: 40 pass on the burst, the other 20 wait for tokens at 20/s (≈1 s).
    const throttledBefore = client.kubeConfig.bucket.throttled;
    const started = Date.now();
    await Promise.all(Array.from({ length: 60 }, () => client.core.listNamespacedPod({ namespace: WORKLOADS, limit: 1 })));
    const elapsedMs = Date.now() - started;
    expect(gets()).toBeGreaterThanOrEqual(before + 60);
    expect(client.kubeConfig.bucket.throttled - throttledBefore).toBeGreaterThanOrEqual(15);
    expect(elapsedMs).toBeGreaterThanOrEqual(800);
  });

  it('with least-privilege hub RBAC (get on named Secrets, no list/watch) Secrets are read at each reconcile', async () => {
    const suffix = uniqueName('lp').slice(3);
    const name = `least-privilege-${suffix}`;
    const secretName = `${name}-kubeconfig`;
    const sa = `flotilla-test-${suffix}`;
    const rbac = hub.kc.makeApiClient(RbacAuthorizationV1Api);
    let restricted: ProviderConnections | undefined;
    const restrictedLogs: string[] = [];
    try {
      // What charts/flotilla grants the operator on the hub, narrowed to one test Secret.
      await hub.core.createNamespacedServiceAccount({ namespace: SECRET_NAMESPACE, body: { metadata: { name: sa } } });
      await rbac.createClusterRole({
        body: {
          metadata: { name: sa },
          rules: [
            { apiGroups: [GROUP], resources: [GPUPROVIDER.plural], verbs: ['get', 'list', 'watch'] },
            { apiGroups: [GROUP], resources: [`${GPUPROVIDER.plural}/status`], verbs: ['get', 'patch'] },
          ],
        },
      });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: sa },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: SECRET_NAMESPACE }],
        },
      });
      await rbac.createNamespacedRole({
        namespace: SECRET_NAMESPACE,
        body: { metadata: { name: sa }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [secretName] }] },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: SECRET_NAMESPACE,
        body: {
          metadata: { name: sa },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: SECRET_NAMESPACE }],
        },
      });
      const token =
        (
          await hub.core.createNamespacedServiceAccountToken({
            name: sa,
            namespace: SECRET_NAMESPACE,
            body: { spec: { audiences: [], expirationSeconds: 600 } },
          })
        ).status?.token ?? '';
      const cluster = hub.kc.getCurrentCluster();
      if (!cluster) throw new Error('hub kubeconfig without a cluster');
      const kc = new KubeConfig();
      kc.loadFromOptions({ clusters: [cluster], users: [{ name: sa, token }], contexts: [{ name: sa, cluster: cluster.name, user: sa }], currentContext: sa });

      restricted = startProviderConnections({
        hub: kc,
        resyncMs: 1_000,
        kubeconfigPolicy: LOCAL_FEDERATION_POLICY,
        log: (level, message, fields) => restrictedLogs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
      });
      await createProvider(name, secretName);
      const deadline = Date.now() + 20_000;
      while (restricted.registry.facts(name)?.configError?.reason !== 'SecretNotFound' && Date.now() < deadline) await sleep(100);
      expect(restricted.registry.facts(name)?.configError?.reason).toBe('SecretNotFound');

      const fixedAt = Date.now();
      await putSecret(secretName, { kubeconfig: kubeconfigText('provider-a') });
      while (!restricted.registry.get(name)?.synced && Date.now() < deadline) await sleep(50);
      expect(restricted.registry.get(name)?.synced).toBe(true);
      process.stdout.write(`[providers] least-privilege hub RBAC: Secret fixed → connected in ${((Date.now() - fixedAt) / 1000).toFixed(2)} s (resync 1 s)\n`);
      expect(restrictedLogs.some((l) => l.startsWith('info may not list/watch Secrets'))).toBe(true);
      // It writes its own provider's status, and nothing for providers whose Secrets it may not read.
      await waitForProvider(name, hasCondition('Ready', 'True', 'Ready'));
      expect(restricted.statusPatches('provider-a')).toBe(0);
    } finally {
      restricted?.stop();
      await cleanup();
      await rbac.deleteNamespacedRoleBinding({ name: sa, namespace: SECRET_NAMESPACE }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ name: sa, namespace: SECRET_NAMESPACE }).catch(() => undefined);
      await rbac.deleteClusterRoleBinding({ name: sa }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: sa }).catch(() => undefined);
      await hub.core.deleteNamespacedServiceAccount({ name: sa, namespace: SECRET_NAMESPACE }).catch(() => undefined);
    }
  });
});
