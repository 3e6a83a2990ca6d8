// A real `helm install` of charts/flotilla-provider into every provider of the federation, then its credential's exact
// allow-list, the denials that matter, and a kubeconfig built from the chart's token Secret that can
// do the hub's job in its namespace and nothing in `default`. Distinct names keep it off the
// federation's own flotilla-workloads / flotilla-lent; afterAll uninstalls.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { repoRoot } from '../../federation/paths.ts';
import { federation, uniqueName } from '../support/federation.ts';
import { ProviderFences } from '../../operator/providers/fence.ts';
import { canI, helm, kubectl, parseCanIList } from './helm.ts';

const NS = 'flotilla-lend-test';
const RELEASE = 'flotilla-lend-test';
const SA = 'flotilla-hub';
const AS = `--as=system:serviceaccount:${NS}:${SA}`;
const admin = () => federation().providers.find((p) => p.name === 'provider-a')!.kubeconfig;
const everyProvider = () => federation().providers.map((p) => p.kubeconfig);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-lend-'));
  // The release record lives in `default`; the chart itself creates (and on uninstall deletes) NS.
  for (const kubeconfig of everyProvider()) {
    await helm(['--kubeconfig', kubeconfig, 'uninstall', RELEASE, '-n', 'default', '--wait', '--ignore-not-found']);
    await helm([
      '--kubeconfig',
      kubeconfig,
      'install',
      RELEASE,
      join(repoRoot, 'charts', 'flotilla-provider'),
      '-n',
      'default',
      '--wait',
      '--timeout',
      '60s',
      '--set',
      `namespace.name=${NS}`,
      '--set',
      'priorityClass.name=flotilla-lent-test',
      '--set',
      'lentGpus=2',
    ]);
  }
});
afterAll(async () => {
  for (const kubeconfig of everyProvider()) await helm(['--kubeconfig', kubeconfig, 'uninstall', RELEASE, '-n', 'default', '--wait', '--ignore-not-found']);
  rmSync(dir, { recursive: true, force: true });
});

test.each(federation().providers.map((p) => p.name))('on %s the credential may do exactly this, in its namespace and cluster-wide', async (provider) => {
  const kubeconfig = federation().providers.find((p) => p.name === provider)!.kubeconfig;
  const rules = parseCanIList(await kubectl(kubeconfig, ['auth', 'can-i', '--list', AS, '-n', NS]));
  const resourceRules = rules
    .filter((r) => r.resource !== '')
    .map((r) => `${r.resource} ${r.resourceNames} ${r.verbs}`)
    .sort();
  expect(resourceRules).toEqual([
    'configmaps [flotilla-fence] [patch]',
    'events [] [create]',
    'nodes [] [get list watch]',
    'pods [] [get list watch create delete]',
    'pods/log [] [get]',
    'pods/status [] [get]',
    'secrets [] [create delete]',
    // What every authenticated user may do (system:basic-user), asking about itself only.
    'selfsubjectaccessreviews.authorization.k8s.io [] [create]',
    'selfsubjectreviews.authentication.k8s.io [] [create]',
    'selfsubjectrulesreviews.authorization.k8s.io [] [create]',
    'services [] [list create delete]',
  ]);
  // Non-resource URLs (discovery, health, version) come from system:discovery and system:public-info-viewer: reads only.
  expect(new Set(rules.filter((r) => r.resource === '').map((r) => r.verbs))).toEqual(new Set(['[get]']));

  const elsewhere = parseCanIList(await kubectl(kubeconfig, ['auth', 'can-i', '--list', AS, '-n', 'default']));
  expect(elsewhere.filter((r) => r.resource !== '' && !r.resource.startsWith('selfsubject')).map((r) => `${r.resource} ${r.verbs}`)).toEqual([
    'nodes [get list watch]',
  ]);
});

test.each([
  ['read pod status', ['get', 'pods', '--subresource=status', '-n', NS]],
  ['create pods', ['create', 'pods', '-n', NS]],
  ['delete pods', ['delete', 'pods', '-n', NS]],
  ['watch nodes', ['watch', 'nodes']],
  ['create events', ['create', 'events', '-n', NS]],
  ["create Services (a gang's rendezvous)", ['create', 'services', '-n', NS]],
  ['delete Services', ['delete', 'services', '-n', NS]],
  ['list Services', ['list', 'services', '-n', NS]],
  ["create Secrets (an attempt's copies of hub Secrets)", ['create', 'secrets', '-n', NS]],
  ['delete Secrets', ['delete', 'secrets', '-n', NS]],
  ['read pod logs (flotilla logs)', ['get', 'pods', '--subresource=log', '-n', NS]],
  ['raise its fencing token (templates/fence.yaml)', ['patch', 'configmaps/flotilla-fence', '-n', NS]],
])('it may %s', async (_what, args) => {
  await expect(canI(admin(), [...args, AS])).resolves.toBe(true);
});

