// The slow signals, on a provider cluster of this test's own (so the shared federation's providers
// keep answering for everyone else):
//
//   NodeLost             its node stops heartbeating — the cluster's kwok controller, the kubelet of
//                        every node there, is killed — and its own node lifecycle controller declares
//                        the node NotReady after the grace (heartbeat factor 1.5: 60 s)
//   ProviderUnreachable  its API server stops answering. Flotilla must first mark it unreachable
//                        (the job says so and waits out the grace), then fail over; when the provider
//                        comes back, the old attempt's pod is still there — it is deleted (fenced)
//                        and never counted again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCluster, deleteCluster, kwokWorkdir, startCluster, stopCluster } from '../../federation/clusters.ts';
import { freePort } from '../../federation/daemon.ts';
import { runExecutor } from '../../federation/executor.ts';
import { toolPaths } from '../../federation/paths.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, uniqueName } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import {
  addProvider,
  waitProvidersReady,
  clusterRef,
  cornerJob,
  createJob,
  deleteJob,
  envOf,
  HUB_OPERATOR_NAMESPACE,
  jobEventReasons,
  jobPods,
  newCorner,
  providerOf,
  removeCorner,
  waitJob,
  waitNodesReady,
} from '../support/corner.ts';

const hub = clusterClients('hub');
const corner = newCorner();
const cluster = `pe-${corner.id}-x`;
const X = `pe-${corner.id}-x`;
const B = `pe-${corner.id}-b`;
const X2 = `pe-${corner.id}-x2`;
let clusterKubeconfig = '';
const secretName = `provider-${cluster}-kubeconfig`;
let ns = '';
let operator: OperatorProcess | undefined;
let stopExecutor: (() => void) | undefined;
const tools = toolPaths();

