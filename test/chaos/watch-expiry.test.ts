// Chaos 3: watch history expired. The operator is frozen (SIGSTOP) while the hub's API server is
// restarted (its watch cache starts empty, at etcd's current revision), jobs are created and the
// hub's etcd is compacted to its latest revision through etcd's own JSON gateway — so the
// resourceVersions the frozen operator holds exist nowhere any more. On SIGCONT its watches
// reconnect from them and get 410 Gone: it must relist once and carry on, the same process (its
// lease outlives the freeze), not loop on 410s and not miss the jobs created while it slept.
// A try in which no 410 reached the operator (the fault was not produced: seen in runs with another
// operator busy on the same hub) is reported as such and tried again, up to 3 times, instead of
// failing — or passing — on luck; the oracle holds for every try.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, stopCluster } from '../../federation/clusters.ts';
import { freePort } from '../../federation/daemon.ts';
import { toolPaths } from '../../federation/paths.ts';
import { federation, pollUntil } from '../support/federation.ts';
import { listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { CHAOS_RUNS, assertFederationHealthy, chaosJob, createJobs, isAlive, openChaosCorner, startChaosOperator, tearDownCorner } from './suite.ts';
import { expectAll, oracle } from './oracle.ts';

const tools = toolPaths();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The hub's etcd client URL, from the flags kwokctl gave its kube-apiserver. */
function hubEtcd(): string {
  const config = readFileSync(join(federation().stateDir, 'kwok', 'hub', 'clusters', 'hub', 'kwok.yaml'), 'utf8');
  const url = /--etcd-servers=(\S+)/.exec(config)?.[1];
  if (!url) throw new Error('no --etcd-servers in the hub kwok.yaml');
  return url;
}

/** etcd's gRPC gateway (JSON): POST /v3/<service>/<method>. */
async function etcd<T>(method: string, body: unknown): Promise<T> {
  const res = await fetch(`${hubEtcd()}/v3/${method}`, { method: 'POST', body: JSON.stringify(body) });
  return (await res.json()) as T;
}
const etcdRevision = async () =>
  Number((await etcd<{ header: { revision: string } }>('kv/range', { key: Buffer.from('/registry').toString('base64') })).header.revision);

/** The sum of a counter's series on the operator's own /metrics whose labels match all of `labels`. */
async function counter(port: number, name: string, labels: readonly string[]): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)`, 'gm'))) {
    if (labels.every((l) => (m[1] ?? '').includes(l))) total += Number(m[2]);
  }
  return total;
}
const hubGets = (port: number) => counter(port, 'flotilla_kube_api_requests_total', ['cluster="hub"', 'verb="GET"']);
const aijobWatchesExpired = (port: number) => counter(port, 'flotilla_watch_expired_total', ['resource="aijobs"']);

let corner: OpenCorner;

beforeAll(async () => {
  corner = await openChaosCorner({ nodesPerProvider: 2 });
}, 120_000);
afterAll(async () => {
  await tearDownCorner(corner);
  await assertFederationHealthy();
}, 240_000);

/** Tries of one run before "fault not produced" fails it. */
const FAULT_TRIES = 3;

/**
 * One try: the operator frozen across a hub restart and a compaction, then resumed. Returns the
 * 410s its AIJob watches saw — 0 means the fault was not produced (nothing reached the operator
 * that said its history was gone), which the caller reports and tries again — after checking
 * what must hold whatever happened: every job correct (the oracle), the same process, no lease lost.
 */
async function frozenAcrossCompaction(run: number, tryNo: number): Promise<{ expired: number; port: number; op: OperatorProcess }> {
  const port = await freePort();
  // A lease that outlives the freeze: the point is the same process resuming with stale watches.
  const op = startChaosOperator(corner, {
    FLOTILLA_HTTP_PORT: String(port),
    FLOTILLA_LEASE_DURATION_MS: '180000',
    FLOTILLA_RENEW_DEADLINE_MS: '170000',
    FLOTILLA_LEASE_RETRY_MS: '2000',
  });
  let frozen = false;
  try {
    const before = Array.from({ length: 4 }, (_, i) => `exp-r${run}t${tryNo}-a${i}`);
    await createJobs(before.map((name) => chaosJob(corner, name, { runSeconds: 30 })));
    await pollUntil(
      'the first batch Running',
      () => listJobs(corner.hubNamespace),
      (jobs) => before.every((n) => jobs.find((j) => j.metadata.name === n)?.status?.phase === 'Running'),
      120_000,
      250,
    );
    const seenRevision = await etcdRevision();

    process.kill(op.pid, 'SIGSTOP');
    frozen = true;
    await stopCluster(federation().stateDir, 'hub', tools);
    await startCluster(federation().stateDir, 'hub', tools);
    await pollUntil(
      'the hub answering again',
      () =>
        corner.hub.core.listNamespace({ limit: 1 }).then(
          () => true,
          () => false,
        ),
      (ok) => ok,
      120_000,
      500,
    );
    // Work the frozen operator must not miss.
    const after = Array.from({ length: 3 }, (_, i) => `exp-r${run}t${tryNo}-b${i}`);
    await createJobs(after.map((name) => chaosJob(corner, name, { runSeconds: 3 })));
    const latest = await etcdRevision();
    await etcd('kv/compaction', { revision: String(latest), physical: true });
    // History really gone: etcd refuses to read at the revision the operator last saw.
    const old = await etcd<{ error?: string; message?: string }>('kv/range', {
      key: Buffer.from('/registry').toString('base64'),
      revision: String(seenRevision),
    });
    expect(old.error ?? old.message ?? '').toMatch(/compacted/);
    process.kill(op.pid, 'SIGCONT');
    frozen = false;

    const violations = await oracle(corner, { jobs: expectAll([...before, ...after], { maxAttempts: 1 }), chain: false, timeoutMs: 240_000 });
    expect(violations).toEqual([]);
    // The same process carried on (no restart hid anything) and kept its lease.
    expect(isAlive(op.pid)).toBe(true);
    expect(op.logs()).not.toMatch(/lost leadership/);
    return { expired: await aijobWatchesExpired(port), port, op };
  } catch (err) {
    if (frozen) process.kill(op.pid, 'SIGCONT');
    await op.stop();
    throw err;
  }
}

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: frozen across a hub restart and an etcd compaction, the operator relists once and misses nothing`, async () => {
    for (let tryNo = 1; ; tryNo++) {
      const { expired, port, op } = await frozenAcrossCompaction(run, tryNo);
      try {
        if (expired === 0) {
          // The fault was not produced: correct, but it proved nothing about 410s. Say so, try again.
          process.stdout.write(`watch-expiry run ${run}, try ${tryNo}/${FAULT_TRIES}: fault not produced (no 410 Gone reached the operator's AIJob watches)\n`);
          if (tryNo >= FAULT_TRIES) throw new Error(`watch-expiry run ${run}: fault not produced in ${FAULT_TRIES} tries (no 410 Gone reached the operator)`);
          continue;
        }
        // The stale watches really were told 410 Gone — and relisted once or twice, not in a loop…
        expect(expired).toBeLessThan(10);
        // …and it is not stuck relisting: at rest its hub GETs are the lease's (one per 2 s) and little else.
        const g0 = await hubGets(port);
        await sleep(20_000);
        const perSecond = ((await hubGets(port)) - g0) / 20;
        expect(perSecond).toBeLessThan(2);
        return;
      } finally {
        await op.stop();
      }
    }
  }, 1_500_000);
}
