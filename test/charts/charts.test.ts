// Both Helm charts against the real helm binary and the federation's real API servers: lint,
// render, server-side dry run; the hub chart's CRDs are the generated ones byte for byte.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';
import { documents, helm, kubectl } from './helm.ts';

const hubChart = join(repoRoot, 'charts', 'flotilla');
const providerChart = join(repoRoot, 'charts', 'flotilla-provider');

interface Manifest { kind: string; metadata: { name: string; namespace?: string }; rules?: Array<{ resources: string[]; verbs: string[]; resourceNames?: string[] }>; [k: string]: unknown }
const parse = (rendered: string) => documents(rendered).map((d) => yaml.load(d) as Manifest);

describe('charts/flotilla (hub)', () => {
  test('its crds/ are the generated crds/ byte for byte', () => {
    const generated = readdirSync(join(repoRoot, 'crds')).sort();
    expect(readdirSync(join(hubChart, 'crds')).sort()).toEqual(generated);
    for (const file of generated) {
      expect(readFileSync(join(hubChart, 'crds', file)).equals(readFileSync(join(repoRoot, 'crds', file)))).toBe(true);
    }
  });

  test('helm lint passes', async () => {
    await expect(helm(['lint', '--strict', hubChart, '--set', 'providerSecretNames={provider-a-kubeconfig}'])).resolves.toContain('0 chart(s) failed');
  });

  test('values.schema.json rejects a value of the wrong type', async () => {
    await expect(helm(['template', 't', hubChart, '--set', 'operator.workers=many'])).rejects.toThrow(/workers/);
  });

  test('renders the operator with the configured environment', async () => {
    const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'operator.rateLimits.hub.qps=7', '--set', 'operator.watchNamespace=team-a']));
    const deploy = out.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ command: string[]; env: Array<{ name: string; value?: string }> }> } } } };
    const container = deploy.spec.template.spec.containers[0]!;
    expect(container.command).toEqual(['node', 'operator/main.ts']);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? '<from field>']));
    expect(env).toEqual({
      FLOTILLA_NAMESPACE: '<from field>', FLOTILLA_IDENTITY: '<from field>', FLOTILLA_HUB_ID: 'hub', FLOTILLA_WATCH_NAMESPACE: 'team-a',
      FLOTILLA_LEASE_NAME: 'flotilla-operator', FLOTILLA_HUB_QPS: '7', FLOTILLA_HUB_BURST: '100', FLOTILLA_PROVIDER_QPS: '20',
      FLOTILLA_PROVIDER_BURST: '40', FLOTILLA_WORKERS: '4', FLOTILLA_LEASE_DURATION_MS: '15000', FLOTILLA_RENEW_DEADLINE_MS: '10000',
      FLOTILLA_LEASE_RETRY_MS: '2000', FLOTILLA_LOG_LEVEL: 'info',
    });
  });

  test('Secrets are readable only by name, and not at all when no name is given', async () => {
    const role = (rendered: string) => parse(rendered).find((m) => m.kind === 'Role')!;
    const named = role(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'providerSecretNames={provider-a-kubeconfig,provider-b-kubeconfig}']));
    expect(named.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['provider-a-kubeconfig', 'provider-b-kubeconfig'] },
    ]);
    const none = role(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system']));
    expect(none.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    const clusterRole = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system'])).find((m) => m.kind === 'ClusterRole')!;
    expect(clusterRole.rules!.flatMap((r) => r.resources)).not.toContain('secrets');
  });

  test('the rendered manifests, CRDs included, pass a server-side dry run against the hub', async () => {
    const rendered = await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--include-crds', '--set', 'providerSecretNames={provider-a-kubeconfig}']);
    const out = await kubectl(federation().hub.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], rendered);
    for (const kind of ['customresourcedefinition', 'serviceaccount', 'clusterrole', 'clusterrolebinding', 'role', 'rolebinding', 'deployment']) {
      expect(out).toMatch(new RegExp(`^${kind}[^ ]* .*\\(server dry run\\)$`, 'm'));
    }
  });
});

describe('charts/flotilla-provider', () => {
  test('helm lint passes', async () => {
    await expect(helm(['lint', '--strict', providerChart, '--set', 'lentGpus=4'])).resolves.toContain('0 chart(s) failed');
  });

  test('values.schema.json refuses a PriorityClass that would not be below default work', async () => {
    await expect(helm(['template', 't', providerChart, '--set', 'priorityClass.value=0'])).rejects.toThrow(/priorityClass/);
  });

  test('renders exactly the objects a provider lends with', async () => {
    const out = parse(await helm(['template', 'lend', providerChart, '--set', 'lentGpus=4', '--set', 'provider.name=provider-a',
      '--set', 'provider.payoutAddress=0x70997970C51812dc3A010C7d01b50e0d17dc79C8', '--set', 'provider.prices.NVIDIA-H100-80GB-HBM3=2.40']));
    expect(out.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ClusterRole/lend-flotilla-provider-nodes', 'ClusterRoleBinding/lend-flotilla-provider-nodes', 'ConfigMap/flotilla-provider',
      'Namespace/flotilla-workloads', 'PriorityClass/flotilla-lent', 'ResourceQuota/flotilla-lent-gpus', 'Role/flotilla-hub',
      'RoleBinding/flotilla-hub', 'Secret/flotilla-hub-token', 'ServiceAccount/flotilla-hub',
    ]);
    expect(out.find((m) => m.kind === 'PriorityClass')).toMatchObject({ value: -100, preemptionPolicy: 'Never', globalDefault: false });
    expect(out.find((m) => m.kind === 'ResourceQuota')).toMatchObject({ spec: { hard: { 'requests.nvidia.com/gpu': '4' } } });
    expect(out.find((m) => m.kind === 'Secret')).toMatchObject({ type: 'kubernetes.io/service-account-token', metadata: { annotations: { 'kubernetes.io/service-account.name': 'flotilla-hub' } } });
    expect(out.find((m) => m.kind === 'ConfigMap')).toMatchObject({ data: { payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', 'prices.json': '{"NVIDIA-H100-80GB-HBM3":"2.40"}' } });
  });

  test('the rendered manifests pass a server-side dry run against a provider', async () => {
    // Namespaced objects need their namespace to exist for a dry run: the federation's flotilla-workloads.
    const rendered = await helm(['template', 'lend', providerChart, '--set', 'lentGpus=2']);
    const out = await kubectl(federation().providers[0]!.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], rendered);
    for (const kind of ['namespace', 'serviceaccount', 'secret', 'role', 'rolebinding', 'clusterrole', 'clusterrolebinding', 'priorityclass', 'resourcequota', 'configmap']) {
      expect(out).toMatch(new RegExp(`^${kind}[^ ]* .*\\(server dry run\\)$`, 'm'));
    }
  });
});
