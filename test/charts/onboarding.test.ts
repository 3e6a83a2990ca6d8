// Onboarding end to end with only the credentials the charts issue. The provider chart is
// `helm install`ed into every provider of the federation, the hub chart into the hub; the hub gets
// one kubeconfig Secret per provider built from the provider chart's token Secret, and a GPUProvider
// for each; then the real operator (node operator/main.ts, as a local process: the hub has no
// kubelet to run the chart's Deployment) runs with the chart Deployment's environment and a
// kubeconfig holding nothing but a token of the hub chart's ServiceAccount. AIJobs pinned to each
// provider run there, succeed, and a deleted one has its remote pod removed. That proves both
// charts' RBAC sufficient; hub-rbac.test.ts and provider-rbac.test.ts prove it small.
//
// The hub chart's admission webhook is live too: webhook.url points the API server at the local
// process, which serves the certificate the chart generated (read from the chart's Secret, as the
// kubelet would mount it), so the API server's TLS check uses the chart's caBundle. Selectors keep
// it to this test's objects: it fails closed, and the hub is shared.
//
// No admin credential is on that path: the test itself uses admin kubeconfigs only to install, to
// read the token Secrets back (as a provider's admin would) and to observe.
//
// Everything has its own names, apart from the federation's own registration (flotilla-workloads,
// flotilla-lent, GPUProviders provider-a/b/c): lent namespace flotilla-e2e-workloads, PriorityClass
// flotilla-lent-e2e, GPUProviders chart-e2e-provider-*, hub namespace flotilla-e2e-system. The
// GPUProviders are priced far above the federation's own, so other operators on the shared
// federation prefer those.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import type { FederationEndpoints } from '../../federation/federation.ts';
import { repoRoot } from '../../federation/paths.ts';
import { providerKubeconfig } from '../../pulumi/kubeconfig.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { documents, helm, kubectl } from './helm.ts';

const RELEASE = 'flotilla-e2e';
const LENT_NS = 'flotilla-e2e-workloads';
const LENT_SA = 'flotilla-hub';
const PRIORITY_CLASS = 'flotilla-lent-e2e';
const HUB_NS = 'flotilla-e2e-system';
const HUB_SA = 'flotilla-operator';
const HUB_ID = 'hub-e2e';
const REGISTERED_BY = { 'flotilla.dev/registered-by': 'test-charts-onboarding' };
const UNLISTED = 'chart-e2e-unlisted';
const gpuProviderName = (provider: string) => `chart-e2e-${provider}`;
const secretName = (provider: string) => `${gpuProviderName(provider)}-kubeconfig`;

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const hubAdmin = () => federation().hub.kubeconfig;
const providers = () => federation().providers;
let dir = '';
let jobNs = '';
let operatorKubeconfig = '';
let operator: OperatorProcess | undefined;
let webhookPort = 0;

/** The API server's message of a failed client-node request. */
function apiErrorMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    return (JSON.parse(String(body)) as { message?: string }).message ?? String(body);
  } catch {
    return String(body ?? err);
  }
}

/** A TCP port free right now (the webhook URL must be known before the operator starts). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface KubeconfigDoc {
  'current-context': string;
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string } }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
}

/** The token Secret of the provider chart, once the provider's token controller has filled it. */
async function providerToken(kubeconfig: string): Promise<{ token: string; ca: string }> {
  const data = await pollUntil(
    `the token controller filling ${LENT_NS}/${LENT_SA}-token`,
    async () =>
      JSON.parse((await kubectl(kubeconfig, ['-n', LENT_NS, 'get', 'secret', `${LENT_SA}-token`, '-o', 'jsonpath={.data}'])) || '{}') as Record<string, string>,
    (d) => !!d.token && !!d['ca.crt'],
    30_000,
    250,
  );
  return { token: Buffer.from(data.token!, 'base64').toString('utf8'), ca: data['ca.crt']! };
}

