// The reference trainer (examples/workloads/trainer.py: ordinary training code, nothing
// Flotilla-specific) as a 2-replica AIJob on the local federation, run for real: the executor runs
// its replicas and the job agent as processes (sim.flotilla.dev/exec), the replicas find each other
// through the rendezvous environment the operator injects, and the agent — not the trainer — adds
// checkpoints and the output to the provider's Kubo and reports them. The provider reclaims the
// node mid-run; the job resumes on the other provider from the agent's last checkpoint, restored
// into the fresh replicas' checkpoint directory, and finishes with a model file byte-identical to an
// uninterrupted 2-process run of the same trainer on this machine.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { create as createKubo } from 'kubo-rpc-client';
import { freePorts } from '../../federation/daemon.ts';
import { uninterruptedModel } from '../../scripts/trainer-reference.ts';
import { AGENT_CONTAINER, RESTORE_CONTAINER } from '../../operator/controllers/aijob/agent-step.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { aijobManifest, TEST_IMAGE } from '../support/aijob.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import { runFlotilla } from '../support/cli.ts';
import { startOperator } from '../support/operator.ts';
import { applyTenantRoles, namespaceTenant, waitForAggregation } from '../http/support.ts';
import type { Tenant } from '../http/support.ts';
import { receiptWallet, recursivePinList } from '../artifacts/support.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { addProvider, clusterRef, createJob, deleteJob, jobPods, newCorner, providerOf, removeCorner, waitJob, waitProvidersReady } from '../support/corner.ts';
import type { Corner } from '../support/corner.ts';

const TRAINER = 'examples/workloads/trainer.py';
// Long enough to be reclaimed mid-run (~30 s at 0.05 s a step), and checkpoints that live longer
// than two of the agent's polls (every 40 steps, 3 kept: ~6 s) so it sees them complete while running.
const STEPS = 600;
/** The trainer's arguments; the federation's run steps slowly enough to be reclaimed mid-run. */
const trainerArgs = (ckpt: string, out: string, stepDelay: string) => [
  '--checkpoint-dir',
  ckpt,
  '--output-dir',
  out,
  '--steps',
  String(STEPS),
  '--checkpoint-every',
  '40',
  '--step-delay',
  stepDelay,
  '--backend',
  'python',
];

