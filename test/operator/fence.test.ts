// The provider fence (operator/core/fence.ts, operator/providers/fence.ts) against a real provider
// API server running the provider chart's fence policies as the federation installs them
// (federation/register.ts installProviderFence: rendered by helm from
// charts/flotilla-provider/templates/fence.yaml, bound in every namespace with a flotilla-fence
// ConfigMap). The chart's namespace-scoped binding with the hub's own credential:
// test/charts/provider-rbac.test.ts. A deposed leader held back end to end: test/chaos/split-brain.test.ts.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { FENCE_CONFIGMAP, fenceAnnotations } from '../../operator/core/fence.ts';
import type { FenceStamp } from '../../operator/core/fence.ts';
import { ProviderFences } from '../../operator/providers/fence.ts';
import { NotLeaderError } from '../../operator/runtime/lease-guard.ts';
import { clusterClients, createNamespace, deleteNamespace, uniqueName } from '../support/federation.ts';

const { core } = clusterClients('provider-a');
let ns = '';
let bare = '';
const logs: { level: string; msg: string }[] = [];
const log = (level: string, msg: string) => void logs.push({ level, msg });
const labels = { 'flotilla.dev/job-uid': 'u1', 'flotilla.dev/attempt': '1', 'flotilla.dev/hub': 'fence-test' };

beforeAll(async () => {
  ns = await createNamespace(core, 't-fence');
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: FENCE_CONFIGMAP } } });
  bare = await createNamespace(core, 't-fence-bare');
});
afterAll(async () => {
  await deleteNamespace(core, ns);
  await deleteNamespace(core, bare);
});