test.each([
  ['read Secrets in its namespace', ['get', 'secrets', '-n', NS]],
  ['list Secrets cluster-wide', ['list', 'secrets', '-A']],
  ['list Secrets in its namespace (a LIST returns their data)', ['list', 'secrets', '-n', NS]],
  ['watch Secrets', ['watch', 'secrets', '-n', NS]],
  ['update Secrets', ['update', 'secrets', '-n', NS]],
  ['create Secrets in default', ['create', 'secrets', '-n', 'default']],
  ['update pods', ['update', 'pods', '-n', NS]],
  ['patch pod status', ['patch', 'pods', '--subresource=status', '-n', NS]],
  // Subresources go through --subresource: `can-i create pods/exec` would ask about a pod named "exec".
  ['exec into pods', ['create', 'pods', '--subresource=exec', '-n', NS]],
  ['attach to pods', ['create', 'pods', '--subresource=attach', '-n', NS]],
  ['read pod logs in default', ['get', 'pods', '--subresource=log', '-n', 'default']],
  ['evict pods', ['create', 'pods', '--subresource=eviction', '-n', NS]],
  ['create pods in default', ['create', 'pods', '-n', 'default']],
  ['update nodes', ['update', 'nodes']],
  ['create ClusterRoles', ['create', 'clusterroles']],
  ['create RoleBindings', ['create', 'rolebindings', '-n', NS]],
  ['escalate Roles', ['escalate', 'roles', '-n', NS]],
  ['bind ClusterRoles', ['bind', 'clusterroles']],
  ['impersonate users', ['impersonate', 'users']],
  ['impersonate ServiceAccounts', ['impersonate', 'serviceaccounts', '-n', NS]],
  ['request tokens for its ServiceAccount', ['create', 'serviceaccounts', '--subresource=token', '-n', NS]],
  ['change its ResourceQuota', ['update', 'resourcequotas', '-n', NS]],
  ['create PriorityClasses', ['create', 'priorityclasses']],
  ['read namespaces', ['get', 'namespaces']],
  ['update Services', ['update', 'services', '-n', NS]],
  ['patch Services', ['patch', 'services', '-n', NS]],
  ['create Services in default', ['create', 'services', '-n', 'default']],
  ['create Endpoints (traffic to any address)', ['create', 'endpoints', '-n', NS]],
  ['create EndpointSlices', ['create', 'endpointslices.discovery.k8s.io', '-n', NS]],
  ['patch any other ConfigMap', ['patch', 'configmaps/kube-root-ca.crt', '-n', NS]],
  ['delete the fence', ['delete', 'configmaps/flotilla-fence', '-n', NS]],
  ['update the fence (only patch)', ['update', 'configmaps/flotilla-fence', '-n', NS]],
  ['change the fence policy', ['update', 'validatingadmissionpolicies.admissionregistration.k8s.io']],
])('it may not %s', async (_what, args) => {
  await expect(canI(admin(), [...args, AS])).resolves.toBe(false);
});

async function tokenSecret(): Promise<{ token: string; ca: string }> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const data = JSON.parse(await kubectl(admin(), ['-n', NS, 'get', 'secret', `${SA}-token`, '-o', 'jsonpath={.data}'])) as Record<string, string>;
    if (data.token && data['ca.crt']) return { token: Buffer.from(data.token, 'base64').toString('utf8'), ca: data['ca.crt'] };
    await sleep(250);
  }
  throw new Error("the token controller did not fill the chart's ServiceAccount token Secret");
}