/** The hub ServiceAccount's kubeconfig: the hub's address and CA, and a TokenRequest token (what a pod would mount). */
async function hubServiceAccountKubeconfig(): Promise<string> {
  const admin = yaml.load(readFileSync(hubAdmin(), 'utf8')) as KubeconfigDoc;
  const context = admin.contexts.find((c) => c.name === admin['current-context'])!;
  const cluster = admin.clusters.find((c) => c.name === context.context.cluster)!.cluster;
  const token = (await kubectl(hubAdmin(), ['-n', HUB_NS, 'create', 'token', HUB_SA, '--duration=2h'])).trim();
  return yaml.dump(
    {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'hub',
      clusters: [{ name: 'hub', cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
      users: [{ name: HUB_SA, user: { token } }],
      contexts: [{ name: 'hub', context: { cluster: 'hub', user: HUB_SA, namespace: HUB_NS } }],
    },
    { lineWidth: -1 },
  );
}

/** The operator container's environment as the installed hub release renders it (downward API filled in). */
async function chartOperatorEnv(): Promise<Record<string, string>> {
  const manifest = await helm(['--kubeconfig', hubAdmin(), 'get', 'manifest', RELEASE, '-n', HUB_NS]);
  const deployment = documents(manifest)
    .map(
      (d) =>
        yaml.load(d) as {
          kind: string;
          spec?: {
            template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }> } };
          };
        },
    )
    .find((m) => m.kind === 'Deployment');
  const env: Record<string, string> = {};
  for (const e of deployment!.spec!.template.spec.containers[0]!.env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    env[e.name] = e.value ?? (field === 'metadata.namespace' ? HUB_NS : field === 'metadata.name' ? 'flotilla-operator-e2e-0' : '');
  }
  // What the kubelet would do: mount the chart's webhook certificate Secret where the env says.
  const tls = JSON.parse(await kubectl(hubAdmin(), ['-n', HUB_NS, 'get', 'secret', 'flotilla-operator-webhook-tls', '-o', 'jsonpath={.data}'])) as Record<
    string,
    string
  >;
  for (const [variable, key] of [
    ['FLOTILLA_WEBHOOK_CERT_FILE', 'tls.crt'],
    ['FLOTILLA_WEBHOOK_KEY_FILE', 'tls.key'],
  ] as const) {
    expect(env[variable]).toBe(`/etc/flotilla/webhook-tls/${key}`);
    env[variable] = join(dir, key);
    writeFileSync(env[variable], Buffer.from(tls[key]!, 'base64'), { mode: 0o600 });
  }
  return env;
}

const gpuProviderManifest = (provider: FederationEndpoints['providers'][number]): GPUProviderManifest => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: GPUPROVIDER.kind,
  metadata: { name: gpuProviderName(provider.name), labels: REGISTERED_BY },
  spec: {
    kubeconfigSecretRef: { name: secretName(provider.name), namespace: HUB_NS, key: 'kubeconfig' },
    namespace: LENT_NS,
    priorityClassName: PRIORITY_CLASS,
    region: provider.region,
    payoutAddress: provider.payoutAddress,
    // Far above the federation's own prices: another operator sharing the federation never prefers these.
    prices: Object.keys(provider.prices).map((gpuProduct) => ({ gpuProduct, pricePerGpuHour: '90.00' })),
  },
});

