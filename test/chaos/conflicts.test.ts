// Chaos 4: write conflicts. While the operator reconciles a batch, another client keeps patching
// every job's metadata (a label counter and a new annotation per write, JSON merge patches, as
// fast as the hub answers): every one of the operator's status writes races a foreign write and
// many fail with 409. Nothing may be lost: every job still converges (oracle), every annotation the
// other client wrote is there, its last counter is the label's value, and the operator's finalizer
// and status survived the other client's writes.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { removeCorner, deleteAllJobs, listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, Payer, assertFederationHealthy, chaosJob, createJobs, openChaosCorner, startChaosOperator } from './suite.ts';
import { LiveAttemptSampler, expectAll, oracle } from './oracle.ts';

let corner: OpenCorner;
let payer: Payer;
let operator: OperatorProcess;

beforeAll(async () => {
  corner = await openChaosCorner({ nodesPerProvider: 1 });
  payer = new Payer();
  await payer.prepare('1000');
  operator = startChaosOperator(corner);
}, 120_000);

afterAll(async () => {
  await deleteAllJobs(corner.hubNamespace).catch(() => undefined);
  await operator.stop();
  await removeCorner(corner);
  payer.destroy();
  await assertFederationHealthy();
}, 180_000);

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Patches the job's labels and annotations until stopped; returns how many writes landed. */
function meddle(name: string): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const body = { metadata: { labels: { 'chaos.flotilla.dev/tick': String(n + 1) }, annotations: { [`chaos.flotilla.dev/note-${n + 1}`]: 'x' } } };
      try {
        await corner.custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.hubNamespace, name, body },
          merge,
        );
        n++;
      } catch {
        // the hub may throttle or be slow; keep going
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return n;
    },
  };
}

for (let run = 1; run <= CHAOS_RUNS; run++) {
  it(`run ${run}/${CHAOS_RUNS}: another client patches every job while it reconciles; no update is lost`, async () => {
    const names = Array.from({ length: 4 }, (_, i) => `conflict-r${run}-${i}`);
    const paid = names.filter((_, i) => i % 2 === 0);
    await createJobs(names.map((name, i) => chaosJob(corner, name, { runSeconds: 3 + i, ...(paid.includes(name) ? { paid: '1' } : {}) })));
    const meddlers = names.map((name) => meddle(name));
    await payer.fund(corner, paid);
    const sampler = new LiveAttemptSampler(corner);
    // Meddle through the whole life of the jobs: placement, run, pin, settlement.
    const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 1 }), timeoutMs: 240_000 });
    const writes = await Promise.all(meddlers.map((m) => m.stop()));
    expect([...violations, ...(await sampler.stop())]).toEqual([]);
    const jobs = await listJobs(corner.hubNamespace);
    for (const [i, name] of names.entries()) {
      const job = jobs.find((j) => j.metadata.name === name);
      const n = writes[i] ?? 0;
      expect(n).toBeGreaterThan(10); // the race really happened
      expect(job?.metadata.labels?.['chaos.flotilla.dev/tick']).toBe(String(n));
      const notes = Object.keys(job?.metadata.annotations ?? {}).filter((k) => k.startsWith('chaos.flotilla.dev/note-'));
      expect(notes).toHaveLength(n);
      expect(job?.metadata.finalizers).toContain('flotilla.dev/remote-pods');
    }
    // The operator lost races (409) and recovered from them, rather than never meeting one.
    expect(operator.logs()).toMatch(/the object has been modified|Conflict|409/);
  }, 600_000);
}
