// A real `helm install` of charts/flotilla into the hub (its own namespace and release, replicas 0:
// the hub runs no pods), then the operator ServiceAccount's exact allow-list. The federation's CRDs
// already exist: Helm skips its crds/ then, and never deletes CRDs on uninstall.
import { join } from 'node:path';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';
import { canI, helm, kubectl, parseCanIList } from './helm.ts';

const NS = 'flotilla-hub-test';
const RELEASE = 'flotilla-hub-test';
const AS = `--as=system:serviceaccount:${NS}:flotilla-operator`;
const hub = () => federation().hub.kubeconfig;

beforeAll(async () => {
  await helm(['--kubeconfig', hub(), 'uninstall', RELEASE, '-n', NS, '--wait', '--ignore-not-found']);
  await helm(['--kubeconfig', hub(), 'install', RELEASE, join(repoRoot, 'charts', 'flotilla'), '-n', NS, '--create-namespace', '--wait', '--timeout', '60s',
    '--set', 'replicas=0', '--set', 'providerSecretNames={provider-x-kubeconfig}',
    // No replica answers here and the webhook fails closed: it judges only objects nobody creates.
    '--set-json', `webhook.objectSelector={"matchLabels":{"flotilla.dev/test":"${NS}"}}`]);
});
afterAll(async () => {
  await helm(['--kubeconfig', hub(), 'uninstall', RELEASE, '-n', NS, '--wait', '--ignore-not-found']);
  await kubectl(hub(), ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

const resourceRules = async (namespace: string) =>
  parseCanIList(await kubectl(hub(), ['auth', 'can-i', '--list', AS, '-n', namespace]))
    .filter((r) => r.resource !== '' && !r.resource.startsWith('selfsubject'))
    .map((r) => `${r.resource} ${r.resourceNames} ${r.verbs}`).sort();

const clusterWide = [
  'aijobs.flotilla.dev [] [get list watch patch]',
  'aijobs.flotilla.dev/status [] [patch]',
  'events [] [create]',
  'gpuproviders.flotilla.dev [] [get list watch]',
  'gpuproviders.flotilla.dev/status [] [patch]',
  'namespaces [] [get]',
];

test('in its namespace the operator may do exactly this: Leases, and the named provider Secrets', async () => {
  expect(await resourceRules(NS)).toEqual([
    ...clusterWide,
    'leases.coordination.k8s.io [] [get create update]',
    'secrets [provider-x-kubeconfig] [get]',
  ].sort());
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
  ['list namespaces (it reads one by name)', ['list', 'namespaces']],
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
    const data = JSON.parse(await kubectl(hub(), ['-n', NS, 'get', 'secret', 'flotilla-operator-webhook-tls', '-o', 'jsonpath={.data}'])) as Record<string, string>;
    const bundles = (await kubectl(hub(), ['get', 'validatingwebhookconfiguration', `${NS}-${RELEASE}-flotilla-operator`, '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}'])).trim().split(' ');
    return { crt: data['tls.crt'], ca: data['ca.crt'], bundles };
  };
  const before = await read();
  expect(before.bundles).toEqual([before.ca, before.ca]);
  await helm(['--kubeconfig', hub(), 'upgrade', RELEASE, join(repoRoot, 'charts', 'flotilla'), '-n', NS, '--reuse-values', '--wait', '--timeout', '60s', '--set', 'operator.workers=2']);
  expect(await read()).toEqual(before);
});
