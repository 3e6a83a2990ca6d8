// Chaos 1: the operator SIGKILLed at its side-effect boundaries, again and again, while a batch of
// paid and unpaid jobs runs. Each operator in the chain is armed with one failpoint
// (FLOTILLA_FAILPOINT, operator/runtime/failpoint.ts) and dies there; the next one starts on the
// state it left. The boundaries:
//
//   before-status-write@n   the n-th status write of the process (placement, Running, Succeeded, pins)
//   after-pod-create        right after a job's remote pods were created, before anything is recorded
//   after-pin@1             right after the hub's Kubo pinned an output, before OutputPinned is written
//   after-settle-send       right after a settlement transaction was sent, before anything is recorded
//
// Then a clean operator, and the oracle: every job Settled/Succeeded with exactly one attempt (a
// crash never starts a second one), no orphan pod, outputs pinned, one settlement per paid job,
// credits equal to the metered shares.
import { pollUntil } from '../support/federation.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, Payer, assertFederationHealthy, chaosJob, createJobs, openChaosCorner, startChaosOperator, tearDownCorner, waitExit } from './suite.ts';
import { LiveAttemptSampler, expectAll, oracle } from './oracle.ts';

let corner: OpenCorner;
let payer: Payer;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  corner = await openChaosCorner({ nodesPerProvider: 2 });
  payer = new Payer();
  await payer.prepare('1000');
}, 120_000);

afterAll(async () => {
  await operator?.kill();
  await tearDownCorner(corner, { payer });
  await assertFederationHealthy();
}, 180_000);

const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: SIGKILL at every side-effect boundary, restart, converge`, async () => {
    const names = Array.from({ length: 6 }, (_, i) => `crash-r${run}-${i}`);
    const paid = names.filter((_, i) => i % 2 === 0);
    // Staggered run times, so placement, runs, pins and settlements overlap the crashes.
    await createJobs(names.map((name, i) => chaosJob(corner, name, { runSeconds: 2 + i, ...(paid.includes(name) ? { paid: '1' } : {}) })));
    await payer.fund(corner, paid);
    const sampler = new LiveAttemptSampler(corner);
    try {
      const boundaries = [
        `before-status-write@${randomInt(1, 8)}`,
        'after-pod-create',
        'after-pin@1',
        'after-settle-send',
        `before-status-write@${randomInt(3, 12)}`,
      ];
      const crashes: string[] = [];
      const converged = async () => {
        const jobs = await listJobs(corner.hubNamespace);
        return names.every((n) => jobs.find((j) => j.metadata.name === n)?.status?.phase === (paid.includes(n) ? 'Settled' : 'Succeeded'));
      };
      for (const boundary of boundaries) {
        // Nothing left for this boundary to interrupt: the chain ends (the later ones come later in a job's life).
        if (await converged()) break;
        const op = startChaosOperator(corner, { FLOTILLA_FAILPOINT: boundary });
        operator = op;
        // It dies at its boundary — or the batch finishes first (an n-th write that never comes).
        const outcome = await pollUntil(
          `the operator armed with ${boundary} dying there or the batch converging`,
          async () => ((await waitExit(op.pid, 500)) ? 'died' : (await converged()) ? 'converged' : 'running'),
          (o) => o !== 'running',
          120_000,
          0,
        ).catch((err: unknown) => {
          throw new Error(`${String(err)}; log:\n${op.logs().slice(-3000)}`);
        });
        if (outcome === 'converged') {
          await op.kill();
          break;
        }
        const logs = op.logs();
        expect(logs).toMatch(new RegExp(`failpoint ${boundary.replace(/@\d+/, '')}`));
        crashes.push(boundary);
      }
      expect(crashes.length).toBeGreaterThanOrEqual(3);

      operator = startChaosOperator(corner);
      const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 1 }), sampled: await stopAfter(sampler, names) });
      expect(violations).toEqual([]);
    } finally {
      await sampler.stop(); // idempotent; a failure above must not leave it polling (Jest would never exit)
    }
    await assertFederationHealthy();
    await operator.stop();
    operator = undefined;
  }, 600_000);
}

/** Stops the sampler once every job has ended (it samples the whole run, recovery included). */
async function stopAfter(sampler: LiveAttemptSampler, names: readonly string[]): Promise<string[]> {
  await pollUntil(
    'every job terminal',
    () => listJobs(corner.hubNamespace),
    (jobs) => names.every((n) => ['Succeeded', 'Failed', 'Settled'].includes(jobs.find((j) => j.metadata.name === n)?.status?.phase ?? '')),
    180_000,
    500,
  ).catch(() => undefined);
  return sampler.stop();
}