async function cleanUp(): Promise<void> {
  // The webhook configuration goes first: it fails closed and its operator is gone.
  await helm(['--kubeconfig', hubAdmin(), 'uninstall', RELEASE, '-n', HUB_NS, '--wait', '--ignore-not-found']).catch(() => undefined);
  for (const name of [...providers().map((p) => gpuProviderName(p.name)), UNLISTED]) {
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }).catch(() => undefined);
  }
  await kubectl(hubAdmin(), ['delete', 'namespace', HUB_NS, '--ignore-not-found', '--wait=false']);
  // The chart owns the lent namespace: uninstalling deletes it, with any pod left in it.
  for (const p of providers()) await helm(['--kubeconfig', p.kubeconfig, 'uninstall', RELEASE, '-n', 'default', '--wait', '--ignore-not-found']);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-onboarding-'));
  await cleanUp();
  await pollUntil(
    `namespace ${HUB_NS} gone from an earlier run`,
    () => kubectl(hubAdmin(), ['get', 'namespace', HUB_NS, '--ignore-not-found', '-o', 'name']),
    (out) => out.trim() === '',
    60_000,
    500,
  );
  jobNs = await createNamespace(hub.core, 't-onboard');

  // 1. Each provider installs its chart; its admin reads the token back and hands the hub a kubeconfig.
  for (const p of providers()) {
    await helm([
      '--kubeconfig',
      p.kubeconfig,
      'install',
      RELEASE,
      join(repoRoot, 'charts', 'flotilla-provider'),
      '-n',
      'default',
      '--wait',
      '--timeout',
      '60s',
      '--set',
      `namespace.name=${LENT_NS}`,
      '--set',
      `priorityClass.name=${PRIORITY_CLASS}`,
      '--set',
      'lentGpus=8',
      '--set',
      `provider.name=${gpuProviderName(p.name)}`,
      '--set',
      `provider.region=${p.region}`,
      '--set',
      `provider.payoutAddress=${p.payoutAddress}`,
    ]);
  }
  // 2. The hub chart, allowed to read exactly these Secrets, reconciling AIJobs of one namespace,
  //    its webhook calling this machine's operator process (AIJobs of jobNs, our GPUProviders only).
  webhookPort = await freePort();
  await helm([
    '--kubeconfig',
    hubAdmin(),
    'install',
    RELEASE,
    join(repoRoot, 'charts', 'flotilla'),
    '-n',
    HUB_NS,
    '--create-namespace',
    '--wait',
    '--timeout',
    '60s',
    '--set',
    'replicas=0',
    '--set',
    `operator.hubId=${HUB_ID}`,
    '--set',
    `operator.watchNamespace=${jobNs}`,
    '--set',
    `providerSecretNames={${providers()
      .map((p) => secretName(p.name))
      .join(',')}}`,
    '--set',
    `webhook.port=${webhookPort}`,
    '--set',
    `webhook.url=https://127.0.0.1:${webhookPort}`,
    '--set-json',
    `webhook.objectSelector=${JSON.stringify({ matchLabels: REGISTERED_BY })}`,
  ]);
  // 3. The operator: the chart's environment, the hub ServiceAccount's token, nothing else.
  operatorKubeconfig = join(dir, 'hub-operator.kubeconfig');
  writeFileSync(operatorKubeconfig, await hubServiceAccountKubeconfig(), { mode: 0o600 });
  // Its plain-HTTP port on any free one: a pod would have its own network namespace, this process shares the machine.
  operator = startOperator(jobNs, { ...(await chartOperatorEnv()), FLOTILLA_KUBECONFIG: operatorKubeconfig, FLOTILLA_HTTP_PORT: '0' });
  // 4. What an onboarding admin puts in the hub: the Secret (provider-chart token only) and the
  //    GPUProvider, admitted by the webhook once the operator answers.
  for (const p of providers()) {
    const { token, ca } = await providerToken(p.kubeconfig);
    const server = (await kubectl(p.kubeconfig, ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
    const file = join(dir, `${p.name}.kubeconfig`);
    writeFileSync(file, providerKubeconfig({ server, caData: ca, token, namespace: LENT_NS }), { mode: 0o600 });
    await kubectl(hubAdmin(), ['-n', HUB_NS, 'create', 'secret', 'generic', secretName(p.name), `--from-file=kubeconfig=${file}`]);
    await pollUntil(
      `GPUProvider ${gpuProviderName(p.name)} admitted`,
      () =>
        custom
          .createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: gpuProviderManifest(p) })
          .then(() => 'created', apiErrorMessage),
      (outcome) => outcome === 'created',
      60_000,
      500,
    );
  }
}, 300_000);

