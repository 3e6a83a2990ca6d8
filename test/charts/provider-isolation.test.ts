// The provider chart isolates lent work, shown against provider-a's real kube-apiserver: the chart is
// `helm install`ed (namespace flotilla-isolation-test, its own release and PriorityClass), and pods
// are created with the hub's credential — a kubeconfig built from the chart's token Secret, exactly
// what onboarding hands the hub. Pod Security Admission (`baseline` enforced) refuses the pods that
// would reach the node, and admits the pod the operator builds (operator/controllers/aijob/
// pod-template.ts, with its input-fetch init container); the LimitRange fills in that pod's missing
// cpu/memory; the NetworkPolicies are stored with exactly the intended rules. The local federation
// has no CNI, so whether those policies are *enforced* cannot be shown here (docs/charts.md).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1LimitRange, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { runCommand } from '../../federation/command.ts';
import { repoRoot, toolPaths } from '../../federation/paths.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { buildPod } from '../../operator/controllers/aijob/pod-template.ts';
import type { PodCreation } from '../../operator/core/lifecycle/types.ts';
import { providerKubeconfig } from '../../pulumi/kubeconfig.ts';
import { federation, pollUntil, uniqueName } from '../support/federation.ts';
import { canI, helm, kubectl } from './helm.ts';

const NS = 'flotilla-isolation-test';
const RELEASE = 'flotilla-isolation-test';
const PRIORITY_CLASS = 'flotilla-lent-isolation-test';
const SA = 'flotilla-hub';
const IPFS_CIDR = '10.0.0.5/32';
const HUB_CIDR = '192.0.2.0/24';
const admin = () => federation().providers.find((p) => p.name === 'provider-a')!.kubeconfig;
let dir = '';
let hubCredential = '';

/** kubectl with the hub's credential; stderr too, where the API server's warnings land. */
async function asHub(args: readonly string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return runCommand(toolPaths().kubectl, ['--kubeconfig', hubCredential, '-n', NS, ...args], { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });
}

