// Hub Secrets a job references reach its provider as per-attempt copies, on the local federation
// (real hub and provider apiservers): a 2-replica job with env from two keys of a hub Secret and a
// private-registry pull Secret gets, at the provider, one env copy holding exactly those two keys
// and a dockerconfigjson copy; its pods (accepted by the provider apiserver's validation) take the
// env from the copy and pull with it. The copies go with the job (the finalizer path) and with a
// job deleted behind the operator's back (the orphan sweep). A missing Secret or key ends the job
// Failed, InvalidSpec, naming the field, with nothing made at any provider; a provider refusing
// the copy refuses the attempt (CreateRefused) like a refused Service.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { envCopyName, pullCopyName } from '../../operator/controllers/aijob/secret-copies.ts';
import { aijobManifest } from '../support/aijob.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, readAIJob, waitForAIJob } from '../support/federation.ts';
import { deleteJobBehindOperator, withProviderQuota } from '../support/provider-faults.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const LENT = 'flotilla-workloads';
const IMAGE = `registry.example/private/trainer@sha256:${'e'.repeat(64)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const DOCKER_CONFIG = JSON.stringify({ auths: { 'registry.example': { auth: b64('robot:pull-token') } } });
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-secrets');
  await hub.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'db' }, type: 'Opaque', stringData: { user: 'alice', password: 's3cret', host: 'db.internal' } },
  });
  await hub.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': DOCKER_CONFIG } },
  });
  operator = startOperator(ns, { FLOTILLA_ORPHAN_SWEEP_MS: '2000' });
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

/** Two replicas × 2 A100s: only provider-b (two 4-GPU A100 nodes) has them. */
const job = (name: string, extra: Partial<AIJobManifest['spec']> = {}): AIJobManifest =>
  aijobManifest({
    name,
    namespace: ns,
    image: IMAGE,
    command: ['torchrun'],
    args: ['train.py'],
    replicas: 2,
    resources: { gpus: 2, cpu: '8', memory: '16Gi', shmSize: '2Gi' },
    gpu: { products: ['NVIDIA-A100-SXM4-40GB'] },
    output: { path: '/flotilla/output', pin: false },
    recovery: { maxRestarts: 0, strategy: 'Failover' },
    sim: { runSeconds: 600 },
    env: [
      { name: 'MODE', value: 'train' },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
      { name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'db', key: 'user' } } },
    ],
    imagePullSecrets: [{ name: 'regcred' }],
    ...extra,
  });

async function create(manifest: AIJobManifest): Promise<AIJob> {
  return (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, body: manifest })) as AIJob;
}

async function podsOf(provider: string, uid: string): Promise<V1Pod[]> {
  return (await clusterClients(provider).core.listNamespacedPod({ namespace: LENT, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

/** The job's Secret copies at a provider (read with the provider's admin credential; the hub's may not list them). */
async function copiesOf(provider: string, uid: string): Promise<V1Secret[]> {
  return (await clusterClients(provider).core.listNamespacedSecret({ namespace: LENT, labelSelector: `flotilla.dev/job-uid=${uid}` })).items.sort((a, b) =>
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
}

describe('hub Secrets a job references', () => {
  it('are copied to its provider, only the referenced keys; its pods take env from the copy and pull with it; the copies go with the job', async () => {
    const created = await create(job('private'));
    const uid = created.metadata.uid ?? '';
    const running = (await waitForAIJob(ns, 'private', (j) => j?.status?.phase === 'Running', 60_000)) as AIJob;
    expect(running.status?.placement?.provider).toBe('provider-b');
    const id = { name: 'private', uid };
    const envCopy = envCopyName(id, 1);
    const pullCopy = pullCopyName(id, 1, 0);

    const copies = await copiesOf('provider-b', uid);
    expect(copies.map((s) => s.metadata?.name)).toEqual([envCopy, pullCopy]);
    const [env, pull] = copies;
    // Exactly the two referenced keys, keyed by the env names: the Secret's `host` stays on the hub.
    expect(env).toMatchObject({ type: 'Opaque', immutable: true, data: { DB_PASSWORD: b64('s3cret'), DB_USER: b64('alice') } });
    expect(Object.keys(env?.data ?? {}).sort()).toEqual(['DB_PASSWORD', 'DB_USER']);
    expect(pull).toMatchObject({ type: 'kubernetes.io/dockerconfigjson', immutable: true, data: { '.dockerconfigjson': b64(DOCKER_CONFIG) } });
    expect(Object.keys(pull?.data ?? {})).toEqual(['.dockerconfigjson']);
    for (const copy of copies)
      expect(copy.metadata?.labels).toMatchObject({ 'flotilla.dev/job-uid': uid, 'flotilla.dev/attempt': '1', 'app.kubernetes.io/managed-by': 'flotilla' });

    // The pods as the provider apiserver accepted and stored them.
    const pods = await podsOf('provider-b', uid);
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      const vars = pod.spec?.containers[0]?.env ?? [];
      expect(vars.slice(0, 3)).toEqual([
        { name: 'MODE', value: 'train' },
        { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: envCopy, key: 'DB_PASSWORD' } } },
        { name: 'DB_USER', valueFrom: { secretKeyRef: { name: envCopy, key: 'DB_USER' } } },
      ]);
      expect(pod.spec?.imagePullSecrets).toEqual([{ name: pullCopy }]);
      // No hub Secret name reaches the provider.
      expect(JSON.stringify(pod.spec)).not.toMatch(/"(db|regcred)"/);
    }

    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, name: 'private' });
    await pollUntil(
      'the job gone (finalizer released)',
      () => readAIJob(ns, 'private'),
      (j) => j === undefined,
      60_000,
      250,
    );
    // The finalizer drops only after the copies are deleted.
    expect(await copiesOf('provider-b', uid)).toEqual([]);
    expect(operator.logs()).toMatch(/deleted Secret copy/);
  });

  it.each([
    [
      'a missing Secret',
      [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'nope', key: 'token' } } }],
      undefined,
      /spec\.env\[0\]\.valueFrom\.secretKeyRef\.name: Secret nope does not exist in namespace/,
    ],
    [
      'a missing key',
      [
        { name: 'DB_HOST', value: 'x' },
        { name: 'DB_PORT', valueFrom: { secretKeyRef: { name: 'db', key: 'port' } } },
      ],
      undefined,
      /spec\.env\[1\]\.valueFrom\.secretKeyRef\.key: Secret db in namespace \S+ has no key port/,
    ],
    ['a pull Secret that is no registry credential', [], [{ name: 'db' }], /spec\.imagePullSecrets\[0\]\.name: Secret db in namespace \S+ is of type Opaque/],
  ])('%s ends the job Failed, InvalidSpec, naming the field, with nothing made at a provider', async (_what, env, imagePullSecrets, message) => {
    const name = `missing-${Math.random().toString(36).slice(2, 8)}`;
    const created = await create(job(name, { env, imagePullSecrets: imagePullSecrets ?? [] }));
    const failed = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Failed', 60_000)) as AIJob;
    const finished = failed.status?.conditions?.find((c) => c.type === 'Finished');
    expect(finished).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(finished?.message).toMatch(message);
    // Ended before any attempt: no provider was asked for anything.
    expect(failed.status?.attempts ?? []).toEqual([]);
    for (const provider of ['provider-a', 'provider-b']) {
      expect(await podsOf(provider, created.metadata.uid ?? '')).toEqual([]);
      expect(await copiesOf(provider, created.metadata.uid ?? '')).toEqual([]);
    }
  });

  it('closes the attempt as CreateRefused, with no pod made, when the provider refuses the copy', async () => {
    await withProviderQuota('provider-b', LENT, { secrets: '0' }, async () => {
      const created = await create(job('refused'));
      const ended = (await waitForAIJob(ns, 'refused', (j) => Boolean(j?.status?.attempts?.[0]?.endTime), 30_000)) as AIJob;
      expect(ended.status?.attempts?.[0]).toMatchObject({ provider: 'provider-b', reason: 'Preempted: CreateRefused' });
      expect(ended.status?.attempts?.[0]?.message).toMatch(/exceeded quota/);
      expect(await podsOf('provider-b', created.metadata.uid ?? '')).toEqual([]);
    });
  });

  it("loses its copies to the orphan sweep when the job is deleted behind the operator's back", async () => {
    const created = await create(job('orphaned'));
    const uid = created.metadata.uid ?? '';
    await waitForAIJob(ns, 'orphaned', (j) => j?.status?.phase === 'Running', 60_000);
    expect(await copiesOf('provider-b', uid)).toHaveLength(2);
    await deleteJobBehindOperator(operator, ns, 'orphaned');
    operator = startOperator(ns, { FLOTILLA_ORPHAN_SWEEP_MS: '2000' });
    await pollUntil(
      'the orphaned copies gone',
      () => copiesOf('provider-b', uid),
      (s) => s.length === 0,
      60_000,
      500,
    );
    await pollUntil(
      'the orphaned pods gone',
      () => podsOf('provider-b', uid),
      (p) => p.length === 0,
      60_000,
      500,
    );
    expect(operator.logs()).toMatch(/deleted orphaned Secret copy/);
  });
});
