// Chaos 7: the hub's Kubo and the chain cut off from the operator at once, mid-run. Each is reached
// through a TCP proxy (test/support/tcp-proxy.ts) that is cut for 15–25 s — a black hole, not a
// refused connection, so every pin and RPC call has to time out. Jobs finish at the provider in the
// meantime: they must say why their output is not pinned (OutputPinned=False), the operator must
// not crash, and once both answer again every job is pinned and every paid job settled exactly once.
import { federation, pollUntil } from '../support/federation.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, Payer, assertFederationHealthy, chaosJob, createJobs, isAlive, openChaosCorner, startChaosOperator, tearDownCorner } from './suite.ts';
import { expectAll, oracle } from './oracle.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const hostPort = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};

let corner: OpenCorner;
let payer: Payer;
let kubo: TcpProxy;
let chain: TcpProxy;
let env: Record<string, string>;

beforeAll(async () => {
  const ep = federation();
  kubo = await TcpProxy.start(hostPort(ep.kubo.hub.api));
  chain = await TcpProxy.start(hostPort(ep.anvil.rpcUrl));
  env = {
    FLOTILLA_KUBO_API: `http://127.0.0.1:${kubo.port}`,
    FLOTILLA_CHAIN_RPC: `http://127.0.0.1:${chain.port}`,
    // Short deadlines, so the cut is noticed (and said) within it.
    FLOTILLA_PIN_TIMEOUT_MS: '3000',
  };
  corner = await openChaosCorner({ nodesPerProvider: 2 });
  payer = new Payer();
  await payer.prepare('1000');
}, 120_000);

afterAll(async () => {
  kubo.heal();
  chain.heal();
  await tearDownCorner(corner, { env, payer });
  await kubo.close();
  await chain.close();
  await assertFederationHealthy();
}, 180_000);

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: Kubo and the chain silent mid-run: jobs say why, then pin and settle once`, async () => {
    const op = startChaosOperator(corner, env);
    try {
      const names = Array.from({ length: 6 }, (_, i) => `deps-r${run}-${i}`);
      const paid = names.filter((_, i) => i % 2 === 0);
      await createJobs(names.map((name, i) => chaosJob(corner, name, { runSeconds: 3 + i, ...(paid.includes(name) ? { paid: '1' } : {}) })));
      await payer.fund(corner, paid);
      await pollUntil(
        'a job Running',
        () => listJobs(corner.hubNamespace),
        (jobs) => jobs.some((j) => j.status?.phase === 'Running'),
        120_000,
        250,
      );
      const pinsBefore = kubo.accepted;
      kubo.cut();
      chain.cut();
      const cutMs = randomInt(15_000, 25_000);
      const healAt = Date.now() + cutMs;
      // Degraded, and saying so: a finished job whose output cannot be pinned reports it.
      await pollUntil(
        'a job with OutputPinned=False while Kubo is silent',
        () => listJobs(corner.hubNamespace),
        (jobs) => jobs.some((j) => j.status?.phase === 'Running' && j.status.conditions?.some((c) => c.type === 'OutputPinned' && c.status === 'False')),
        cutMs,
        250,
      );
      await sleep(Math.max(0, healAt - Date.now()));
      expect(isAlive(op.pid)).toBe(true);
      kubo.heal();
      chain.heal();

      const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 1 }), timeoutMs: 240_000 });
      expect(violations).toEqual([]);
      // The pins went through the proxy (the scenario really cut the operator's Kubo).
      expect(kubo.accepted).toBeGreaterThan(pinsBefore);
    } finally {
      kubo.heal();
      chain.heal();
      await op.stop();
    }
  }, 600_000);
}