/** The API server's answer to a create by the hub: 'created', or its refusal. */
const createAsHub = (pod: V1Pod) =>
  asHub(['create', '-f', '-'], JSON.stringify(pod)).then(
    () => 'created',
    (err: Error) => err.message,
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-isolation-'));
  await helm(['--kubeconfig', admin(), 'uninstall', RELEASE, '-n', 'default', '--wait', '--ignore-not-found']);
  await pollUntil(
    `namespace ${NS} gone from an earlier run`,
    () => kubectl(admin(), ['get', 'namespace', NS, '--ignore-not-found', '-o', 'name']),
    (out) => out.trim() === '',
    60_000,
    500,
  );
  await helm([
    '--kubeconfig',
    admin(),
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
    `priorityClass.name=${PRIORITY_CLASS}`,
    '--set',
    'lentGpus=2',
    '--set',
    `networkPolicy.ipfs.cidrs={${IPFS_CIDR}}`,
    '--set',
    `networkPolicy.hubReport.cidrs={${HUB_CIDR}}`,
  ]);
  // The hub's credential, as onboarding builds it: the chart's token Secret, the provider's CA and server.
  const data = await pollUntil(
    `the token controller filling ${NS}/${SA}-token`,
    async () => JSON.parse((await kubectl(admin(), ['-n', NS, 'get', 'secret', `${SA}-token`, '-o', 'jsonpath={.data}'])) || '{}') as Record<string, string>,
    (d) => !!d.token && !!d['ca.crt'],
    30_000,
    250,
  );
  const server = (await kubectl(admin(), ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
  hubCredential = join(dir, 'hub-at-provider-a.kubeconfig');
  writeFileSync(
    hubCredential,
    providerKubeconfig({ server, caData: data['ca.crt']!, token: Buffer.from(data.token!, 'base64').toString('utf8'), namespace: NS }),
    { mode: 0o600 },
  );
}, 150_000);

afterAll(async () => {
  // Uninstalling deletes the namespace, with any pod left in it.
  await helm(['--kubeconfig', admin(), 'uninstall', RELEASE, '-n', 'default', '--wait', '--ignore-not-found']);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

const container = { name: 'main', image: 'registry.example/trainer:1' };
const hostile: Array<[string, V1Pod['spec'], RegExp]> = [
  [
    'a privileged container',
    { containers: [{ ...container, securityContext: { privileged: true } }] },
    /privileged \(container "main" must not set securityContext\.privileged=true\)/,
  ],
  [
    "a hostPath volume of the node's root",
    { containers: [{ ...container, volumeMounts: [{ name: 'host', mountPath: '/host' }] }], volumes: [{ name: 'host', hostPath: { path: '/' } }] },
    /hostPath volumes \(volume "host"\)/,
  ],
  ["the node's network namespace", { hostNetwork: true, containers: [container] }, /host namespaces \(hostNetwork=true\)/],
  ["the node's PID namespace", { hostPID: true, containers: [container] }, /host namespaces \(hostPID=true\)/],
  [
    'an added SYS_ADMIN capability',
    { containers: [{ ...container, securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] },
    /non-default capabilities \(container "main" must not include "SYS_ADMIN"/,
  ],
];

describe('Pod Security Admission on the lent namespace', () => {
  test('the namespace enforces baseline and warns and audits restricted', async () => {
    const labels = JSON.parse(await kubectl(admin(), ['get', 'namespace', NS, '-o', 'jsonpath={.metadata.labels}'])) as Record<string, string>;
    expect(labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
  });

  test.each(hostile)("a pod with %s, created with the hub's credential, is refused by the provider's apiserver", async (_what, spec, violation) => {
    const refusal = await createAsHub({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: uniqueName('hostile') },
      spec: { ...spec!, priorityClassName: PRIORITY_CLASS, restartPolicy: 'Never' },
    });
    // Refused by PodSecurity, not by RBAC: the credential may create pods here.
    expect(refusal).toContain('violates PodSecurity "baseline:latest"');
    expect(refusal).toMatch(violation);
  });

  test("the operator's job pod, with its input-fetch init container, is admitted; LimitRange defaults fill its missing cpu/memory", async () => {
    const job: AIJob = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'AIJob',
      metadata: { namespace: 'team-a', name: uniqueName('iso'), uid: '0f0e0d0c-1111-4222-8333-444455556666' },
      spec: {
        image: 'registry.example/trainer:1',
        replicas: 1,
        priority: 0,
        resources: { gpus: 1 },
        output: { path: '/out', pin: true },
        recovery: { maxRestarts: 3, strategy: 'Failover' },
        inputs: [{ name: 'dataset', cid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', mountPath: '/data' }],
      },
    };
    const creation = {
      provider: 'provider-a',
      attempt: 1,
      replicas: [0],
      placement: {
        provider: 'provider-a',
        product: 'NVIDIA-H100-80GB-HBM3',
        resourceName: 'nvidia.com/gpu',
        nodeSelector: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] }],
      },
    } as unknown as PodCreation;
    const pod = buildPod(
      job,
      creation,
      0,
      { namespace: NS, priorityClassName: PRIORITY_CLASS, ipfsGateway: `http://${IPFS_CIDR.split('/')[0]}:8080` },
      'hub-isolation-test',
      { url: 'https://hub.example:443', secret: 'report-secret' },
    );
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['flotilla-inputs']);

    const { stderr } = await asHub(['create', '-f', '-'], JSON.stringify(pod));
    try {
      // Restricted is only warned about (a job's image may need root): the warning proves the label is
      // live, and names nothing but root — privilege escalation, capabilities and seccomp are locked down.
      const warning = /would violate PodSecurity "restricted:latest": (.*)/.exec(stderr)?.[1] ?? '';
      expect(warning).toMatch(/^runAsNonRoot != true \(pod or containers "flotilla-inputs", "main" must set securityContext\.runAsNonRoot=true\)$/);
      const stored = JSON.parse((await asHub(['get', 'pod', pod.metadata!.name!, '-o', 'json'])).stdout) as V1Pod;
      const [init] = stored.spec!.initContainers!;
      const [main] = stored.spec!.containers;
      expect(init!.resources).toEqual({ requests: { cpu: '1', memory: '4Gi' }, limits: { cpu: '16', memory: '64Gi' } });
      expect(main!.resources).toEqual({
        requests: { cpu: '1', memory: '4Gi', 'nvidia.com/gpu': '1' },
        limits: { cpu: '16', memory: '64Gi', 'nvidia.com/gpu': '1' },
      });
    } finally {
      await asHub(['delete', 'pod', pod.metadata!.name!, '--wait=false', '--grace-period=0']);
    }
  });
});

describe('NetworkPolicies and LimitRange of the lent namespace', () => {
  const lentPods = {
    matchExpressions: [
      { key: 'flotilla.dev/job-uid', operator: 'Exists' },
      { key: 'flotilla.dev/attempt', operator: 'Exists' },
    ],
  };

  test("default deny for every pod; egress only to DNS, the IPFS and hub CIDRs on their ports, and the hub's other pods", async () => {
    const policies = (JSON.parse(await kubectl(admin(), ['-n', NS, 'get', 'networkpolicies', '-o', 'json'])) as { items: V1NetworkPolicy[] }).items;
    expect(policies.map((p) => p.metadata?.name).sort()).toEqual(['flotilla-default-deny', 'flotilla-lent-pods']);
    const deny = policies.find((p) => p.metadata?.name === 'flotilla-default-deny')!.spec!;
    expect(deny).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });

    const allow = policies.find((p) => p.metadata?.name === 'flotilla-lent-pods')!.spec!;
    expect(allow.podSelector).toEqual(lentPods);
    expect(allow.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(allow.ingress).toEqual([{ from: [{ podSelector: lentPods }] }]);
    expect(allow.egress).toEqual([
      { to: [{ podSelector: lentPods }] },
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      {
        to: [{ ipBlock: { cidr: IPFS_CIDR } }],
        ports: [
          { protocol: 'TCP', port: 8080 },
          { protocol: 'TCP', port: 5001 },
        ],
      },
      {
        to: [{ ipBlock: { cidr: HUB_CIDR } }],
        ports: [
          { protocol: 'TCP', port: 443 },
          { protocol: 'TCP', port: 8080 },
        ],
      },
    ]);
  });

  test('the LimitRange sets cpu/memory defaults for containers', async () => {
    const limitRange = JSON.parse(await kubectl(admin(), ['-n', NS, 'get', 'limitrange', 'flotilla-lent-defaults', '-o', 'json'])) as V1LimitRange;
    expect(limitRange.spec?.limits).toEqual([{ type: 'Container', defaultRequest: { cpu: '1', memory: '4Gi' }, default: { cpu: '16', memory: '64Gi' } }]);
  });

  test.each([
    ['delete the NetworkPolicies', ['delete', 'networkpolicies', '-n', NS]],
    ['create NetworkPolicies', ['create', 'networkpolicies', '-n', NS]],
    ['change the LimitRange', ['patch', 'limitranges', '-n', NS]],
    ['relabel the namespace (its Pod Security level)', ['patch', `namespaces/${NS}`]],
  ])("the hub's credential may not %s", async (_what, args) => {
    await expect(canI(admin(), [...args, `--as=system:serviceaccount:${NS}:${SA}`])).resolves.toBe(false);
  });
});
