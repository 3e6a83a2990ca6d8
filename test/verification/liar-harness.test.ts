// The verified-compute harness itself (issue 19), on the plain federation with no verification
// feature: what the lying-provider run stands on must hold first. Two honest providers that run the
// same deterministic work (sim.flotilla.dev/deterministic) report the same output CID, so a
// re-execution can compare CIDs; a lying provider (test/support/lying-provider.ts) ends the same job
// Succeeded at once with a different CID, which plain Flotilla accepts — the hole verification closes.
//
// A private corner (its own GPU product and lent namespace on provider-a, -b and -c) keeps the liar
// away from every other suite's pods.
import type { AIJobManifest } from '../../operator/api/types.ts';
import { aijobManifest } from '../support/aijob.ts';
import { clusterClients, createNamespace, deleteNamespace, uniqueName } from '../support/federation.ts';
import { startLiar } from '../support/lying-provider.ts';
import type { Liar } from '../support/lying-provider.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { addProvider, clusterRef, createJob, deleteAllJobs, newCorner, removeCorner, waitJob, waitProvidersReady } from '../support/corner.ts';

const hub = clusterClients('hub');
const corner = newCorner();
const A = `pe-${corner.id}-a`;
const B = `pe-${corner.id}-b`;
const LIAR = `pe-${corner.id}-c`;
const RUN_SECONDS = 8;
let ns = '';
let operator: OperatorProcess | undefined;
let liar: Liar | undefined;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-liar');
  await addProvider(corner, { name: A, cluster: clusterRef('provider-a'), price: '1.00' });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '1.00' });
  await addProvider(corner, { name: LIAR, cluster: clusterRef('provider-c'), price: '0.50' });
  liar = await startLiar({ provider: LIAR, share: 1 });
  operator = startOperator(ns);
  await waitProvidersReady(corner, [A, B, LIAR], operator, 1);
}, 180_000);

afterAll(async () => {
  liar?.stop();
  // The jobs first, while the operator is there to take their finalizers off (else the namespace
  // stays Terminating).
  await deleteAllJobs(ns, 60_000).catch(() => undefined);
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner);
}, 120_000);

/** The same work every time — image, args, env, output text — pinned to one provider. */
function deterministicJob(name: string, provider: string): AIJobManifest {
  return aijobManifest({
    name,
    namespace: ns,
    image: 'registry.example/trainer@sha256:' + 'd'.repeat(64),
    args: ['--steps', '300', '--seed', '7'],
    env: [{ name: 'LEARNING_RATE', value: '0.001' }],
    gpu: { products: [corner.product] },
    placement: { allowedProviders: [provider] },
    sim: { runSeconds: RUN_SECONDS, output: 'steps=300 loss=0.4127', deterministic: true },
  });
}

const succeeded = (name: string) => waitJob(ns, name, 'Succeeded', (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed', 90_000);

describe('the lying-provider harness on the plain federation', () => {
  it('two honest providers give the same output CID for the same work; the liar ends it at once with another, and says so', async () => {
    const [onA, onB, onLiar] = [uniqueName('honest-a'), uniqueName('honest-b'), uniqueName('lied')];
    await Promise.all([createJob(deterministicJob(onA, A)), createJob(deterministicJob(onB, B)), createJob(deterministicJob(onLiar, LIAR))]);
    const [a, b, lied] = await Promise.all([succeeded(onA), succeeded(onB), succeeded(onLiar)]);

    // Honest: the same CID from two providers, two jobs, two pods — the output depends on the work only.
    expect([a.status?.phase, b.status?.phase]).toEqual(['Succeeded', 'Succeeded']);
    expect(a.status?.attempts?.map((t) => t.provider)).toEqual([A]);
    expect(b.status?.attempts?.map((t) => t.provider)).toEqual([B]);
    expect(a.status?.outputCID).toMatch(/^baf/);
    expect(b.status?.outputCID).toBe(a.status?.outputCID);

    // The liar: Succeeded, a different CID, and the liar's own record names the job and the CID.
    expect(lied.status?.phase).toBe('Succeeded');
    expect(lied.status?.attempts?.map((t) => t.provider)).toEqual([LIAR]);
    expect(lied.status?.outputCID).toMatch(/^baf/);
    expect(lied.status?.outputCID).not.toBe(a.status?.outputCID);
    const uid = lied.metadata.uid ?? '';
    expect(liar?.stats.liesTold).toEqual([uid]);
    expect(liar?.stats.lies.map((l) => [l.jobUid, l.outputCID])).toEqual([[uid, lied.status?.outputCID]]);
    expect(liar?.stats.jobsSeen).toContain(uid);
    // It skipped the work: the hub saw the attempt end well before the run time the executor waits out.
    // (Second-granular timestamps: half the run time is the line between skipped and run.)
    const ranMs = (job: typeof lied) => Date.parse(job.status?.attempts?.[0]?.endTime ?? '') - Date.parse(job.status?.attempts?.[0]?.startTime ?? '');
    expect(ranMs(lied)).toBeLessThan((RUN_SECONDS * 1000) / 2);
    expect(ranMs(a)).toBeGreaterThanOrEqual((RUN_SECONDS * 1000) / 2);
    // The honest jobs ran in clusters the liar does not hold: it never saw them.
    expect(liar?.stats.jobsSeen).not.toContain(a.metadata.uid);
    expect(liar?.stats.jobsSeen).not.toContain(b.metadata.uid);
  }, 150_000);
});
