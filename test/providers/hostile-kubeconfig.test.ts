// A hostile provider's kubeconfig, on the real hub: every shape the allow-list refuses leaves the
// GPUProvider Ready=False KubeconfigInvalid with a message naming the key, and the provider's
// server — a local listener standing in for it — receives no request at all. The test plays the
// provider: it writes the kubeconfig Secret and the GPUProvider in the hub, as onboarding would.
//
// Two operators judge them: the real operator process (test/support/operator.ts, which runs with
// FLOTILLA_ALLOW_INSECURE_PROVIDERS=1 because the local federation's providers listen on loopback)
// for every shape that flag does not relax, and the GPUProvider controller in this process with the
// production policy (no flag) for the shapes it does relax: plain http, skip-verify, loopback.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { API_VERSION, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { Condition, GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import { startProviderConnections } from '../../operator/controllers/gpuprovider-controller.ts';
import type { ProviderConnections } from '../../operator/controllers/gpuprovider-controller.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, uniqueName } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { join } from 'node:path';
import { repoRoot } from '../../federation/paths.ts';
import { helm } from '../charts/helm.ts';
import { startHostileServer } from './hostile-server.ts';
import type { HostileServer, KubeconfigDoc } from './hostile-server.ts';

const SECRET_NAMESPACE = 'flotilla-system';
const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const run = uniqueName('hk').slice(3);
const LABEL = 'flotilla.dev/test-hostile-kubeconfig';

const created: { providers: string[]; secrets: string[] } = { providers: [], secrets: [] };

async function putProvider(name: string, kubeconfig: string, group: string): Promise<void> {
  const secretName = `${name}-kubeconfig`;
  created.secrets.push(secretName);
  await hub.core.createNamespacedSecret({
    namespace: SECRET_NAMESPACE,
    body: { metadata: { name: secretName, namespace: SECRET_NAMESPACE }, stringData: { kubeconfig } },
  });
  const body: GPUProviderManifest = {
    apiVersion: API_VERSION,
    kind: GPUPROVIDER.kind,
    metadata: { name, labels: { [LABEL]: `${run}-${group}` } },
    spec: {
      kubeconfigSecretRef: { name: secretName, namespace: SECRET_NAMESPACE, key: 'kubeconfig' },
      namespace: 'flotilla-workloads',
      region: 'test',
      payoutAddress: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
      // Far above every real price: no job of another suite lands here.
      prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '9999' }],
    },
  };
  created.providers.push(name);
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body });
}

async function cleanup(): Promise<void> {
  await Promise.all(
    created.providers
      .splice(0)
      .map((name) => custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }).catch(() => undefined)),
  );
  await Promise.all(created.secrets.splice(0).map((name) => hub.core.deleteNamespacedSecret({ name, namespace: SECRET_NAMESPACE }).catch(() => undefined)));
}

const readProvider = (name: string) =>
  custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }) as Promise<GPUProvider>;
const condition = (gp: GPUProvider, type: string): Condition | undefined => gp.status?.conditions?.find((c) => c.type === type);

async function refusedWith(name: string, key: RegExp): Promise<GPUProvider> {
  const gp = await pollUntil(
    `${name} Ready=False KubeconfigInvalid`,
    () => readProvider(name),
    (p) => condition(p, 'Ready')?.reason === 'KubeconfigInvalid',
    30_000,
    200,
  );
  expect(condition(gp, 'Ready')).toMatchObject({ status: 'False', reason: 'KubeconfigInvalid' });
  expect(condition(gp, 'Reachable')).toMatchObject({ status: 'False', reason: 'KubeconfigInvalid' });
  expect(condition(gp, 'Ready')?.message).toMatch(key);
  return gp;
}

const cluster = (d: KubeconfigDoc) => (d.clusters[0] as { cluster: Record<string, unknown> }).cluster;
const user = (d: KubeconfigDoc) => (d.users[0] as { user: Record<string, unknown> }).user;

let listener: HostileServer;
let ns = '';
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  listener = await startHostileServer();
  ns = await createNamespace(hub.core, 't-hostile-kc');
});

afterAll(async () => {
  await operator?.stop();
  await cleanup();
  await deleteNamespace(hub.core, ns);
  await listener?.close();
});

