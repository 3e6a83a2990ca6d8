// A real `helm install` of charts/flotilla into the hub (its own namespace and release, replicas 0:
// the hub runs no pods), then the operator ServiceAccount's exact allow-list, and the tenant roles
// as the apiserver enforces them: ServiceAccounts bound in one namespace to the built-in edit and
// view roles, acting with their own minted tokens. The federation's CRDs already exist: Helm skips
// its crds/ then, and never deletes CRDs on uninstall.
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { repoRoot } from '../../federation/paths.ts';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { namespaceTenant, smallJob } from '../http/support.ts';
import type { Tenant } from '../http/support.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import { canI, helm, kubectl, parseCanIList } from './helm.ts';

const NS = 'flotilla-hub-test';
const RELEASE = 'flotilla-hub-test';
const AS = `--as=system:serviceaccount:${NS}:flotilla-operator`;
const hub = () => federation().hub.kubeconfig;

beforeAll(async () => {
  await helm(['--kubeconfig', hub(), 'uninstall', RELEASE, '-n', NS, '--wait', '--ignore-not-found']);
  await helm([
    '--kubeconfig',
    hub(),
    'install',
    RELEASE,
    join(repoRoot, 'charts', 'flotilla'),
    '-n',
    NS,
    '--create-namespace',
    '--wait',
    '--timeout',
    '60s',
    '--set',
    'replicas=0',
    '--set',
    'providerSecretNames={provider-x-kubeconfig}',
    // No replica answers here and the webhook fails closed: it judges only objects nobody creates.
    '--set-json',
    `webhook.objectSelector={"matchLabels":{"flotilla.dev/test":"${NS}"}}`,
  ]);
});
afterAll(async () => {
  await helm(['--kubeconfig', hub(), 'uninstall', RELEASE, '-n', NS, '--wait', '--ignore-not-found']);
  await kubectl(hub(), ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

const resourceRules = async (namespace: string) =>
  parseCanIList(await kubectl(hub(), ['auth', 'can-i', '--list', AS, '-n', namespace]))
    .filter((r) => r.resource !== '' && !r.resource.startsWith('selfsubject'))
    .map((r) => `${r.resource} ${r.resourceNames} ${r.verbs}`)
    .sort();

const clusterWide = [
  'aijobs.flotilla.dev [] [get list watch patch]',
  'aijobs.flotilla.dev/status [] [patch]',
  'events [] [create]',
  'gpuproviders.flotilla.dev [] [get list watch]',
  'gpuproviders.flotilla.dev/status [] [patch]',
  'namespaces [] [get list watch]',
  'subjectaccessreviews.authorization.k8s.io [] [create]',
  'tokenreviews.authentication.k8s.io [] [create]',
];

test('in its namespace the operator may do exactly this: Leases, the named provider Secrets, its callback master', async () => {
  expect(await resourceRules(NS)).toEqual(
    [
      ...clusterWide,
      'leases.coordination.k8s.io [] [get create update]',
      'secrets [provider-x-kubeconfig] [get]',
      // No callbacks.secret in these values: the generated callback master, by name for reading.
      'secrets [] [create]',
      'secrets [flotilla-callback-master] [get]',
    ].sort(),
  );
});

test('elsewhere only the cluster-wide rules apply', async () => {
  expect(await resourceRules('default')).toEqual(clusterWide);
});

test.each([
  ['read a provider Secret not listed', ['get', 'secrets/other', '-n', NS]],
  ['list Secrets in its namespace', ['list', 'secrets', '-n', NS]],
  ['read Secrets elsewhere', ['get', 'secrets', '-n', 'default']],
  ['create AIJobs', ['create', 'aijobs.flotilla.dev', '-n', 'default']],
  ['delete AIJobs', ['delete', 'aijobs.flotilla.dev', '-n', 'default']],
  ['create GPUProviders', ['create', 'gpuproviders.flotilla.dev']],
  ['touch Leases outside its namespace', ['update', 'leases.coordination.k8s.io', '-n', 'kube-system']],
  ['create pods in the hub', ['create', 'pods', '-n', NS]],
  ['create ClusterRoles', ['create', 'clusterroles']],
  ['escalate ClusterRoles', ['escalate', 'clusterroles']],
  ['bind ClusterRoles', ['bind', 'clusterroles']],
  ['impersonate users', ['impersonate', 'users']],
  ['change CRDs', ['update', 'customresourcedefinitions.apiextensions.k8s.io']],
  ['update AIJob status (it patches)', ['update', 'aijobs.flotilla.dev', '--subresource=status', '-n', 'default']],
  ['patch Events (it only creates them)', ['patch', 'events', '-n', 'default']],
  ['change webhook configurations', ['update', 'validatingwebhookconfigurations.admissionregistration.k8s.io']],
  ['change defaulting webhook configurations', ['update', 'mutatingwebhookconfigurations.admissionregistration.k8s.io']],
  ['annotate namespaces', ['patch', 'namespaces/default']],
  ['read its own webhook certificate (mounted by the kubelet instead)', ['get', 'secrets/flotilla-operator-webhook-tls', '-n', NS]],
])('it may not %s', async (_what, args) => {
  await expect(canI(hub(), [...args, AS])).resolves.toBe(false);
});

test('it may read the listed provider Secret', async () => {
  await expect(canI(hub(), ['get', 'secrets/provider-x-kubeconfig', '-n', NS, AS])).resolves.toBe(true);
});

test('helm upgrade keeps the generated webhook certificate, and the caBundle stays the CA that signed it', async () => {
  const read = async () => {
    const data = JSON.parse(await kubectl(hub(), ['-n', NS, 'get', 'secret', 'flotilla-operator-webhook-tls', '-o', 'jsonpath={.data}'])) as Record<
      string,
      string
    >;
    const bundles = (
      await kubectl(hub(), [
        'get',
        'validatingwebhookconfiguration',
        `${NS}-${RELEASE}-flotilla-operator`,
        '-o',
        'jsonpath={.webhooks[*].clientConfig.caBundle}',
      ])
    )
      .trim()
      .split(' ');
    return { crt: data['tls.crt'], ca: data['ca.crt'], bundles };
  };
  const before = await read();
  expect(before.bundles).toEqual([before.ca, before.ca]);
  await helm([
    '--kubeconfig',
    hub(),
    'upgrade',
    RELEASE,
    join(repoRoot, 'charts', 'flotilla'),
    '-n',
    NS,
    '--reuse-values',
    '--wait',
    '--timeout',
    '60s',
    '--set',
    'operator.workers=2',
  ]);
  expect(await read()).toEqual(before);
});

test("the NetworkPolicy selects the operator's pods, opens the webhook port to all, the HTTP port to the chart's helm test pod and to networkPolicy.httpFrom", async () => {
  const policy = JSON.parse(await kubectl(hub(), ['-n', NS, 'get', 'networkpolicy', 'flotilla-operator', '-o', 'json'])) as {
    spec: { podSelector: unknown; policyTypes: string[]; ingress: Array<{ ports: Array<{ port: number }>; from?: unknown[] }> };
  };
  expect(policy.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/instance': RELEASE } });
  expect(policy.spec.policyTypes).toEqual(['Ingress']);
  expect(policy.spec.ingress).toEqual([
    { ports: [{ port: 9443, protocol: 'TCP' }] },
    // The helm test hook (templates/tests/readiness.yaml) checks /readyz from its own pod.
    {
      ports: [{ port: 8080, protocol: 'TCP' }],
      from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'helm-test', 'app.kubernetes.io/instance': RELEASE } } }],
    },
    { ports: [{ port: 8080, protocol: 'TCP' }], from: [{ namespaceSelector: {} }] },
  ]);
});