/** A kubeconfig of the chart's credential: what the hub's GPUProvider Secret would carry. */
async function lentKubeconfig(): Promise<string> {
  const { token, ca } = await tokenSecret();
  const server = (await kubectl(admin(), ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
  const kubeconfig = join(dir, 'provider-a-lent.yaml');
  writeFileSync(
    kubeconfig,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'provider',
      clusters: [{ name: 'provider', cluster: { server, 'certificate-authority-data': ca } }],
      users: [{ name: SA, user: { token } }],
      contexts: [{ name: 'provider', context: { cluster: 'provider', user: SA, namespace: NS } }],
    }),
    { mode: 0o600 },
  );
  return kubeconfig;
}

test("a kubeconfig built from the chart's token Secret lists nodes and runs pods in its namespace only", async () => {
  const kubeconfig = await lentKubeconfig();
  expect((await kubectl(kubeconfig, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim()).toBe(`system:serviceaccount:${NS}:${SA}`);
  expect(await kubectl(kubeconfig, ['get', 'nodes', '-o', 'name'])).toMatch(/^node\/provider-a-/m);

  const pod = uniqueName('lent');
  const manifest = yaml.dump({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod },
    spec: {
      priorityClassName: 'flotilla-lent-test',
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      containers: [
        { name: 'main', image: 'registry.example/trainer:1', resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } },
      ],
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
  });
  await expect(kubectl(kubeconfig, ['-n', NS, 'create', '-f', '-'], manifest)).resolves.toContain(`pod/${pod} created`);
  expect(await kubectl(kubeconfig, ['-n', NS, 'get', 'pod', pod, '-o', 'jsonpath={.spec.priority}'])).toBe('-100');
  await expect(kubectl(kubeconfig, ['-n', NS, 'delete', 'pod', pod, '--wait=false'])).resolves.toContain('deleted');
  await expect(kubectl(kubeconfig, ['-n', 'default', 'create', '-f', '-'], manifest)).rejects.toThrow(/forbidden/);
  await expect(kubectl(kubeconfig, ['-n', NS, 'get', 'secrets'])).rejects.toThrow(/forbidden/);
});

test('the ResourceQuota caps what lent work may request', async () => {
  const hard = await kubectl(admin(), ['-n', NS, 'get', 'resourcequota', 'flotilla-lent-gpus', '-o', 'jsonpath={.spec.hard}']);
  expect(JSON.parse(hard)).toEqual({ 'requests.nvidia.com/gpu': '2' });
  const greedy = yaml.dump({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: uniqueName('greedy') },
    spec: { containers: [{ name: 'main', image: 'registry.example/trainer:1', resources: { limits: { 'nvidia.com/gpu': '3' } } }] },
  });
  await expect(kubectl(admin(), ['-n', NS, 'create', '--dry-run=server', '-f', '-'], greedy)).rejects.toThrow(/exceeded quota/);
});

test("the fence: with the chart's credential a leader raises its token, and a create stamped below it is refused by this API server", async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(await lentKubeconfig());
  const core = kc.makeApiClient(CoreV1Api);
  const log: string[] = [];
  const key = uniqueName('hub_flotilla-system.lease');
  const fences = new ProviderFences({ stamp: { key, epoch: 4 }, confirmLeading: async () => false, log: (_level, msg) => log.push(msg) });
  // Only the chart's own binding (namespace-scoped) may be what refuses here: the federation's binds
  // every namespace with the ConfigMap, so this also holds for a chart installed on its own.
  await expect(fences.ensure('provider-a', { core, namespace: NS })).resolves.toBe('enforced');
  expect(log).toContain('fence raised');
  const stale = yaml.dump({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: uniqueName('stale'),
      labels: { 'flotilla.dev/job-uid': 'u', 'flotilla.dev/attempt': '1' },
      annotations: { 'flotilla.dev/fence-key': key, 'flotilla.dev/fence-epoch': '3' },
    },
    spec: { automountServiceAccountToken: false, restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.example/trainer:1' }] },
  });
  await expect(kubectl(admin(), ['-n', NS, 'create', '--dry-run=server', '-f', '-'], stale)).rejects.toThrow(
    new RegExp(`flotilla fence: a newer leader of hub lease ${key} holds token 4 in this namespace; this create carries 3`),
  );
  // A deposed leader (token 3) may not lower it: ensure names it deposed, as the hub's Lease confirms.
  const deposed = new ProviderFences({ stamp: { key, epoch: 3 }, confirmLeading: async () => false, log: () => undefined });
  await expect(deposed.ensure('provider-a', { core, namespace: NS })).rejects.toThrow(/deposed: provider-a answered with the fence's refusal/);
});
