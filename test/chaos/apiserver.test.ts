// Chaos 2: API servers stopped and restarted mid-run (`kwokctl stop/start cluster`, etcd and all;
// a restarted provider's nodes go back to its new kwok controller before the test goes on).
//
//   hub       every operator client loses the hub; the leader cannot renew its lease and exits on
//             purpose, a supervisor (playing the Deployment) restarts it until the hub answers again
//   provider  a provider cluster of the test's own goes silent for a random while around the
//             unreachable grace: the job either waits it out or fails over, and on heal the stale
//             attempt's pods are fenced
//
// Then the oracle. The hub is the federation's own (make test runs suites one at a time); every test
// restarts what it stopped and ends by checking the whole federation answers again.
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCluster, deleteCluster, startCluster, stopCluster } from '../../federation/clusters.ts';
import { runExecutor } from '../../federation/executor.ts';
import { toolPaths } from '../../federation/paths.ts';
import { federation, pollUntil } from '../support/federation.ts';
import { HUB_OPERATOR_NAMESPACE, clusterRef, listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, Payer, Supervisor, assertFederationHealthy, chaosJob, createJobs, openChaosCorner, tearDownCorner } from './suite.ts';
import { LiveAttemptSampler, expectAll, oracle } from './oracle.ts';

const tools = toolPaths();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

const ownCluster = `chaos-x-${process.pid}`;
const secretName = `provider-${ownCluster}-kubeconfig`;
let corner: OpenCorner;
let payer: Payer;
let stopExecutor: (() => void) | undefined;
const stopped = new Set<string>();

beforeAll(async () => {
  const ep = federation();
  // Kubernetes' own heartbeat intervals (60 s node Leases, renewed every 15 s), not kwokctl's 5×:
  // its restarted kwok controller takes the nodes over within 15 s.
  const info = await createCluster(ep.stateDir, ownCluster, 'provider', tools, { heartbeatFactor: 1.5 });
  const hubCore = new KubeConfig();
  hubCore.loadFromFile(ep.hub.kubeconfig);
  await hubCore.makeApiClient(CoreV1Api).createNamespacedSecret({
    namespace: HUB_OPERATOR_NAMESPACE,
    body: { metadata: { name: secretName }, stringData: { kubeconfig: readFileSync(info.kubeconfig, 'utf8') } },
  });
  // The own cluster is the cheaper one, so the jobs land there first.
  corner = await openChaosCorner({
    clusters: ['provider-b', { cluster: clusterRef(ownCluster, info.kubeconfig), secretName, price: '1.8' }],
    nodesPerProvider: 2,
  });
  stopExecutor = runExecutor({ providers: [{ name: ownCluster, kubeconfig: info.kubeconfig }], kuboApi: ep.kubo.provider.api });
  payer = new Payer();
  await payer.prepare('1000');
}, 240_000);

afterAll(async () => {
  for (const cluster of stopped) await startCluster(federation().stateDir, cluster, tools).catch(() => undefined);
  await tearDownCorner(corner, { payer });
  stopExecutor?.();
  await corner.hub.core.deleteNamespacedSecret({ name: secretName, namespace: HUB_OPERATOR_NAMESPACE }).catch(() => undefined);
  await deleteCluster(federation().stateDir, ownCluster, tools).catch(() => undefined);
  await assertFederationHealthy();
}, 240_000);

async function startBatch(prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const paid = names.filter((_, i) => i % 2 === 0);
  await createJobs(
    names.map((name, i) => chaosJob(corner, name, { runSeconds: 4 + 2 * i, checkpointSeconds: 1, ...(paid.includes(name) ? { paid: '1' } : {}) })),
  );
  await payer.fund(corner, paid);
  return names;
}

const someRunning = (names: readonly string[]) =>
  pollUntil(
    'a job Running',
    () => listJobs(corner.hubNamespace),
    (jobs) => jobs.some((j) => names.includes(j.metadata.name ?? '') && j.status?.phase === 'Running'),
    120_000,
    250,
  );

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: the hub's API server (and etcd) stopped mid-run and started again`, async () => {
    const supervisor = new Supervisor(corner);
    let sampler: LiveAttemptSampler | undefined;
    try {
      const names = await startBatch(`hub-r${run}`, 6);
      sampler = new LiveAttemptSampler(corner);
      await someRunning(names);
      stopped.add('hub');
      await stopCluster(federation().stateDir, 'hub', tools);
      // The fault this run is about: the leader, cut off from the hub past its lease (4 s), gives up
      // leading and exits. Waited for, not guessed with a sleep (a sleep left the lease with the
      // leader in 1 of 5 runs): a leader that never gives up fails here, naming it.
      await pollUntil(
        'the leader giving up its lease while the hub is down',
        async () => supervisor.restarts,
        (n) => n >= 1,
        60_000,
        250,
      );
      await sleep(randomInt(0, 8_000)); // and a while longer: the restarted operator finds no hub either
      await startCluster(federation().stateDir, 'hub', tools);
      stopped.delete('hub');
      await assertFederationHealthy(120_000);
      const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 1 }), sampled: await sampler.stop() });
      expect(violations).toEqual([]);
      // The leader really lost the hub (and the supervisor restarted it), or the scenario proved nothing.
      expect(supervisor.restarts).toBeGreaterThanOrEqual(1);
    } finally {
      await sampler?.stop();
      await supervisor.stop();
    }
  }, 600_000);

  it(`run ${run}/${CHAOS_RUNS}: a provider's API server stopped around the unreachable grace and started again`, async () => {
    const supervisor = new Supervisor(corner, { FLOTILLA_PROVIDER_GRACE_MS: '8000' });
    try {
      const names = await startBatch(`prov-r${run}`, 4);
      // No live-attempt sampler here: after a failover the stale attempt's pod runs on at the silent
      // provider until it answers again and is fenced — unavoidable, and what I4 checks afterwards.
      await pollUntil(
        `a job Running on ${ownCluster}`,
        () => listJobs(corner.hubNamespace),
        (jobs) =>
          jobs.some(
            (j) => names.includes(j.metadata.name ?? '') && j.status?.phase === 'Running' && j.status.placement?.provider === [...corner.providers.keys()][1],
          ),
        120_000,
        250,
      );
      stopped.add(ownCluster);
      await stopCluster(federation().stateDir, ownCluster, tools);
      await sleep(randomInt(3_000, 20_000)); // below or beyond the 8 s grace
      await startCluster(federation().stateDir, ownCluster, tools); // also hands its nodes to the restarted kwok controller
      stopped.delete(ownCluster);
      // Preempted at most once (ProviderUnreachable), then finished elsewhere or in place.
      const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 2 }) });
      expect(violations).toEqual([]);
      const jobs = await listJobs(corner.hubNamespace);
      for (const job of jobs.filter((j) => names.includes(j.metadata.name ?? ''))) {
        for (const a of (job.status?.attempts ?? []).slice(0, -1)) expect(a.reason).toBe('Preempted: ProviderUnreachable');
      }
    } finally {
      await supervisor.stop();
    }
  }, 600_000);
}
