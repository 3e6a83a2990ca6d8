// Chaos 5: a provider partitioned from the operator by a TCP proxy in front of its API server
// (test/support/tcp-proxy.ts): packets stop flowing, nothing is refused — the partition no request
// notices by failing. The provider itself carries on (its executor talks to it directly), as a
// provider cut off from the hub does.
//
//   flapping  cut 2–3 s, healed 2 s, for ~20 s: each silence is shorter than the 8 s grace, so the
//             jobs stay where they are — one attempt each (a flapping link must not thrash)
//   cut       one silence of 20 s: the heartbeat finds the provider silent, the jobs fail over after
//             the grace (Preempted: ProviderUnreachable); on heal the stale attempts' pods there are
//             deleted, and the chain pays each provider exactly its metered share
//
// Then the oracle.
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { clusterClients, federation, pollUntil } from '../support/federation.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { HUB_OPERATOR_NAMESPACE, clusterRef, listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, Payer, assertFederationHealthy, chaosJob, createJobs, openChaosCorner, startChaosOperator, tearDownCorner } from './suite.ts';
import { expectAll, oracle } from './oracle.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const GRACE_MS = 8_000;
/** The operator's env: a 1 s heartbeat so short silences are really noticed (and must still not fail over). */
const OPERATOR_ENV = { FLOTILLA_PROVIDER_GRACE_MS: String(GRACE_MS), FLOTILLA_PROVIDER_HEARTBEAT_MS: '1000' };

const secretName = `provider-partitioned-${process.pid}-kubeconfig`;
let proxy: TcpProxy;
let corner: OpenCorner;
let payer: Payer;
let operator: OperatorProcess | undefined;

/** provider-a's kubeconfig with its server moved behind the proxy (same host: the certificate still matches). */
function proxiedKubeconfig(port: number): string {
  const text = readFileSync(federation().providers.find((p) => p.name === 'provider-a')?.kubeconfig ?? '', 'utf8');
  const doc = yaml.load(text) as { clusters: Array<{ cluster: { server: string } }> };
  for (const c of doc.clusters) {
    const url = new URL(c.cluster.server);
    url.port = String(port);
    c.cluster.server = url.toString().replace(/\/$/, '');
  }
  return yaml.dump(doc);
}

beforeAll(async () => {
  const direct = new URL(clusterClients('provider-a').kc.getCurrentCluster()?.server ?? '');
  proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port) });
  const hub = clusterClients('hub');
  await hub.core.createNamespacedSecret({
    namespace: HUB_OPERATOR_NAMESPACE,
    body: { metadata: { name: secretName }, stringData: { kubeconfig: proxiedKubeconfig(proxy.port) } },
  });
  // provider-a behind the proxy is the cheaper one, so the jobs land there first.
  corner = await openChaosCorner({
    clusters: ['provider-b', { cluster: clusterRef('provider-a'), secretName, price: '1.8' }],
    nodesPerProvider: 2,
  });
  payer = new Payer();
  await payer.prepare('1000');
}, 180_000);

afterAll(async () => {
  proxy.heal();
  await operator?.stop();
  await tearDownCorner(corner, { env: OPERATOR_ENV, payer });
  await clusterClients('hub')
    .core.deleteNamespacedSecret({ name: secretName, namespace: HUB_OPERATOR_NAMESPACE })
    .catch(() => undefined);
  await proxy.close();
  await assertFederationHealthy();
}, 240_000);

const partitioned = () => [...corner.providers.keys()][1] ?? '';

async function startBatch(prefix: string): Promise<string[]> {
  const names = Array.from({ length: 4 }, (_, i) => `${prefix}-${i}`);
  const paid = names.filter((_, i) => i % 2 === 0);
  // Long enough to outlive the flapping and the cut where they run.
  await createJobs(names.map((name) => chaosJob(corner, name, { runSeconds: 90, checkpointSeconds: 1, ...(paid.includes(name) ? { paid: '1' } : {}) })));
  await payer.fund(corner, paid);
  await pollUntil(
    `every job Running on ${partitioned()}`,
    () => listJobs(corner.hubNamespace),
    (jobs) =>
      names.every((n) => {
        const j = jobs.find((x) => x.metadata.name === n);
        return j?.status?.phase === 'Running' && j.status.placement?.provider === partitioned();
      }),
    120_000,
    250,
  );
  return names;
}

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: a flapping link does not thrash; a long cut fails over and the stale attempts are fenced on heal`, async () => {
    operator = startChaosOperator(corner, OPERATOR_ENV);
    try {
      const flapping = await startBatch(`flap-r${run}`);
      // The operator really talks to provider-a through the proxy (or cutting it proves nothing).
      expect(proxy.accepted).toBeGreaterThan(0);
      // Flapping: every silence shorter than the grace.
      const flapUntil = Date.now() + 20_000;
      while (Date.now() < flapUntil) {
        proxy.cut();
        await sleep(randomInt(2_000, 3_000));
        proxy.heal();
        await sleep(2_000);
      }
      await sleep(GRACE_MS); // a failover decided in the last silence would show by now
      for (const job of (await listJobs(corner.hubNamespace)).filter((j) => flapping.includes(j.metadata.name ?? ''))) {
        expect({ job: job.metadata.name, attempts: job.status?.attempts?.length, provider: job.status?.placement?.provider }).toEqual({
          job: job.metadata.name,
          attempts: 1,
          provider: partitioned(),
        });
      }

      // A cut longer than the grace: the heartbeat must notice a silence no request fails on.
      const cutAt = Date.now();
      proxy.cut();
      const moved = await pollUntil(
        'every flapping job failed over to provider-b',
        () => listJobs(corner.hubNamespace),
        (jobs) =>
          flapping.every((n) => {
            const j = jobs.find((x) => x.metadata.name === n);
            return (j?.status?.attempts?.length ?? 0) >= 2 && j?.status?.placement?.provider !== partitioned();
          }),
        90_000,
        250,
      );
      const failoverMs = Date.now() - cutAt;
      for (const job of moved.filter((j) => flapping.includes(j.metadata.name ?? ''))) {
        expect(job.status?.attempts?.[0]).toMatchObject({ provider: partitioned(), reason: 'Preempted: ProviderUnreachable' });
      }
      // The grace counts from the provider's last answer, up to a heartbeat (1 s) and a probe
      // deadline (1 s) before the cut: not sooner than that, and not long after.
      expect(failoverMs).toBeGreaterThanOrEqual(GRACE_MS - 2_000);
      expect(failoverMs).toBeLessThan(GRACE_MS + 15_000);
      await sleep(Math.max(0, 20_000 - (Date.now() - cutAt)));
      proxy.heal();

      // Stale attempts fenced at provider-a (I4), one attempt per failover at most, every job paid exactly once.
      const violations = await oracle(corner, { jobs: expectAll(flapping, { maxAttempts: 2 }), timeoutMs: 240_000 });
      expect(violations).toEqual([]);
    } finally {
      proxy.heal();
      await operator.stop();
      operator = undefined;
    }
  }, 600_000);
}