const hub = clusterClients('hub');
const corner: Corner = newCorner('tr');
const A = `tr-${corner.id}-a`;
const B = `tr-${corner.id}-b`;
let ns = '';
let operator: OperatorProcess;
let operatorUrl = '';
let viewer: Tenant;
let removeTenantRoles: () => Promise<void> = () => Promise.resolve();
const signer = receiptWallet();
const scratch = mkdtempSync(join(tmpdir(), 'trainer-e2e-'));

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-trainer');
  // A is cheaper: the job starts there; B is where it must resume.
  await addProvider(corner, { name: A, cluster: clusterRef('provider-a'), price: '1.00' });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '2.00' });
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const ep = federation();
  removeTenantRoles = await applyTenantRoles(ep.hub.kubeconfig);
  operatorUrl = `http://127.0.0.1:${httpPort}`;
  operator = startOperator(ns, {
    FLOTILLA_HTTP_PORT: String(httpPort),
    FLOTILLA_RECEIPT_KEY: signer.privateKey,
    FLOTILLA_REPORT_PORT: String(port),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${port}`,
    FLOTILLA_REPORT_SECRET: 'trainer-e2e-report-secret',
    FLOTILLA_KUBO_API: ep.kubo.hub.api,
    // The agent adds to the provider-side Kubo; the hub pins from it over bitswap.
    FLOTILLA_AGENT_IPFS_API: ep.kubo.provider.api,
    FLOTILLA_PROVIDER_GRACE_MS: '5000',
  });
  viewer = await namespaceTenant(hub.kc, ns, 'viewer', 'view');
  await waitForAggregation(ep.hub.kubeconfig, viewer.username, 'get', ns);
  await waitProvidersReady(corner, [A, B], operator);
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner);
  await removeTenantRoles();
  rmSync(scratch, { recursive: true, force: true });
});

async function catFromHub(path: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of createKubo({ url: federation().kubo.hub.api }).cat(path, { timeout: 30_000 })) chunks.push(c);
  return Buffer.concat(chunks);
}

async function lsFromHub(cid: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of createKubo({ url: federation().kubo.hub.api }).ls(cid, { timeout: 30_000 })) names.push(e.name);
  return names;
}

/** The host directory the executor made for a pod (federation/executor.ts real-process mode). */
function execDirOf(provider: string, namespace: string, podName: string): string | undefined {
  const root = join(federation().stateDir, 'exec', provider, namespace);
  if (!existsSync(root)) return undefined;
  const hit = readdirSync(root).find((d) => d.startsWith(`${podName}-`));
  return hit ? join(root, hit) : undefined;
}

it('a 2-replica trainer reclaimed mid-run resumes elsewhere from the agent checkpoint and ends byte-identical to an uninterrupted run', async () => {
  const reference = uninterruptedModel(['python3', TRAINER], trainerArgs('/ckpt', '/out', '0.05'));
  const name = 'trainer';
  await createJob(
    aijobManifest({
      name,
      namespace: ns,
      image: TEST_IMAGE,
      command: ['python3', TRAINER],
      args: trainerArgs('/ckpt', '/out', '0.05'),
      replicas: 2,
      resources: { gpus: 1 },
      gpu: { products: [corner.product] },
      checkpoint: { path: '/ckpt', every: '30s' },
      output: { path: '/out', pin: true },
      recovery: { maxRestarts: 3 },
      podAnnotations: { 'sim.flotilla.dev/exec': 'true' },
      sim: false,
    }),
  );
  try {
    // Running on A, with a checkpoint the agent added and reported (the trainer reports nothing).
    const running = await waitJob(
      ns,
      name,
      `running on ${A} with a reported checkpoint`,
      (j) => j.status?.attempts?.[0]?.provider === A && Boolean(j.status.attempts[0].checkpointCID),
      120_000,
    );
    const uid = running.metadata.uid ?? '';
    const podsA = await jobPods(corner, A, uid);
    expect(podsA).toHaveLength(2);
    for (const pod of podsA) {
      expect(pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([[AGENT_CONTAINER, 'Always']]);
      expect(pod.spec?.containers[0]?.command).toEqual(['python3', TRAINER]);
    }

    // The provider reclaims the node: a taint with a deadline; the operator drains the replicas with SIGTERM.
    await providerOf(corner, A).cluster.core.patchNode(
      {
        name: providerOf(corner, A).node,
        body: {
          metadata: { annotations: { 'flotilla.dev/reclaim-deadline': new Date(Date.now() + 30_000).toISOString() } },
          spec: { taints: [{ key: 'flotilla.dev/reclaim', value: 'owner', effect: 'NoSchedule' }] },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    // Attempt 2 on B: its replicas restore attempt 1's checkpoint before the sidecar and the trainer start.
    const podsB = await pollUntil(
      `attempt 2's pods on ${B}`,
      () => jobPods(corner, B, uid),
      (pods) => pods.length === 2,
      120_000,
      200,
    );
    expect(podsB.map((p) => p.spec?.initContainers?.map((c) => c.name))).toEqual([
      [RESTORE_CONTAINER, AGENT_CONTAINER],
      [RESTORE_CONTAINER, AGENT_CONTAINER],
    ]);

    // A tenant who may view the job reads both replicas' logs with `flotilla logs`, through the
    // operator and the provider's apiserver, while attempt 2 runs.
    for (const replica of [0, 1]) {
      const logs = await pollUntil(
        `flotilla logs --replica ${replica} showing the resumed trainer`,
        () => runFlotilla(['logs', name, '-n', ns, '--replica', String(replica), '--operator', operatorUrl, '--token', viewer.token]),
        (r) => r.code === 0 && r.stdout.includes(`rank ${replica}; resumed at step`) && /\nstep \d+ loss/.test(r.stdout),
        60_000,
        500,
      );
      expect(logs.stderr).toBe('');
    }

    const done: AIJob = await waitJob(ns, name, 'Succeeded', (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed', 240_000);
    expect(done.status?.phase).toBe('Succeeded');
    const [first, second] = done.status?.attempts ?? [];
    expect(first).toMatchObject({ provider: A, reason: 'Preempted: NodeReclaimed' });
    expect(first?.checkpointCID).toBeDefined();
    expect(second).toMatchObject({ provider: B, reason: 'Succeeded' });

    // The trainer resumed where attempt 1's checkpoint left it, not at step 0.
    const replica0 = podsB.find((p) => p.metadata?.labels?.['flotilla.dev/replica'] === '0');
    const dir = execDirOf(providerOf(corner, B).cluster.name, corner.lentNamespace, replica0?.metadata?.name ?? '');
    expect(dir).toBeDefined();
    const mainLog = readFileSync(join(dir as string, 'containers', 'main', 'log'), 'utf8');
    // …exactly the step of the checkpoint attempt 1 closed with: the folder the agent added wraps it by name.
    const [entry] = await lsFromHub(first?.checkpointCID ?? '');
    const step = Number(/^step-(\d+)$/.exec(entry ?? '')?.[1]);
    expect(step).toBeGreaterThan(0);
    expect(mainLog).toContain(`resumed at step ${step}`);

    // Each attempt's log tail is kept on the hub with it: the last lines of each replica's log, as the
    // trainer printed them (the provider served them from the processes' real output).
    expect(second?.logTailCID).toBeDefined();
    const tail = (await catFromHub(`${second?.logTailCID}/r0.log`)).toString('utf8');
    expect(mainLog.endsWith(tail)).toBe(true);
    expect(tail).toContain(`step ${STEPS} loss`);
    expect(tail).toMatch(/ranks agree: True\n$/);
    expect(tail.split('\n').length - 1).toBeLessThanOrEqual(200);
    expect((await catFromHub(`${second?.logTailCID}/r1.log`)).toString('utf8')).toContain(`step ${STEPS} loss`);

    // The output the agent added is pinned on the hub and is the uninterrupted run's model, bit for bit.
    expect(done.status?.outputCID).toBeDefined();
    const model = await catFromHub(`${done.status?.outputCID}/model.json`);
    expect(model.equals(await reference)).toBe(true);

    // Every checkpoint, the output and the log tails are pinned on the hub's Kubo.
    const pins = await pollUntil(
      'the checkpoints, output and log tails pinned on the hub',
      () => recursivePinList(federation().kubo.hub.api),
      (p) => [first?.checkpointCID, second?.checkpointCID, done.status?.outputCID, second?.logTailCID].every((c) => c && p.includes(c)),
      60_000,
      500,
    );
    expect(pins).toEqual(expect.arrayContaining([first?.checkpointCID, done.status?.outputCID]));

    // `flotilla get` writes the output and each attempt's last checkpoint, verified against the signed receipt.
    await waitJob(ns, name, 'a receipt', (j) => Boolean(j.status?.receiptCID), 60_000);
    const out = join(scratch, 'out');
    const got = await runFlotilla([
      'get',
      name,
      '-o',
      out,
      '-n',
      ns,
      '--kubeconfig',
      federation().hub.kubeconfig,
      '--kubo',
      federation().kubo.hub.api,
      '--signer',
      signer.address,
      '--checkpoints',
    ]);
    expect(got.code).toBe(0);
    expect(readFileSync(join(out, 'model.json')).equals(await reference)).toBe(true);
    expect(readdirSync(join(`${out}-checkpoints`, 'attempt-1'))).toEqual([`step-${String(step).padStart(8, '0')}`]);
  } finally {
    await deleteJob(ns, name);
    await providerOf(corner, A)
      .cluster.core.patchNode(
        { name: providerOf(corner, A).node, body: { metadata: { annotations: { 'flotilla.dev/reclaim-deadline': null } }, spec: { taints: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
  }
}, 420_000);