describe('tenant roles: flotilla-edit and flotilla-view through the built-in edit and view', () => {
  const admin = clusterClients('hub');
  let a = '';
  let b = '';
  let editor: Tenant;
  let viewer: Tenant;
  const jobs = (t: Tenant) => t.kc.makeApiClient(CustomObjectsApi);
  const ref = (namespace: string) => ({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (err: { code?: number }) => err.code ?? -1,
    );

  beforeAll(async () => {
    a = await createNamespace(admin.core, 't-tenant-a');
    b = await createNamespace(admin.core, 't-tenant-b');
    editor = await namespaceTenant(admin.kc, a, 'editor', 'edit');
    viewer = await namespaceTenant(admin.kc, a, 'viewer', 'view');
    // The clusterrole-aggregation controller copies the chart's rules into edit and view.
    await pollUntil(
      'flotilla-view aggregated into view',
      () => canI(hub(), ['list', 'aijobs.flotilla.dev', '-n', a, `--as=${viewer.username}`]),
      (yes) => yes,
      30_000,
    );
    await pollUntil(
      'flotilla-edit aggregated into edit',
      () => canI(hub(), ['create', 'aijobs.flotilla.dev', '-n', a, `--as=${editor.username}`]),
      (yes) => yes,
      30_000,
    );
  });
  afterAll(async () => {
    await deleteNamespace(admin.core, a);
    await deleteNamespace(admin.core, b);
  });

  test('a namespace editor creates, reads and deletes AIJobs in its namespace with its own token', async () => {
    const created = (await jobs(editor).createNamespacedCustomObject({ ...ref(a), body: smallJob('mine', a, 5) })) as { metadata: { uid: string } };
    expect(created.metadata.uid).not.toBe('');
    expect(await code(jobs(editor).getNamespacedCustomObject({ ...ref(a), name: 'mine' }))).toBe(200);
    expect(
      await code(
        jobs(editor).patchNamespacedCustomObject(
          { ...ref(a), name: 'mine', body: { metadata: { labels: { team: 'a' } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(200);
  });

  test("the editor may not write the status (the operator's record of phase, attempts, funding and settlement)", async () => {
    const body = { status: { phase: 'Succeeded', settlement: { state: 'Settled' } } };
    expect(
      await code(jobs(editor).patchNamespacedCustomObjectStatus({ ...ref(a), name: 'mine', body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))),
    ).toBe(403);
    const current = (await jobs(editor).getNamespacedCustomObject({ ...ref(a), name: 'mine' })) as Record<string, unknown>;
    expect(await code(jobs(editor).replaceNamespacedCustomObjectStatus({ ...ref(a), name: 'mine', body: { ...current, ...body } }))).toBe(403);
    // Writing status through the main resource is ignored (the status subresource), not an escalation.
    const replaced = (await jobs(editor).replaceNamespacedCustomObject({ ...ref(a), name: 'mine', body: { ...current, ...body } })) as {
      status?: { phase?: string };
    };
    expect(replaced.status?.phase).not.toBe('Succeeded');
  });

  test('the editor reads and writes nothing in another namespace', async () => {
    expect(await code(jobs(editor).listNamespacedCustomObject(ref(b)))).toBe(403);
    expect(await code(jobs(editor).createNamespacedCustomObject({ ...ref(b), body: smallJob('theirs', b, 5) }))).toBe(403);
    expect(await code(jobs(editor).listClusterCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural }))).toBe(403);
  });

  test('the editor writes no GPUProvider, nor its status', async () => {
    const providers = { group: GROUP, version: VERSION, plural: GPUPROVIDER.plural };
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: GPUPROVIDER.kind,
      metadata: { name: `evil-${a}` },
      spec: { kubeconfigSecretRef: { name: 'x', namespace: a }, payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', prices: [] },
    };
    expect(await code(jobs(editor).createClusterCustomObject({ ...providers, body }))).toBe(403);
    expect(
      await code(
        jobs(editor).patchClusterCustomObject(
          { ...providers, name: 'provider-a', body: { spec: { cordoned: true } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(403);
    expect(
      await code(
        jobs(editor).patchClusterCustomObjectStatus(
          { ...providers, name: 'provider-a', body: { status: { freeGpus: 999 } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(403);
    expect(await code(jobs(editor).deleteClusterCustomObject({ ...providers, name: 'provider-a' }))).toBe(403);
    // Cluster-scoped: no namespace RoleBinding grants reading them either (flotilla-provider-view is for a ClusterRoleBinding).
    expect(await code(jobs(editor).listClusterCustomObject(providers))).toBe(403);
  });

  test('a namespace viewer gets and lists AIJobs there, and changes nothing', async () => {
    expect(await code(jobs(viewer).getNamespacedCustomObject({ ...ref(a), name: 'mine' }))).toBe(200);
    const list = (await jobs(viewer).listNamespacedCustomObject(ref(a))) as { items: Array<{ metadata: { name: string } }> };
    expect(list.items.map((j) => j.metadata.name)).toEqual(['mine']);
    expect(await code(jobs(viewer).createNamespacedCustomObject({ ...ref(a), body: smallJob('viewer-made', a, 5) }))).toBe(403);
    expect(
      await code(
        jobs(viewer).patchNamespacedCustomObject(
          { ...ref(a), name: 'mine', body: { metadata: { labels: { x: 'y' } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(403);
    expect(await code(jobs(viewer).deleteNamespacedCustomObject({ ...ref(a), name: 'mine' }))).toBe(403);
    expect(await code(jobs(viewer).listNamespacedCustomObject(ref(b)))).toBe(403);
  });

  test('the editor deletes its own job', async () => {
    expect(await code(jobs(editor).deleteNamespacedCustomObject({ ...ref(a), name: 'mine' }))).toBe(200);
  });

  test.each([
    ['update AIJob status', ['update', 'aijobs.flotilla.dev', '--subresource=status']],
    ['patch AIJob status', ['patch', 'aijobs.flotilla.dev', '--subresource=status']],
    ['create GPUProviders', ['create', 'gpuproviders.flotilla.dev']],
    ['update GPUProviders', ['update', 'gpuproviders.flotilla.dev']],
    ['patch GPUProvider status', ['patch', 'gpuproviders.flotilla.dev', '--subresource=status']],
  ])('neither role may %s (kubectl auth can-i)', async (_what, args) => {
    for (const who of [editor, viewer]) await expect(canI(hub(), [...args, '-n', a, `--as=${who.username}`])).resolves.toBe(false);
  });
});