beforeAll(async () => {
  const ep = federation();
  ns = await createNamespace(hub.core, 't-unreach');
  const info = await createCluster(ep.stateDir, cluster, 'provider', tools, { heartbeatFactor: 1.5 });
  clusterKubeconfig = info.kubeconfig;
  await hub.core.createNamespacedSecret({
    namespace: HUB_OPERATOR_NAMESPACE,
    body: { metadata: { name: secretName }, stringData: { kubeconfig: readFileSync(info.kubeconfig, 'utf8') } },
  });
  await addProvider(corner, { name: X, cluster: clusterRef(cluster, info.kubeconfig), price: '0.50', secretName });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '2.00' });
  // The simulated containers of this cluster: the same executor as the federation's, in this process.
  stopExecutor = runExecutor({ providers: [{ name: cluster, kubeconfig: info.kubeconfig }], kuboApi: ep.kubo.provider.api });
  const port = await freePort();
  operator = startOperator(ns, {
    FLOTILLA_REPORT_PORT: String(port),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${port}`,
    FLOTILLA_REPORT_SECRET: 'preemption-test-report-secret',
    FLOTILLA_PROVIDER_GRACE_MS: '8000',
  });
  // Placement sees only Ready providers and Ready nodes: start nothing before both are, at the
  // provider and in the operator's view of it.
  for (const p of [X, B]) await waitNodesReady(corner, p, 120_000);
  await waitProvidersReady(corner, [X, B], operator!);
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  stopExecutor?.();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner).catch(() => undefined);
  await hub.core.deleteNamespacedSecret({ name: secretName, namespace: HUB_OPERATOR_NAMESPACE }).catch(() => undefined);
  await deleteCluster(federation().stateDir, cluster, tools).catch(() => undefined);
}, 120_000);

it('ProviderUnreachable: marks the provider unreachable, fails over after the grace, and fences the old pod when it heals', async () => {
  const name = uniqueName('apiserver');
  await createJob(cornerJob(corner, ns, name));
  const running = await waitJob(
    ns,
    name,
    `Running on ${X} with a checkpoint`,
    (j) => j.status?.phase === 'Running' && j.status.attempts?.[0]?.provider === X && Boolean(j.status.attempts[0].checkpointCID),
    90_000,
  );
  const uid = running.metadata.uid ?? '';
  const oldPod = `${name}-${uid.slice(0, 8)}-a1-r0`;

  await stopCluster(federation().stateDir, cluster, tools);
  const stopped = Date.now();
  // First: unreachable, not failed over.
  const waiting = await waitJob(
    ns,
    name,
    'says the provider is unreachable',
    (j) => j.status?.conditions?.some((c) => c.type === 'Running' && c.reason === 'ProviderUnreachable') ?? false,
    60_000,
  );
  expect(waiting.status?.attempts).toHaveLength(1);
  expect(waiting.status?.attempts?.[0]?.endTime).toBeUndefined();
  // Then, after the grace: attempt 2 on B from the checkpoint attempt 1 last reported.
  const moved = await waitJob(ns, name, `resumed on ${B}`, (j) => j.status?.attempts?.[1]?.provider === B && j.status.phase === 'Running', 90_000);
  const [first] = moved.status?.attempts ?? [];
  expect(first).toMatchObject({ provider: X, reason: 'Preempted: ProviderUnreachable' });
  expect(first?.message).toContain('(grace 8s)');
  // Closed no sooner than the grace after the provider's last answer, which the message names.
  const since = Date.parse(/not answered since (\S+)/.exec(first?.message ?? '')?.[1] ?? '');
  expect(since).toBeGreaterThan(stopped - 60_000);
  expect(Date.parse(first?.endTime ?? '') - since).toBeGreaterThanOrEqual(8_000 - 1_000);
  expect(first?.checkpointCID).toBeDefined();
  const onB = await jobPods(corner, B, uid);
  expect(onB).toHaveLength(1);
  expect(envOf(onB[0]!, 'FLOTILLA_RESUME_FROM_CID')).toBe(first?.checkpointCID);
  expect(await jobEventReasons(ns, name, ['Preempted'])).toContain('Preempted');

  // Heal: the old attempt's pod is still at X; it is deleted, and the job stays on B.
  await startCluster(federation().stateDir, cluster, tools); // also hands the nodes to the restarted kwok controller
  const x = providerOf(corner, X).cluster;
  // Fenced: deleted by the operator (gone, or terminating at the provider's own pace).
  const fenced = await pollUntil(
    `old pod ${oldPod} fenced at ${X}`,
    () => x.core.listNamespacedPod({ namespace: corner.lentNamespace, labelSelector: `flotilla.dev/job-uid=${uid}` }).catch(() => undefined),
    (l) => l !== undefined && l.items.every((p) => p.metadata?.deletionTimestamp),
    90_000,
  );
  expect(fenced?.items.map((p) => p.metadata?.name).filter((n) => n !== oldPod)).toEqual([]);
  const after = await waitJob(ns, name, 'still on B', (j) => j.status?.phase === 'Running');
  expect(after.status?.attempts).toHaveLength(2);
  expect(after.status?.attempts?.[0]).toMatchObject({
    reason: 'Preempted: ProviderUnreachable',
    checkpointCID: first?.checkpointCID,
    billableGpuSeconds: first?.billableGpuSeconds,
  });
  await deleteJob(ns, name);
}, 300_000);

it('NodeLost: the node stops heartbeating, its node lifecycle controller declares it NotReady, and the job resumes elsewhere', async () => {
  // A GPUProvider of its own on the same cluster, and the cheapest: X's reputation carries the
  // previous test's preemption, which (rightly) makes placement avoid it now.
  await addProvider(corner, { name: X2, cluster: clusterRef(cluster, clusterKubeconfig), price: '0.25', secretName });
  await waitProvidersReady(corner, [X2], operator!);
  const x = providerOf(corner, X2);
  await pollUntil(
    `node ${x.node} Ready`,
    () => x.cluster.core.readNode({ name: x.node }),
    (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    120_000,
    500,
  );
  const name = uniqueName('heartbeat');
  // X2 shares X's cluster (and so its nodes): X is denied, so the only place left after the
  // preemption is B, whatever node of the cluster the scheduler bound the replica to.
  const manifest = cornerJob(corner, ns, name);
  await createJob({ ...manifest, spec: { ...manifest.spec, placement: { deniedProviders: [X] } } });
  const running = await waitJob(
    ns,
    name,
    `Running on ${X2} with a checkpoint`,
    (j) => j.status?.phase === 'Running' && j.status.attempts?.[0]?.provider === X2 && Boolean(j.status.attempts[0].checkpointCID),
    90_000,
  );
  const uid = running.metadata.uid ?? '';
  // The kubelet of every node of this cluster: killed, no node Lease is renewed any more.
  const kwokPid = Number(readFileSync(join(kwokWorkdir(federation().stateDir, cluster), 'clusters', cluster, 'pids', 'kwok-controller.pid'), 'utf8').trim());
  process.kill(kwokPid, 'SIGKILL');
  const silent = await pollUntil(
    `node ${x.node} declared NotReady by its node lifecycle controller`,
    () => x.cluster.core.readNode({ name: x.node }),
    (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status !== 'True') ?? false,
    150_000,
    1_000,
  );
  expect(silent.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
  const moved = await waitJob(ns, name, `resumed on ${B}`, (j) => j.status?.attempts?.[1]?.provider === B && j.status.phase === 'Running', 60_000);
  const [first] = moved.status?.attempts ?? [];
  expect(first).toMatchObject({ provider: X2, reason: 'Preempted: NodeLost' });
  expect(first?.message).toContain('NotReady');
  const onB = await jobPods(corner, B, uid);
  expect(onB).toHaveLength(1);
  expect(envOf(onB[0]!, 'FLOTILLA_RESUME_FROM_CID')).toBe(first?.checkpointCID);
  expect(await jobEventReasons(ns, name, ['Preempted'])).toContain('Preempted');
  // No pod of attempt 1 survives (no kubelet confirms its end: removed once its grace has passed).
  await pollUntil(
    `no pod of attempt 1 left on ${X2}`,
    () => jobPods(corner, X2, uid),
    (pods) => pods.length === 0,
    150_000,
    1_000,
  );
  await deleteJob(ns, name);
}, 400_000);
