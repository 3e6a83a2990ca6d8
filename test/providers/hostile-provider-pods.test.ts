// A hostile provider's pods, on the local federation (real hub and provider apiservers, the simulated
// executor, anvil and the escrow). The test plays the provider with the provider cluster's admin
// credential: it makes pods of its own with a job's labels, backdates its pods' startedAt, and
// refuses pods with a ResourceQuota; and it plays a tenant who strips the finalizer and deletes a
// job mid-run. Each case fails if its control (docs/security.md) is taken out.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { freePort } from '../../federation/daemon.ts';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProvider } from '../../operator/api/types.ts';
import { toBaseUnits } from '../../operator/core/money.ts';
import { aijobManifest } from '../support/aijob.ts';
import { clusterClients, deleteNamespace, pollUntil, readAIJob, recordPodHistory, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { createJob, declarePayers, federationChain, fundAs, operatorChainEnv, paidJob, RandomPayer, USDC } from '../payments/payments-fixture.ts';
import { createNamespace } from '../support/federation.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const c = federationChain();
const payer = new RandomPayer(c);
const LENT = 'flotilla-workloads';
const IMAGE = `registry.example/trainer@sha256:${'c'.repeat(64)}`;
/** Another job's output: a valid CID the job under attack never produced. */
const OTHER_JOBS_OUTPUT = 'bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
let ns = '';
let operator: OperatorProcess;
let httpPort = 0;
let env: Record<string, string> = {};

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-hostile');
  await payer.prepare(USDC('10'));
  await declarePayers(hub.core, ns, [payer.address], { allowUnpaid: true });
  httpPort = await freePort();
  env = operatorChainEnv(c, { FLOTILLA_HTTP_PORT: String(httpPort), FLOTILLA_ORPHAN_SWEEP_MS: '2000' });
  operator = startOperator(ns, env);
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  payer.destroy();
});

const job = (name: string, spec: Partial<AIJobManifest['spec']>): AIJobManifest =>
  aijobManifest({ name, namespace: ns, image: IMAGE, gpu: { products: ['NVIDIA-L4'] }, output: { path: '/flotilla/output', pin: false }, sim: false, ...spec });

