// A provider cluster stopped and started again (`stopCluster`/`startCluster`) runs pods again as
// soon as startCluster returns. kwok's controller takes a new lease-holder identity on every start,
// so without startCluster's hand-over its nodes would stay the stopped controller's until their
// Leases expire (60 s here, 200 s at kwokctl's default) and no pod would start there meanwhile.
// Last, deleteCluster leaves nothing of the cluster in the state directory (this test creates one
// anyway; creating a cluster only to check that would cost another apiserver start).
import { existsSync } from 'node:fs';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { createCluster, deleteCluster, kubeconfigPath, kwokWorkdir, startCluster, stopCluster } from '../../federation/clusters.ts';
import { KWOK_NODE_ANNOTATION } from '../../federation/fleet.ts';
import { toolPaths } from '../../federation/paths.ts';
import { federation, pollUntil } from '../support/federation.ts';

const tools = toolPaths();
const cluster = `restart-${process.pid}`;
const node = `${cluster}-n0`;
let core: CoreV1Api;
let leases: CoordinationV1Api;

beforeAll(async () => {
  // Kubernetes' own heartbeat intervals: 60 s Leases renewed every 15 s.
  const info = await createCluster(federation().stateDir, cluster, 'provider', tools, { heartbeatFactor: 1.5 });
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  leases = kc.makeApiClient(CoordinationV1Api);
  const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
  // Pods need the namespace's default ServiceAccount, which the controller-manager makes shortly after start.
  await pollUntil(
    'the default ServiceAccount',
    () => core.listNamespacedServiceAccount({ namespace: 'default' }),
    (l) => l.items.some((sa) => sa.metadata?.name === 'default'),
    60_000,
  );
  await core.createNode({
    body: { metadata: { name: node, annotations: { [KWOK_NODE_ANNOTATION]: 'fake' }, labels: { type: 'kwok' } }, status: { capacity, allocatable: capacity } },
  });
}, 240_000);

afterAll(async () => {
  // The last test deletes it; this is for a run that failed before.
  if (existsSync(kwokWorkdir(federation().stateDir, cluster))) await deleteCluster(federation().stateDir, cluster, tools).catch(() => undefined);
}, 120_000);

const pod = (name: string): V1Pod => ({ metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox' }] } });
const running = (name: string, timeoutMs: number) =>
  pollUntil(
    `pod ${name} Running`,
    () => core.readNamespacedPod({ name, namespace: 'default' }),
    (p) => p.status?.phase === 'Running',
    timeoutMs,
    250,
  );
const holder = async () => (await leases.readNamespacedLease({ name: node, namespace: 'kube-node-lease' })).spec?.holderIdentity;

it('runs pods again as soon as startCluster returns: the restarted kwok controller holds the node', async () => {
  await core.createNamespacedPod({ namespace: 'default', body: pod('before') });
  await running('before', 60_000);
  const before = await holder();
  expect(before).toBeTruthy();

  await stopCluster(federation().stateDir, cluster, tools);
  const started = Date.now();
  // Under the 60 s Lease: it can only return in time if the stale holder was handed over.
  await startCluster(federation().stateDir, cluster, tools, { timeoutMs: 40_000 });
  const lease = await leases.readNamespacedLease({ name: node, namespace: 'kube-node-lease' });
  expect(lease.spec?.holderIdentity).toBeTruthy();
  expect(lease.spec?.holderIdentity).not.toBe(before);
  expect(Date.parse(String(lease.spec?.renewTime))).toBeGreaterThanOrEqual(started); // a MicroTime: a string here

  await core.createNamespacedPod({ namespace: 'default', body: pod('after') });
  await running('after', 15_000);
}, 240_000);

it("deleteCluster removes the cluster's kubeconfig and its kwok workdir", async () => {
  const { stateDir } = federation();
  expect(existsSync(kubeconfigPath(stateDir, cluster))).toBe(true);
  expect(existsSync(kwokWorkdir(stateDir, cluster))).toBe(true);

  await deleteCluster(stateDir, cluster, tools);
  expect(existsSync(kubeconfigPath(stateDir, cluster))).toBe(false);
  expect(existsSync(kwokWorkdir(stateDir, cluster))).toBe(false);
}, 120_000);
