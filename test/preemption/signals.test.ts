// Every way a provider takes GPUs back, produced for real on the local federation, and what
// Flotilla must do about each: close the attempt with the signal as its reason and the last
// checkpoint the replicas reported, resume on the other provider from that checkpoint (the new
// pods carry it in FLOTILLA_RESUME_FROM_CID), tell the story in attempts[] and Events, and leave no
// pod of the old attempt and no duplicate of the new one.
import { PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { freePort } from '../../federation/daemon.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits } from '../../operator/core/money.ts';
import { clusterClients, createNamespace, deleteNamespace, gpuPod, pollUntil, recordPodHistory, uniqueName } from '../support/federation.ts';
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
  jobEventReasons,
  jobPods,
  newCorner,
  providerOf,
  removeCorner,
  restoreNode,
  waitJob,
} from '../support/corner.ts';
import type { Corner } from '../support/corner.ts';

const hub = clusterClients('hub');
const corner: Corner = newCorner();
const A = `pe-${corner.id}-a`;
const B = `pe-${corner.id}-b`;
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-preempt');
  // A is cheaper, so every job starts there; B is where it must resume.
  await addProvider(corner, { name: A, cluster: clusterRef('provider-a'), price: '1.00' });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '2.00' });
  const port = await freePort();
  operator = startOperator(ns, {
    FLOTILLA_REPORT_PORT: String(port),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${port}`,
    FLOTILLA_REPORT_SECRET: 'preemption-test-report-secret',
    FLOTILLA_BIND_TIMEOUT_MS: '12000',
    FLOTILLA_PROVIDER_GRACE_MS: '5000',
  });
  // Placement sees only Ready providers: start nothing before both are.
  await waitProvidersReady(corner, [A, B], operator);
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner);
});

const nodeA = () => providerOf(corner, A).node;
const clusterA = () => providerOf(corner, A).cluster;

/** Starts a job, waits until it runs on A and has reported at least one checkpoint. */
async function runningOnA(name: string, over: { maxRestarts?: number } = {}): Promise<{ job: AIJob; pod: V1Pod }> {
  await createJob(cornerJob(corner, ns, name, over));
  const job = await waitJob(
    ns,
    name,
    `Running on ${A} with a checkpoint`,
    (j) => j.status?.phase === 'Running' && j.status.attempts?.[0]?.provider === A && Boolean(j.status.attempts[0].checkpointCID),
  );
  const [pod] = await jobPods(corner, A, job.metadata.uid ?? '');
  if (!pod) throw new Error('no pod on A');
  return { job, pod };
}

/** What every signal must lead to: attempt 1 closed for `signal` on A, attempt 2 running on B from its checkpoint. */
async function expectFailover(name: string, signal: string, checkpointBefore: string | undefined): Promise<AIJob> {
  const job = await waitJob(ns, name, `resumed on ${B}`, (j) => j.status?.attempts?.[1]?.provider === B && j.status.phase === 'Running', 60_000);
  const [first, second] = job.status?.attempts ?? [];
  expect(first).toMatchObject({ index: 1, provider: A, reason: `Preempted: ${signal}` });
  expect(first?.endTime).toBeDefined();
  expect(second).toMatchObject({ index: 2, provider: B });
  expect(job.status?.conditions?.find((c) => c.type === 'Preempted')).toMatchObject({ status: 'False', reason: 'Recovered' });
  if (checkpointBefore) {
    // The attempt kept the newest checkpoint reported before it closed: at least the one seen running.
    expect(first?.checkpointCID).toBeDefined();
    expect(Date.parse(first?.checkpointTime ?? '')).toBeGreaterThan(0);
  }
  const uid = job.metadata.uid ?? '';
  const onB = await jobPods(corner, B, uid);
  expect(onB.map((p) => p.metadata?.name)).toEqual([`${name}-${uid.slice(0, 8)}-a2-r0`]);
  if (first?.checkpointCID) expect(envOf(onB[0] as V1Pod, 'FLOTILLA_RESUME_FROM_CID')).toBe(first.checkpointCID);
  await pollUntil(
    `no pod of attempt 1 left on ${A}`,
    () => jobPods(corner, A, uid),
    (pods) => pods.length === 0,
    30_000,
  );
  const reasons = await pollUntil(
    'two Scheduled events',
    () => jobEventReasons(ns, name, ['Preempted']),
    (r) => r.filter((x) => x === 'Scheduled').length >= 2,
    15_000,
  );
  expect(reasons).toContain('Preempted');
  expect(reasons.filter((r) => r === 'Scheduled')).toHaveLength(2);
  return job;
}

describe('preemption signals on the local federation', () => {
  it("DisruptionTarget: the provider's own higher-priority pod preempts the lent one", async () => {
    const name = uniqueName('prio');
    const { job } = await runningOnA(name);
    const owner = uniqueName('owner');
    const { core, scheduling } = clusterA();
    await scheduling.createPriorityClass({ body: { metadata: { name: owner }, value: 1_000_000 } });
    try {
      await core.createNamespacedPod({ namespace: corner.lentNamespace, body: gpuPod(owner, { gpus: 8, node: nodeA(), priorityClassName: owner }) });
      await expectFailover(name, 'DisruptionTarget', job.status?.attempts?.[0]?.checkpointCID);
      const after = await waitJob(ns, name, 'message names the scheduler', (j) => Boolean(j.status?.attempts?.[0]?.message));
      expect(after.status?.attempts?.[0]?.message).toMatch(/PreemptionByScheduler|preempt/i);
    } finally {
      await deleteJob(ns, name);
      await core.deleteNamespacedPod({ name: owner, namespace: corner.lentNamespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      await scheduling.deletePriorityClass({ name: owner }).catch(() => undefined);
      await pollUntil(
        'owner pod gone',
        () => core.listNamespacedPod({ namespace: corner.lentNamespace }),
        (l) => l.items.length === 0,
        30_000,
      );
    }
  });

  it('DisruptionTarget: the eviction API (what kubectl drain calls) takes the pod', async () => {
    const name = uniqueName('evict');
    const { job, pod } = await runningOnA(name);
    // Every version of the job the hub stores from here on (a watch delivers each write).
    const versions: AIJob[] = [];
    const watch = await new Watch(hub.kc).watch(
      `/apis/flotilla.dev/v1alpha1/namespaces/${ns}/aijobs`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: job.metadata.resourceVersion },
      (_type: string, obj: AIJob) => void versions.push(obj),
      () => undefined,
    );
    try {
      await clusterA().core.createNamespacedPodEviction({
        name: pod.metadata?.name ?? '',
        namespace: corner.lentNamespace,
        body: { metadata: { name: pod.metadata?.name ?? '', namespace: corner.lentNamespace } },
      });
      const done = await expectFailover(name, 'DisruptionTarget', job.status?.attempts?.[0]?.checkpointCID);
      expect(done.status?.attempts?.[0]?.message).toContain('EvictionByEvictionAPI');
      // The write that closes the attempt carries what it cost (A's 1.00 per GPU-hour on its billable
      // seconds): no second writer changes the job after it (that write raced the lifecycle's next).
      const closing = versions.find((v) => v.status?.attempts?.[0]?.endTime);
      const billable = BigInt(closing?.status?.attempts?.[0]?.billableGpuSeconds ?? -1);
      expect(billable).toBeGreaterThanOrEqual(0n);
      expect(closing?.status?.cost).toEqual({ amount: fromBaseUnits((billable * 1_000_000n) / 3600n, 6) });
      expect(done.status?.cost).toEqual(closing?.status?.cost);
    } finally {
      watch.abort();
      await deleteJob(ns, name);
    }
  });

  it('NodeLost: the node running the replica is deleted (spot reclaim)', async () => {
    const name = uniqueName('nodedel');
    const { job } = await runningOnA(name);
    try {
      await clusterA().core.deleteNode({ name: nodeA() });
      const done = await expectFailover(name, 'NodeLost', job.status?.attempts?.[0]?.checkpointCID);
      expect(done.status?.attempts?.[0]?.message).toContain('was deleted');
    } finally {
      await deleteJob(ns, name);
      await restoreNode(corner, A);
    }
  });

  it('NodeLost: the node reports NotReady', async () => {
    const name = uniqueName('notready');
    const { job } = await runningOnA(name);
    try {
      // kwok heartbeats every node of the cluster (--manage-all-nodes), so one node's heartbeat
      // cannot be stopped alone; this is the status the kubelet writes when it declares itself NotReady.
      const now = new Date();
      await clusterA().core.patchNodeStatus(
        {
          name: nodeA(),
          body: {
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'False',
                  reason: 'KubeletNotReady',
                  message: 'container runtime is down',
                  lastHeartbeatTime: now,
                  lastTransitionTime: now,
                },
              ],
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      const done = await expectFailover(name, 'NodeLost', job.status?.attempts?.[0]?.checkpointCID);
      expect(done.status?.attempts?.[0]?.message).toContain('NotReady');
    } finally {
      await deleteJob(ns, name);
      await restoreNode(corner, A);
    }
  });

  it('NodeReclaimed: a reclaim taint with a deadline drains the replica (SIGTERM with the remaining grace) and resumes elsewhere', async () => {
    const name = uniqueName('reclaim');
    const { job, pod } = await runningOnA(name);
    const { core, kc } = clusterA();
    const watch = await recordPodHistory(kc, corner.lentNamespace, pod.metadata?.name ?? '');
    try {
      const deadline = new Date(Date.now() + 30_000).toISOString();
      await core.patchNode(
        {
          name: nodeA(),
          body: {
            metadata: { annotations: { 'flotilla.dev/reclaim-deadline': deadline } },
            spec: { taints: [{ key: 'flotilla.dev/reclaim', value: 'owner', effect: 'NoSchedule' }] },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const done = await expectFailover(name, 'NodeReclaimed', job.status?.attempts?.[0]?.checkpointCID);
      expect(done.status?.attempts?.[0]?.message).toMatch(/reclaim/);
      expect(await jobEventReasons(ns, name, ['Reclaiming'])).toContain('Reclaiming');
      // The pod was deleted with a grace ending at the deadline (≤ 30 s from the taint), not at once.
      const graces = watch.history.map((h) => h.pod.metadata?.deletionGracePeriodSeconds).filter((g): g is number => g !== undefined);
      expect(graces.length).toBeGreaterThan(0);
      expect(Math.max(...graces)).toBeGreaterThanOrEqual(20);
      expect(Math.max(...graces)).toBeLessThanOrEqual(30);
    } finally {
      watch.stop();
      await deleteJob(ns, name);
      await core
        .patchNode(
          { name: nodeA(), body: { metadata: { annotations: { 'flotilla.dev/reclaim-deadline': null } }, spec: { taints: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
    }
  });

  it("BindTimeout: the provider's own work already holds the GPUs, so the lent pod never binds", async () => {
    const name = uniqueName('bind');
    const owner = uniqueName('owner');
    const { core } = clusterA();
    // Flotilla sees only its own namespace at the provider: the owner's pod elsewhere is invisible to placement.
    const ownerNs = uniqueName('own');
    await core.createNamespace({ body: { metadata: { name: ownerNs } } });
    try {
      await core.createNamespacedPod({ namespace: ownerNs, body: gpuPod(owner, { gpus: 8, node: nodeA() }) });
      await pollUntil(
        'owner pod bound',
        () => core.readNamespacedPod({ name: owner, namespace: ownerNs }),
        (p) => Boolean(p.spec?.nodeName),
        30_000,
      );
      await createJob(cornerJob(corner, ns, name));
      const job = await waitJob(ns, name, `resumed on ${B}`, (j) => j.status?.attempts?.[1]?.provider === B && j.status.phase === 'Running', 60_000);
      expect(job.status?.attempts?.[0]).toMatchObject({ provider: A, reason: 'Preempted: BindTimeout' });
      expect(job.status?.attempts?.[0]?.message).toContain('still Pending');
      await pollUntil(
        `no pod of attempt 1 left on ${A}`,
        () => jobPods(corner, A, job.metadata.uid ?? ''),
        (pods) => pods.length === 0,
        30_000,
      );
    } finally {
      await deleteJob(ns, name);
      await core.deleteNamespace({ name: ownerNs }).catch(() => undefined);
    }
  });

  it('fails the job with RestartLimitExceeded once preemptions exceed maxRestarts', async () => {
    const name = uniqueName('limit');
    const { pod } = await runningOnA(name, { maxRestarts: 0 });
    try {
      await clusterA().core.createNamespacedPodEviction({
        name: pod.metadata?.name ?? '',
        namespace: corner.lentNamespace,
        body: { metadata: { name: pod.metadata?.name ?? '', namespace: corner.lentNamespace } },
      });
      const job = await waitJob(ns, name, 'Failed', (j) => j.status?.phase === 'Failed');
      const finished = job.status?.conditions?.find((c) => c.type === 'Finished');
      expect(finished).toMatchObject({ status: 'True', reason: 'RestartLimitExceeded' });
      expect(finished?.message).toContain('spec.recovery.maxRestarts is 0');
      expect(job.status?.attempts).toHaveLength(1);
      expect(await jobPods(corner, B, job.metadata.uid ?? '')).toEqual([]);
    } finally {
      await deleteJob(ns, name);
    }
  });

  it('keeps a reputation per provider from how attempts ended', async () => {
    const custom = hub.kc.makeApiClient((await import('@kubernetes/client-node')).CustomObjectsApi);
    const a = await pollUntil(
      `${A} reputation`,
      () =>
        custom.getClusterCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'gpuproviders', name: A }) as Promise<{
          status?: { reputation?: { preempted?: number; failed?: number; preemptionsPerGpuHour?: number } };
        }>,
      (p) => (p.status?.reputation?.preempted ?? 0) >= 5 && (p.status?.reputation?.failed ?? 0) >= 1,
      30_000,
    );
    expect(a.status?.reputation?.preemptionsPerGpuHour).toBeGreaterThan(0.01);
  });
});