async function podsOf(provider: string, uid: string): Promise<V1Pod[]> {
  return (await clusterClients(provider).core.listNamespacedPod({ namespace: LENT, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

async function reputation(provider: string): Promise<NonNullable<GPUProvider['status']>['reputation']> {
  const gp = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: provider })) as GPUProvider;
  return gp.status?.reputation;
}

/** A pod the provider makes itself, claiming to be part of the job: unschedulable by anyone, so only its labels speak. */
function forgedPod(name: string, uid: string, jobName: string, attempt: string, finalizers?: string[]): V1Pod {
  return {
    metadata: {
      name,
      namespace: LENT,
      ...(finalizers ? { finalizers } : {}),
      labels: {
        'flotilla.dev/job-uid': uid,
        'flotilla.dev/attempt': attempt,
        'flotilla.dev/replica': '0',
        'flotilla.dev/hub': 'hub',
        'app.kubernetes.io/managed-by': 'flotilla',
      },
      annotations: { 'flotilla.dev/job-namespace': ns, 'flotilla.dev/job-name': jobName },
    },
    spec: { schedulerName: 'hostile-provider', containers: [{ name: 'main', image: 'registry.example/forged:1' }] },
  };
}

describe("a hostile provider's pods", () => {
  it("ignores provider-made pods with the job's labels (attempt 999; a forged replica reporting another job's output), reports and deletes them; the job succeeds with its own output", async () => {
    const created = await createJob(
      hub.kc,
      job('victim', { podAnnotations: { 'sim.flotilla.dev/run-seconds': '30', 'sim.flotilla.dev/output': 'victim done' } }),
    );
    const uid = created.metadata.uid ?? '';
    const running = (await waitForAIJob(ns, 'victim', (j) => j?.status?.phase === 'Running', 60_000)) as AIJob;
    const provider = running.status?.placement?.provider ?? '';
    const [ours] = await podsOf(provider, uid);
    // The pod we made runs hardened (Pod Security baseline), and its uid is on record.
    expect(ours?.spec?.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(ours?.spec?.containers[0]?.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const recorded = await waitForAIJob(ns, 'victim', (j) => (j?.status?.attempts?.[0]?.pods?.length ?? 0) === 1, 15_000);
    expect(recorded?.status?.attempts?.[0]?.pods).toEqual([expect.objectContaining({ replica: 0, name: ours?.metadata?.name, uid: ours?.metadata?.uid })]);
    const repBefore = (await reputation(provider))?.violations ?? 0;

    // As the provider: a pod of an attempt the job never ran, and a "replica 0" that already succeeded with another job's output.
    const providerCore = clusterClients(provider).core;
    const forged999 = `victim-forged-999-${uid.slice(0, 5)}`;
    const forgedR0 = `victim-forged-r0-${uid.slice(0, 5)}`;
    await providerCore.createNamespacedPod({ namespace: LENT, body: forgedPod(forged999, uid, 'victim', '999') });
    // The forged replica holds a finalizer of the provider's, so it outlives the operator's delete
    // and still shows its "output" when the real replica finishes.
    await providerCore.createNamespacedPod({ namespace: LENT, body: forgedPod(forgedR0, uid, 'victim', '1', ['hostile.example/keep']) });
    try {
      const now = new Date();
      await providerCore.patchNamespacedPodStatus(
        {
          name: forgedR0,
          namespace: LENT,
          body: {
            status: {
              phase: 'Succeeded',
              containerStatuses: [
                {
                  name: 'main',
                  image: 'registry.example/forged:1',
                  imageID: '',
                  ready: false,
                  restartCount: 0,
                  state: {
                    terminated: {
                      exitCode: 0,
                      reason: 'Completed',
                      message: JSON.stringify({ outputCID: OTHER_JOBS_OUTPUT }),
                      startedAt: now,
                      finishedAt: now,
                    },
                  },
                },
              ],
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );

      // Both are reported on the job and deleted (this credential may delete them); the job is unaffected.
      const violations = await pollUntil(
        'two ProviderViolation events',
        async () =>
          (await hub.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=victim' })).items.filter(
            (e) => e.reason === 'ProviderViolation',
          ),
        (es) => es.length >= 2,
        45_000,
        500,
      );
      expect(violations.map((e) => e.message).join('\n')).toMatch(/attempt 999/);
      const after = await pollUntil(
        'the forged pods deleted',
        () => podsOf(provider, uid),
        (pods) => !pods.some((p) => p.metadata?.name === forged999) && pods.some((p) => p.metadata?.name === forgedR0 && p.metadata.deletionTimestamp),
        30_000,
        500,
      );
      expect(after.find((p) => p.metadata?.name === forgedR0)?.status?.phase).toBe('Succeeded');
      const done = (await waitForAIJob(ns, 'victim', (j) => j?.status?.phase === 'Succeeded' || j?.status?.phase === 'Failed', 90_000)) as AIJob;
      expect(done.status?.phase).toBe('Succeeded');
      expect(done.status?.outputCID).toMatch(/^b[a-z2-7]+$/);
      expect(done.status?.outputCID).not.toBe(OTHER_JOBS_OUTPUT);
      expect(done.status?.attempts).toEqual([expect.objectContaining({ index: 1, provider, reason: 'Succeeded' })]);

      // …and counted: the metric, and the provider's reputation (violations, and failed).
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`flotilla_provider_violations_total\\{[^}]*provider="${provider}"[^}]*\\} 2`));
      await pollUntil(
        'the reputation penalty',
        () => reputation(provider),
        (r) => (r?.violations ?? 0) >= repBefore + 2,
        15_000,
        250,
      );
    } finally {
      await providerCore
        .patchNamespacedPod(
          { name: forgedR0, namespace: LENT, body: { metadata: { finalizers: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
    }
  });

  it('bills a pod whose startedAt the provider backdated by a day no more than the hub observed; the settlement balances to the base unit', async () => {
    const name = 'backdated';
    const created = await createJob(
      hub.kc,
      paidJob(ns, name, { maxAmount: '5', providers: ['provider-b'], product: 'NVIDIA-A100-SXM4-40GB', gpus: 1, runSeconds: 600 }),
    );
    await fundAs(hub.kc, c, ns, name, payer.key);
    await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running', 90_000);
    const [pod] = await podsOf('provider-b', created.metadata.uid ?? '');
    // Some honest work first, so the settlement pays the provider something real.
    await new Promise((r) => setTimeout(r, 4_000));
    // As the provider: the container "started" a day ago. The executor then ends the 600 s run at
    // once, reporting terminated.startedAt a day back as well.
    const dayAgo = new Date(Date.now() - 86_400_000);
    const running = pod?.status?.containerStatuses?.find((s) => s.name === 'main');
    const watch = await recordPodHistory(clusterClients('provider-b').kc, LENT, pod?.metadata?.name ?? '');
    await clusterClients('provider-b').core.patchNamespacedPodStatus(
      {
        name: pod?.metadata?.name ?? '',
        namespace: LENT,
        body: { status: { startTime: dayAgo, containerStatuses: [{ ...running, name: 'main', state: { running: { startedAt: dayAgo } } }] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );

    const settled = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Settled', 120_000)) as AIJob;
    watch.stop();
    const attempt = settled.status?.attempts?.[0];
    // The provider did report the day-old start when the pod ended.
    const reported = watch.history.map((h) => h.pod.status?.containerStatuses?.[0]?.state?.terminated?.startedAt).find((t) => t !== undefined);
    expect(new Date(reported ?? 0).getTime()).toBeLessThanOrEqual(dayAgo.getTime() + 1_000);
    // The hub's own window: from its attempt record to the attempt's close (1 s tolerance for
    // rounding to whole seconds and the create acknowledgement).
    const hubWindow = (Date.parse(attempt?.endTime ?? '') - Date.parse(attempt?.startTime ?? '')) / 1000;
    expect(attempt?.reason).toBe('Succeeded');
    expect(attempt?.billableGpuSeconds).toBeLessThanOrEqual(Math.ceil(hubWindow) + 1);
    expect(attempt?.billableGpuSeconds).toBeLessThan(3600);
    expect(attempt?.billableGpuSeconds).toBeGreaterThanOrEqual(3);
    // Exact to the base unit: cost = floor(billable × price / 3600), shares + refund = deposit.
    const cost = (BigInt(attempt?.billableGpuSeconds ?? 0) * toBaseUnits(attempt?.pricePerGpuHour ?? '0', 6)) / 3600n;
    const shares = (settled.status?.settlement?.amounts ?? []).reduce((sum, a) => sum + toBaseUnits(a.amount, 6), 0n);
    expect(cost).toBeGreaterThan(0n);
    expect(shares).toBe(cost);
    expect(shares + toBaseUnits(settled.status?.settlement?.refund ?? '0', 6)).toBe(USDC('5'));
  });

  it("turns a provider's exceeded-quota refusal into a placement failure at once, not a bind timeout", async () => {
    const providerC = clusterClients('provider-c').core;
    const quota = `hostile-quota-${ns.slice(-6)}`;
    await providerC.createNamespacedResourceQuota({ namespace: LENT, body: { metadata: { name: quota }, spec: { hard: { 'requests.nvidia.com/gpu': '0' } } } });
    try {
      // The quota controller must have computed usage before admission enforces it.
      await pollUntil(
        'the quota in force',
        async () => (await providerC.readNamespacedResourceQuota({ name: quota, namespace: LENT })).status?.hard,
        (h) => h !== undefined,
        15_000,
        200,
      );
      await createJob(
        hub.kc,
        job('refused', {
          gpu: { products: ['NVIDIA-H100-80GB-HBM3'] },
          placement: { allowedProviders: ['provider-c'] },
          recovery: { maxRestarts: 0, strategy: 'Failover' },
        }),
      );
      const failed = (await waitForAIJob(ns, 'refused', (j) => Boolean(j?.status?.attempts?.[0]?.endTime), 30_000)) as AIJob;
      expect(failed.status?.attempts?.[0]).toMatchObject({ provider: 'provider-c', reason: 'Preempted: CreateRefused' });
      expect(failed.status?.attempts?.[0]?.message).toMatch(/exceeded quota/);
      expect(failed.status?.conditions?.find((x) => x.type === 'Preempted')).toMatchObject({ status: 'True', reason: 'CreateRefused' });
    } finally {
      await providerC.deleteNamespacedResourceQuota({ name: quota, namespace: LENT });
    }
  });

  it('deletes the provider pods of a job a tenant deleted mid-run after stripping the finalizer (orphan sweep)', async () => {
    const created = await createJob(
      hub.kc,
      job('orphaned', { gpu: { products: ['NVIDIA-A100-SXM4-40GB'] }, podAnnotations: { 'sim.flotilla.dev/run-seconds': '600' } }),
    );
    const uid = created.metadata.uid ?? '';
    const running = (await waitForAIJob(ns, 'orphaned', (j) => j?.status?.phase === 'Running', 60_000)) as AIJob;
    const provider = running.status?.placement?.provider ?? '';
    expect(await podsOf(provider, uid)).toHaveLength(1);
    // The operator is down while the tenant strips the finalizer and deletes the job, so the job's
    // own reconcile never sees it: only the sweep can find its pods.
    await operator.stop();
    await custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, name: 'orphaned', body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, name: 'orphaned' });
    expect(await readAIJob(ns, 'orphaned')).toBeUndefined();
    operator = startOperator(ns, env);
    const started = Date.now();
    // The stated bound (docs/security.md): sweep interval + minimum age + the pod's termination, well under 60 s here.
    await pollUntil(
      'the orphaned pods gone',
      () => podsOf(provider, uid),
      (pods) => pods.length === 0,
      60_000,
      500,
    );
    process.stdout.write(`orphan sweep: pods gone ${Date.now() - started} ms after the operator started\n`);
    expect(operator.logs()).toMatch(/deleted orphaned remote pod/);
  });
});