const pod = (stamp: FenceStamp | undefined): V1Pod => ({
  metadata: { name: uniqueName('p'), labels, annotations: fenceAnnotations(stamp) },
  spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.example/trainer:1' }] },
});
const service = (stamp: FenceStamp): V1Service => ({
  metadata: { name: uniqueName('s'), labels, annotations: fenceAnnotations(stamp) },
  spec: { clusterIP: 'None', selector: labels },
});
const secret = (stamp: FenceStamp): V1Secret => ({ metadata: { name: uniqueName('c'), labels, annotations: fenceAnnotations(stamp) }, stringData: { k: 'v' } });
/** The Status message of a refused request. */
const refusedWith = async (request: Promise<unknown>): Promise<string> => {
  try {
    await request;
  } catch (err) {
    const e = err as { code?: number; body?: string };
    return `${e.code} ${(JSON.parse(e.body ?? '{}') as { message?: string }).message}`;
  }
  throw new Error('the request was accepted');
};
const fenceData = async (namespace: string) => (await core.readNamespacedConfigMap({ name: FENCE_CONFIGMAP, namespace })).data ?? {};
const patchFence = (data: Record<string, string | null>) =>
  core.patchNamespacedConfigMap({ name: FENCE_CONFIGMAP, namespace: ns, body: { data } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

test("a new leader raises its token; from then on the provider refuses the previous leader's pods, Services and Secrets", async () => {
  const key = uniqueName('hub_ns.lease');
  const leader = new ProviderFences({ stamp: { key, epoch: 5 }, confirmLeading: async () => true, log });
  await expect(leader.ensure('provider-a', { core, namespace: ns })).resolves.toBe('enforced');
  expect(await fenceData(ns)).toMatchObject({ [key]: '5' });

  const old = { key, epoch: 4 };
  const expected = `403 .*flotilla fence: a newer leader of hub lease ${key} holds token 5 in this namespace; this create carries 4`;
  expect(await refusedWith(core.createNamespacedPod({ namespace: ns, body: pod(old) }))).toMatch(new RegExp(expected));
  expect(await refusedWith(core.createNamespacedService({ namespace: ns, body: service(old) }))).toMatch(new RegExp(expected));
  expect(await refusedWith(core.createNamespacedSecret({ namespace: ns, body: secret(old) }))).toMatch(new RegExp(expected));
  // A token that is no number is refused too.
  expect(await refusedWith(core.createNamespacedPod({ namespace: ns, body: pod({ key, epoch: Number.NaN }) }))).toMatch(/carries NaN/);

  // The leader's own, a later leader's, an unfenced operator's (no election) and another lease's are accepted.
  for (const stamp of [{ key, epoch: 5 }, { key, epoch: 6 }, undefined, { key: uniqueName('other'), epoch: 0 }])
    await expect(core.createNamespacedPod({ namespace: ns, body: pod(stamp) })).resolves.toBeDefined();
});

test('a token only goes up: lowering, removing or garbling one is refused; raising it is not', async () => {
  const key = uniqueName('hub_ns.lease');
  await patchFence({ [key]: '7' });
  expect(await refusedWith(patchFence({ [key]: '6' }))).toMatch(/^403 .*flotilla fence: a fencing token never goes down or away/);
  expect(await refusedWith(patchFence({ [key]: null }))).toMatch(/^403 .*flotilla fence: a fencing token never goes down or away/);
  expect(await refusedWith(patchFence({ [key]: 'eight' }))).toMatch(/^422 .*flotilla fence: a fencing token is an integer/);
  await expect(patchFence({ [key]: '8' })).resolves.toBeDefined();
  expect((await fenceData(ns))[key]).toBe('8');
});

test("a deposed leader learns it from the provider's refusal of its token once the hub's Lease confirms it; a lying provider is not believed", async () => {
  const key = uniqueName('hub_ns.lease');
  await patchFence({ [key]: '9' });
  const deposed = new ProviderFences({ stamp: { key, epoch: 8 }, confirmLeading: async () => false, log });
  await expect(deposed.ensure('provider-a', { core, namespace: ns })).rejects.toThrow(NotLeaderError);
  // The same refusal while the hub's Lease still names this process: the provider's own doing. Not
  // deposed, not stuck: its creates there are refused and placed elsewhere (a refusal like any other).
  const believed = new ProviderFences({ stamp: { key, epoch: 8 }, confirmLeading: async () => true, log });
  await expect(believed.ensure('provider-a', { core, namespace: ns })).resolves.toBe('unverified');
  expect(logs.map((l) => l.msg)).toContain("a provider answered with the fence's refusal while this process holds the lease");
  expect((await fenceData(ns))[key]).toBe('9');
});

test('a fence the provider will not let grow (ConfigMap past its size limit) is reported unverified, not retried on every create', async () => {
  const full = await createNamespace(core, 't-fence-full');
  try {
    await core.createNamespacedConfigMap({ namespace: full, body: { metadata: { name: FENCE_CONFIGMAP }, data: { pad: 'x'.repeat(1_048_576) } } });
    const fences = new ProviderFences({ stamp: { key: uniqueName('hub_ns.lease'), epoch: 1 }, confirmLeading: async () => true, log });
    await expect(fences.ensure('provider-a', { core, namespace: full })).resolves.toBe('unverified');
    expect(fences.report('provider-a')).toMatchObject({ state: 'unverified', message: expect.stringMatching(/422|[Tt]oo long|must have at most/) });
  } finally {
    await deleteNamespace(core, full);
  }
});

test('a namespace without the fence ConfigMap is reported absent and not fenced; the next look comes after the recheck interval', async () => {
  let now = 1_000;
  const fences = new ProviderFences({ stamp: { key: uniqueName('k'), epoch: 1 }, confirmLeading: async () => true, log, now: () => now, recheckMs: 60_000 });
  await expect(fences.ensure('provider-a', { core, namespace: bare })).resolves.toBe('absent');
  expect(logs.map((l) => l.msg)).toContain('provider has no fence: a deposed leader is held back there by its own lease guard only');
  await core.createNamespacedConfigMap({ namespace: bare, body: { metadata: { name: FENCE_CONFIGMAP } } });
  await expect(fences.ensure('provider-a', { core, namespace: bare })).resolves.toBe('absent');
  now += 60_001;
  await expect(fences.ensure('provider-a', { core, namespace: bare })).resolves.toBe('enforced');
});