describe('a hostile provider kubeconfig', () => {
  it('every shape the flag does not relax is refused by the real operator, naming the key, and no request reaches the provider', async () => {
    operator = startOperator(ns);
    const cases: { name: string; change: (d: KubeconfigDoc) => void; key: RegExp }[] = [
      {
        name: 'settlement',
        change: (d) => {
          user(d)['token-file'] = '/etc/flotilla/secrets/settlement-key/key';
          delete user(d).token;
        },
        key: /users\[0\]\.user\.token-file/,
      },
      {
        name: 'devzero',
        change: (d) => {
          user(d)['token-file'] = '/dev/zero';
        },
        key: /users\[0\]\.user\.token-file/,
      },
      {
        name: 'proxy',
        change: (d) => {
          cluster(d)['proxy-url'] = listener.url;
        },
        key: /clusters\[0\]\.cluster\.proxy-url/,
      },
      {
        name: 'impersonate',
        change: (d) => {
          user(d).as = 'system:admin';
          user(d)['as-groups'] = ['system:masters'];
        },
        key: /users\[0\]\.user\.as/,
      },
      {
        name: 'basic',
        change: (d) => {
          d.users[0] = { name: 'hostile', user: { username: 'admin', password: 'hunter2' } };
        },
        key: /users\[0\]\.user\.(username|password)/,
      },
      {
        name: 'exec',
        change: (d) => {
          d.users[0] = { name: 'hostile', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', 'cat /etc/passwd'] } } };
        },
        key: /users\[0\]\.user\.exec/,
      },
      {
        name: 'authprovider',
        change: (d) => {
          d.users[0] = { name: 'hostile', user: { 'auth-provider': { name: 'oidc', config: { 'idp-issuer-url': listener.url } } } };
        },
        key: /users\[0\]\.user\.auth-provider/,
      },
      {
        name: 'cafile',
        change: (d) => {
          cluster(d)['certificate-authority'] = '/etc/ssl/certs/ca-certificates.crt';
        },
        key: /clusters\[0\]\.cluster\.certificate-authority\b/,
      },
      {
        name: 'certfile',
        change: (d) => {
          d.users[0] = { name: 'hostile', user: { 'client-certificate': '/etc/passwd', 'client-key': '/etc/shadow' } };
        },
        key: /users\[0\]\.user\.client-(certificate|key)\b/,
      },
      {
        name: 'metadata',
        change: (d) => {
          cluster(d).server = 'http://169.254.169.254';
        },
        key: /clusters\[0\]\.cluster\.server.*link-local/,
      },
    ];
    await Promise.all(cases.map((c) => putProvider(`hk-${c.name}-${run}`, listener.kubeconfig(c.change), 'process')));
    for (const c of cases) await refusedWith(`hk-${c.name}-${run}`, c.key);
    expect(listener.requests).toEqual([]);

    // The control: the same listener behind an allow-list-clean kubeconfig is dialled at once (the
    // local-development flag allows its loopback http), so "no request" above is the refusal's doing.
    await putProvider(`hk-control-${run}`, listener.kubeconfig(), 'process');
    await pollUntil(
      'the control provider dialled',
      async () => listener.requests.length,
      (n) => n > 0,
      30_000,
      100,
    );
    expect(listener.requests.some((r) => r.url.startsWith('/api/v1/nodes') && r.authorization === 'Bearer hostile-token')).toBe(true);
    const log = operator.logs();
    expect(log).toMatch(/FLOTILLA_ALLOW_INSECURE_PROVIDERS is set/);
    await operator.stop();
    operator = undefined;
    await cleanup();
  });

  it('without the local-development flag, plain http, skip-verify and loopback are refused too, and nothing is dialled', async () => {
    const strictListener = await startHostileServer();
    let controller: ProviderConnections | undefined;
    try {
      controller = startProviderConnections({
        hub: hub.kc,
        // The production policy: what the hub chart runs with.
        kubeconfigPolicy: { allowInsecure: false, hubRanges: [] },
        providerLabelSelector: `${LABEL}=${run}-strict`,
        informerBackoff: { initialMs: 200, maxMs: 2_000 },
      });
      const port = new URL(strictListener.url).port;
      const cases: { name: string; change: (d: KubeconfigDoc) => void; key: RegExp }[] = [
        {
          name: 'http',
          change: (d) => {
            cluster(d).server = `http://203.0.113.1:${port}`;
          },
          key: /clusters\[0\]\.cluster\.server.*plain http is not accepted/,
        },
        {
          name: 'skipverify',
          change: (d) => {
            cluster(d).server = `https://203.0.113.1:${port}`;
            cluster(d)['insecure-skip-tls-verify'] = true;
          },
          key: /clusters\[0\]\.cluster\.insecure-skip-tls-verify/,
        },
        {
          name: 'loopback',
          change: (d) => {
            cluster(d).server = `https://127.0.0.1:${port}`;
          },
          key: /clusters\[0\]\.cluster\.server.*127\.0\.0\.1 is loopback/,
        },
        {
          name: 'localhost',
          change: (d) => {
            cluster(d).server = `https://localhost:${port}`;
          },
          key: /clusters\[0\]\.cluster\.server.*loopback/,
        },
        { name: 'loopbackhttp', change: () => undefined, key: /clusters\[0\]\.cluster\.server.*plain http is not accepted/ },
      ];
      await Promise.all(cases.map((c) => putProvider(`hk-${c.name}-${run}`, strictListener.kubeconfig(c.change), 'strict')));
      for (const c of cases) await refusedWith(`hk-${c.name}-${run}`, c.key);
      expect(strictListener.requests).toEqual([]);
      // Nothing was built to dial them.
      for (const c of cases) expect(controller.registry.get(`hk-${c.name}-${run}`)).toBeUndefined();
    } finally {
      controller?.stop();
      await cleanup();
      await strictListener.close();
    }
  });

  it('the hub chart never sets the local-development flag', async () => {
    const rendered = await helm(['template', 'flotilla', join(repoRoot, 'charts', 'flotilla'), '--namespace', 'flotilla-system']);
    expect(rendered).toMatch(/FLOTILLA_/);
    expect(rendered).not.toMatch(/FLOTILLA_ALLOW_INSECURE_PROVIDERS/);
  });
});