afterAll(async () => {
  // Jobs go while their operator still runs: it lets their finalizers go, so the namespace can.
  if (jobNs) {
    await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs }).catch(() => undefined);
    await pollUntil(
      `AIJobs in ${jobNs} gone`,
      async () =>
        ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs })) as { items: unknown[] }).items
          .length,
      (n) => n === 0,
      60_000,
      250,
    );
  }
  await operator?.stop();
  await cleanUp();
  await deleteNamespace(hub.core, jobNs);
  rmSync(dir, { recursive: true, force: true });
}, 300_000);

const whoami = async (kubeconfig: string) => (await kubectl(kubeconfig, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim();
const onlyTokenUsers = (text: string) => (yaml.load(text) as KubeconfigDoc).users.map((u) => Object.keys(u.user));

describe('the path from the operator to every cluster holds chart-issued credentials only', () => {
  test("the operator's hub kubeconfig is a token of the hub chart's ServiceAccount", async () => {
    expect(onlyTokenUsers(readFileSync(operatorKubeconfig, 'utf8'))).toEqual([['token']]);
    expect(await whoami(operatorKubeconfig)).toBe(`system:serviceaccount:${HUB_NS}:${HUB_SA}`);
  });

  test.each(['provider-a', 'provider-b', 'provider-c'])("the hub Secret for %s holds the provider chart's token", async (provider) => {
    const text = Buffer.from(
      await kubectl(hubAdmin(), ['-n', HUB_NS, 'get', 'secret', secretName(provider), '-o', 'jsonpath={.data.kubeconfig}']),
      'base64',
    ).toString('utf8');
    expect(onlyTokenUsers(text)).toEqual([['token']]);
    const file = join(dir, `${provider}.check.kubeconfig`);
    writeFileSync(file, text, { mode: 0o600 });
    expect(await whoami(file)).toBe(`system:serviceaccount:${LENT_NS}:${LENT_SA}`);
  });
});

describe("the hub chart's admission webhook", () => {
  test("the API server calls it over TLS with the chart's caBundle: a GPUProvider naming a Secret outside providerSecretNames is refused", async () => {
    await kubectl(hubAdmin(), ['-n', HUB_NS, 'create', 'secret', 'generic', `${UNLISTED}-kubeconfig`, '--from-literal=kubeconfig=unused']);
    const unlisted: GPUProviderManifest = {
      ...gpuProviderManifest(providers()[0]!),
      metadata: { name: UNLISTED, labels: REGISTERED_BY },
    };
    unlisted.spec = { ...unlisted.spec, kubeconfigSecretRef: { name: `${UNLISTED}-kubeconfig`, namespace: HUB_NS, key: 'kubeconfig' } };
    const refusal = await custom
      .createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: unlisted })
      .then(() => 'admitted', apiErrorMessage);
    expect(refusal).toContain('admission webhook "gpuproviders.flotilla.dev" denied the request');
    expect(refusal).toContain(`the operator may not read Secret ${HUB_NS}/${UNLISTED}-kubeconfig; list it in the hub chart's providerSecretNames`);
  });
});

const phase = (p: string) => (job: AIJob | undefined) => job?.status?.phase === p;

async function lentPods(provider: string, jobUid: string): Promise<V1Pod[]> {
  return (await clusterClients(provider).core.listNamespacedPod({ namespace: LENT_NS, labelSelector: `flotilla.dev/job-uid=${jobUid}` })).items;
}

function jobOn(provider: string, name: string, runSeconds: number): AIJobManifest {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'AIJob',
    metadata: { name, namespace: jobNs },
    spec: {
      image: 'ghcr.io/flotilla-dev/examples/finetune@sha256:4f2a9c1e0b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e',
      resources: { gpus: 1 },
      placement: { allowedProviders: [gpuProviderName(provider)] },
      podAnnotations: { 'sim.flotilla.dev/run-seconds': String(runSeconds), 'sim.flotilla.dev/output': `${name} done` },
    },
  };
}

