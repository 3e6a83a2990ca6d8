// The AIJob writes that take no resourceVersion, against the hub's real API server: finalizers added
// by server-side apply and removed by a tested JSON patch, and the payments' status written as a JSON
// patch that tests only what it replaces (core/status-patch.ts). Another writer's change landing
// between the read and the write must not refuse them; a change to what they replace must.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { AIJOB, GROUP, SETTLEMENT_FINALIZER, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobStatus } from '../../operator/api/types.ts';
import { MANAGED_BY_ANNOTATION } from '../../operator/core/lifecycle/claim.ts';
import { FINALIZER } from '../../operator/core/lifecycle/plan.ts';
import { AIJobStore } from '../../operator/hub/aijob-store.ts';
import { JobStatusWriter, withCondition } from '../../operator/payments/job-status.ts';
import { aiJobManifest } from '../support/admission-cases.ts';
import { clusterClients, createNamespace, deleteNamespace, uniqueName } from '../support/federation.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const core = hub.kc.makeApiClient(CoreV1Api);
let ns = '';
const T0 = new Date('2026-12-06T09:00:00Z');
const ID = `0x${'ab'.repeat(32)}`;
const TX = `0x${'fe'.repeat(32)}`;

beforeAll(async () => {
  ns = await createNamespace(core, 'aijob-writes');
});
afterAll(async () => {
  // Let the namespace go: the finalizers the tests left are no operator's.
  const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns })) as { items: AIJob[] };
  for (const job of list.items)
    await custom
      .patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name: job.metadata.name ?? '', body: { metadata: { finalizers: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
  await deleteNamespace(core, ns);
});

/** A job no operator acts on (claimed for nobody), as created: the "cached" view every writer starts from. */
async function createJob(): Promise<AIJob> {
  const manifest = aiJobManifest({}, uniqueName('writes'));
  const body = { ...manifest, metadata: { ...manifest.metadata, namespace: ns, annotations: { [MANAGED_BY_ANNOTATION]: 'nobody/none' } } };
  return (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, body })) as AIJob;
}

const read = async (job: AIJob) =>
  (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name: job.metadata.name ?? '' })) as AIJob;

/** What another controller does meanwhile: a merge patch of a field of its own, no precondition. */
const foreignStatusWrite = (job: AIJob, status: AIJobStatus) =>
  custom.patchNamespacedCustomObjectStatus(
    { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name: job.metadata.name ?? '', body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );

describe('finalizers without a resourceVersion', () => {
  it('two writers add theirs from the same stale read, both land once; a status write meanwhile refuses neither add nor remove', async () => {
    const lifecycle = new AIJobStore(hub.kc, { component: 'test-lifecycle' });
    const payments = new AIJobStore(hub.kc, { component: 'test-payments' });
    const stale = await createJob();
    await Promise.all([lifecycle.addFinalizer(stale, FINALIZER), payments.addFinalizer(stale, SETTLEMENT_FINALIZER)]);
    // Added again from the same stale view (a reconcile woken by an old event): still once each.
    await payments.addFinalizer(stale, SETTLEMENT_FINALIZER);
    expect([...((await read(stale)).metadata.finalizers ?? [])].sort()).toEqual([FINALIZER, SETTLEMENT_FINALIZER].sort());

    const seen = await read(stale);
    await foreignStatusWrite(seen, { phase: 'Succeeded' });
    const after = await payments.removeFinalizer(seen, SETTLEMENT_FINALIZER);
    expect(after.metadata.finalizers).toEqual([FINALIZER]);
    expect(after.status?.phase).toBe('Succeeded');
  });

  it('a removal from a view where the finalizers moved is refused as a conflict (409), and lands from a fresh read', async () => {
    const store = new AIJobStore(hub.kc, { component: 'test-payments' });
    const job = await createJob();
    await store.addFinalizer(job, 'example.com/first');
    await store.addFinalizer(job, SETTLEMENT_FINALIZER);
    const seen = await read(job);
    expect(seen.metadata.finalizers).toEqual(['example.com/first', SETTLEMENT_FINALIZER]);
    // Someone removes the first one: the settlement finalizer moves to position 0.
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        name: job.metadata.name ?? '',
        body: [{ op: 'remove', path: '/metadata/finalizers/0' }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await expect(store.removeFinalizer(seen, SETTLEMENT_FINALIZER)).rejects.toMatchObject({ code: 409 });
    expect((await read(job)).metadata.finalizers).toEqual([SETTLEMENT_FINALIZER]);
    expect((await store.removeFinalizer(await read(job), SETTLEMENT_FINALIZER)).metadata.finalizers ?? []).toEqual([]);
  });
});

describe("the payments' status writes", () => {
  const settling = (j: AIJob, reason: string, message: string): AIJobStatus =>
    withCondition(j.status ?? {}, 'Settled', 'False', reason, message, T0, j.metadata.generation);

  it('land over a stale view when only fields they neither read nor write changed, in one request, keeping those fields', async () => {
    const store = new AIJobStore(hub.kc, { component: 'test-payments' });
    const writer = new JobStatusWriter(hub.kc, store);
    const job = await createJob();
    await foreignStatusWrite(job, { phase: 'Succeeded', attempts: [{ index: 1, provider: 'provider-a', startTime: '2026-12-06T08:00:00Z' }] });
    // The first Settled beside no other condition: on the condition that there are none yet.
    let seen = await writer.update(await read(job), (j) => settling(j, 'SettlementPending', 'settling 0x01'));
    expect(seen?.status?.conditions?.map((c) => c.reason)).toEqual(['SettlementPending']);
    const before = seen as AIJob;

    // Meanwhile the artifacts record a receipt and the lifecycle its pods: the payments' view is stale.
    await foreignStatusWrite(before, { receiptCID: 'bafkreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi' });
    let requests = 0;
    for (const method of ['patchStatus', 'patchStatusGuarded'] as const) {
      const original = store[method].bind(store) as (...args: unknown[]) => Promise<AIJob>;
      (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        requests += 1;
        return original(...args);
      };
    }
    seen = await writer.update(before, (j) => ({ ...settling(j, 'SettlementPending', 'settling 0x01: sent'), settlement: { id: ID, txHash: TX } }));
    expect(requests).toBe(1);
    const stored = await read(job);
    expect(stored.status?.receiptCID).toBe('bafkreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi');
    expect(stored.status?.settlement).toEqual({ id: ID, txHash: TX });
    expect(stored.status?.conditions?.find((c) => c.type === 'Settled')?.message).toBe('settling 0x01: sent');
  });

  it('are refused when what they replace changed (here the phase that made the job settleable), and decide again from a fresh read', async () => {
    const store = new AIJobStore(hub.kc, { component: 'test-payments' });
    const writer = new JobStatusWriter(hub.kc, store);
    const job = await createJob();
    await foreignStatusWrite(job, {
      phase: 'Succeeded',
      conditions: [{ type: 'Finished', status: 'True', reason: 'Succeeded', message: '', lastTransitionTime: T0.toISOString() }],
    });
    const seen = await read(job);
    // The job leaves the settleable phase after the payments read it.
    await foreignStatusWrite(seen, { phase: 'Running' });
    const decided: string[] = [];
    await writer.update(seen, (j) => {
      decided.push(j.status?.phase ?? '');
      return j.status?.phase === 'Succeeded' ? { ...(j.status ?? {}), phase: 'Settled', settlement: { id: ID } } : undefined;
    });
    // Decided once from the stale view (refused), once from the fresh one (nothing to write).
    expect(decided).toEqual(['Succeeded', 'Running']);
    const stored = await read(job);
    expect(stored.status?.phase).toBe('Running');
    expect(stored.status?.settlement).toBeUndefined();
  });

  it('write nothing when decided again from a cache older than their own write (the same verdict, the same finalizer)', async () => {
    const store = new AIJobStore(hub.kc, { component: 'test-payments' });
    const writer = new JobStatusWriter(hub.kc, store);
    const stale = await createJob();
    const verdict = (j: AIJob) => withCondition(j.status ?? {}, 'Funded', 'True', 'EscrowDeposited', '25 USDC deposited', T0, j.metadata.generation);
    await writer.setFinalizer(stale, SETTLEMENT_FINALIZER, true);
    await writer.update(await read(stale), verdict);
    // Another controller writes meanwhile: the cache's version is neither ours nor the one ours replaced.
    await foreignStatusWrite(await read(stale), { phase: 'Succeeded' });
    let requests = 0;
    for (const method of ['patchStatus', 'patchStatusGuarded', 'addFinalizer', 'removeFinalizer'] as const) {
      const original = store[method].bind(store) as (...args: unknown[]) => Promise<AIJob>;
      (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        requests += 1;
        return original(...args);
      };
    }
    // The reconcile woken by the job's creation event, deciding from the version without either.
    const again = await writer.update(stale, verdict);
    expect(requests).toBe(0);
    expect(again?.status?.conditions?.find((c) => c.type === 'Funded')?.status).toBe('True');
    await writer.setFinalizer(stale, SETTLEMENT_FINALIZER, true);
    expect(requests).toBe(0);
    // A different verdict is written.
    await writer.update(stale, (j) => withCondition(j.status ?? {}, 'Funded', 'True', 'EscrowDeposited', '30 USDC deposited', T0, j.metadata.generation));
    expect(requests).toBeGreaterThan(0);
    const stored = await read(stale);
    expect(stored.status?.conditions?.filter((c) => c.type === 'Funded').map((c) => c.message)).toEqual(['30 USDC deposited']);
    expect(stored.status?.phase).toBe('Succeeded');
  });
});