describe('the operator runs jobs with those credentials', () => {
  test("every chart-onboarded GPUProvider becomes Ready with its inventory (nodes read through the provider chart's ClusterRole)", async () => {
    for (const p of providers()) {
      const gp = await pollUntil(
        `GPUProvider ${gpuProviderName(p.name)} Ready`,
        () =>
          custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: gpuProviderName(p.name) }) as Promise<GPUProvider>,
        (g) => g.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        90_000,
        500,
      );
      expect(gp.status?.inventory?.length).toBeGreaterThan(0);
    }
  });

  test.each(['provider-a', 'provider-b', 'provider-c'])("a job allowed only on %s runs in the chart's lent namespace there and succeeds", async (provider) => {
    const name = `on-${provider}`;
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs, body: jobOn(provider, name, 4) });
    const scheduled = await waitForAIJob(jobNs, name, (j) => (j?.status?.attempts?.length ?? 0) > 0, 120_000);
    // The pod, created with the provider chart's token, while it runs (finished attempts' pods are cleaned up).
    const [pod] = await pollUntil(
      `the pod of ${name} in ${LENT_NS} at ${provider}`,
      () => lentPods(provider, scheduled?.metadata.uid ?? ''),
      (pods) => pods.length === 1,
      30_000,
      100,
    );
    expect(pod?.metadata?.labels?.['flotilla.dev/hub']).toBe(HUB_ID);
    expect(pod?.spec?.priorityClassName).toBe(PRIORITY_CLASS);
    expect(pod?.spec?.priority).toBe(-100);
    const done = await waitForAIJob(jobNs, name, (j) => phase('Succeeded')(j) || phase('Failed')(j), 120_000);
    expect(done?.status?.phase).toBe('Succeeded');
    expect(done?.status?.attempts).toEqual([expect.objectContaining({ index: 1, provider: gpuProviderName(provider), reason: 'Succeeded' })]);
    // Events on the AIJob, written with the hub ServiceAccount (after the status write they report).
    const reasons = async () =>
      (await hub.core.listNamespacedEvent({ namespace: jobNs, fieldSelector: `involvedObject.name=${name}` })).items.map((e) => e.reason);
    await pollUntil(`Events Scheduled and Succeeded on ${name}`, reasons, (r) => r.includes('Scheduled') && r.includes('Succeeded'), 30_000, 250);
  });

  test('deleting a running job deletes its pod at the provider before the finalizer lets go', async () => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'aijobs',
      namespace: jobNs,
      body: jobOn('provider-b', 'long-runner', 600),
    });
    const running = await waitForAIJob(jobNs, 'long-runner', phase('Running'), 120_000);
    const uid = running?.metadata.uid ?? '';
    expect(running?.metadata.finalizers).toContain('flotilla.dev/remote-pods');
    expect(await lentPods('provider-b', uid)).toHaveLength(1);
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs, name: 'long-runner' });
    await waitForAIJob(jobNs, 'long-runner', (j) => j === undefined, 60_000);
    expect(await lentPods('provider-b', uid)).toEqual([]);
  });

  test('the operator read its kubeconfig Secrets by name, and was refused nothing else it needed', () => {
    const lines = operator!
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; provider?: string; namespace?: string; error?: string });
    // Secrets: get by name only (the chart grants no list/watch): the operator says it falls back.
    expect(lines.some((l) => l.msg.startsWith('may not list/watch Secrets') && l.namespace === HUB_NS)).toBe(true);
    // Failed reconciles of our GPUProviders would show here; other GPUProviders' Secrets are, rightly, not readable.
    const ours = new Set(providers().map((p) => gpuProviderName(p.name)));
    expect(lines.filter((l) => l.provider !== undefined && ours.has(l.provider) && /forbidden|403/i.test(l.error ?? ''))).toEqual([]);
  });
});
