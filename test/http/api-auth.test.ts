// Who may read the operator's HTTP API, against the real hub: the operator runs as a process with a
// hub view of every namespace (as a cluster-wide install has) but as a standby that never leads
// (another holder keeps its Lease), so it serves the API and reconciles nothing of the shared hub.
// Tokens are real ServiceAccount tokens from the TokenRequest API, bound in one namespace to the
// built-in edit or view roles (which the chart's tenant roles extend to AIJobs).
import { CoordinationV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { MicroTime } from '../../operator/runtime/leader-election.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { applyTenantRoles, freePort, getJsonAs, namespaceTenant, smallJob, waitForAggregation } from './support.ts';
import type { Tenant } from './support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
// Marks of each namespace's payment details: neither may show up in the other tenant's answers.
const A_MAX = '111.5';
const B_MAX = '987654.321';
let a = '';
let b = '';
let editorA: Tenant;
let viewerB: Tenant;
let operator: OperatorProcess;
let base = '';
let removeTenantRoles: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  a = await createNamespace(hub.core, 't-api-a');
  b = await createNamespace(hub.core, 't-api-b');
  removeTenantRoles = await applyTenantRoles(federation().hub.kubeconfig);
  editorA = await namespaceTenant(hub.kc, a, 'editor', 'edit');
  viewerB = await namespaceTenant(hub.kc, b, 'viewer', 'view');
  await waitForAggregation(federation().hub.kubeconfig, editorA.username, 'list', a);
  await waitForAggregation(federation().hub.kubeconfig, viewerB.username, 'list', b);
  const job = (ns: string, name: string, maxAmount: string) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: AIJOB.plural,
      namespace: ns,
      body: smallJob(name, ns, 5, { payment: { token: 'USDC', maxAmount }, callbackURL: `https://${name}.example/hook` }),
    });
  await job(a, 'job-a', A_MAX);
  await job(b, 'job-b', B_MAX);
  // Someone else holds the Lease for an hour: this operator stays a standby.
  const now = new MicroTime();
  await hub.kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
    namespace: a,
    body: {
      metadata: { name: 'api-lease' },
      spec: { holderIdentity: 'another-replica', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    },
  });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  operator = startOperator('', {
    FLOTILLA_WATCH_NAMESPACE: '',
    FLOTILLA_NAMESPACE: a,
    FLOTILLA_LEASE_NAME: 'api-lease',
    FLOTILLA_HTTP_PORT: String(port),
    FLOTILLA_IDENTITY: `${a}-standby`,
  });
  await pollUntil(
    'the operator a ready standby',
    () => getJsonAs(`${base}/readyz`, undefined).catch(() => ({ status: 0, body: undefined, text: '' })),
    (r) => r.status === 200 && (r.body as { role?: string }).role === 'standby',
    60_000,
  );
  // Its all-namespace view has both jobs before anything is asked.
  await pollUntil(
    "job-a in the operator's view",
    () => getJsonAs(`${base}/api/v1/jobs/${a}/job-a`, editorA.token),
    (r) => r.status === 200,
    30_000,
  );
  await pollUntil(
    "job-b in the operator's view",
    () => getJsonAs(`${base}/api/v1/jobs/${b}/job-b`, viewerB.token),
    (r) => r.status === 200,
    30_000,
  );
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(hub.core, a);
  await deleteNamespace(hub.core, b);
  await removeTenantRoles();
});

const get = (path: string, t: Tenant | string | undefined) => getJsonAs(`${base}${path}`, typeof t === 'object' ? t.token : t);

describe("the operator's API: bearer tokens and SubjectAccessReview", () => {
  it('answers 401 without a token or with one the hub does not accept; probes and /metrics stay open', async () => {
    for (const path of ['/api/v1/providers', '/api/v1/jobs', `/api/v1/jobs/${a}/job-a`]) {
      const none = await get(path, undefined);
      expect(none.status).toBe(401);
      expect(none.text).not.toContain('job-a');
      expect((await get(path, 'not-a-token')).status).toBe(401);
      // A token of the right shape with a forged signature.
      const [header, payload] = editorA.token.split('.');
      expect((await get(path, `${header}.${payload}.AAAA`)).status).toBe(401);
    }
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await get(path, undefined)).status).toBe(200);
  });

  it('a namespace-A editor reading namespace B gets 403, whether or not the job exists', async () => {
    for (const path of [`/api/v1/jobs/${b}/job-b`, `/api/v1/jobs/${b}/no-such-job`, `/api/v1/jobs?namespace=${b}`]) {
      const r = await get(path, editorA);
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ error: expect.stringContaining(`${editorA.username} may not`) });
      expect(r.text).not.toContain(B_MAX);
    }
  });

  it('a namespace-A editor reads namespace A: its job with its payment, and the unfiltered list holds only A', async () => {
    const detail = await get(`/api/v1/jobs/${a}/job-a`, editorA);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ namespace: a, name: 'job-a', spec: { payment: { token: 'USDC', maxAmount: A_MAX } } });
    const scoped = await get(`/api/v1/jobs?namespace=${a}`, editorA);
    expect((scoped.body as { items: Array<{ name: string }> }).items.map((j) => j.name)).toEqual(['job-a']);
    // Every namespace's jobs are in the operator's view (other suites' too); the editor sees A's.
    const all = await get('/api/v1/jobs', editorA);
    expect(all.status).toBe(200);
    expect([...new Set((all.body as { items: Array<{ namespace: string }> }).items.map((j) => j.namespace))]).toEqual([a]);
    expect(all.text).not.toContain('job-b');
  });

  it("a token with no rights in A (a viewer of B) gets 403 for A, and sees only B's jobs", async () => {
    expect((await get(`/api/v1/jobs/${a}/job-a`, viewerB)).status).toBe(403);
    expect((await get(`/api/v1/jobs?namespace=${a}`, viewerB)).status).toBe(403);
    const all = await get('/api/v1/jobs', viewerB);
    expect((all.body as { items: Array<{ namespace: string; name: string }> }).items.map((j) => `${j.namespace}/${j.name}`)).toEqual([`${b}/job-b`]);
    expect(all.text).not.toContain(A_MAX);
    const detail = await get(`/api/v1/jobs/${b}/job-b`, viewerB);
    expect(detail.text).toContain(B_MAX);
    expect(detail.text).not.toContain(A_MAX);
  });

  it('shows providers to an authenticated tenant without their API server URLs', async () => {
    const servers = federation().providers.map((p) => new URL(clusterClients(p.name).kc.getCurrentCluster()?.server ?? '').host);
    // The GPUProviders themselves name those servers in their conditions: there is something to
    // hide. A leader (of an empty namespace: it places nothing) keeps those conditions current.
    const c = await createNamespace(hub.core, 't-api-c');
    const leader = startOperator(c, { FLOTILLA_HTTP_PORT: 'off' });
    try {
      await pollUntil(
        'a provider condition naming its API server',
        async () => JSON.stringify(await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural })),
        (raw) => servers.some((host) => raw.includes(host)),
        30_000,
        500,
      );
    } finally {
      await leader.stop();
      await deleteNamespace(hub.core, c);
    }
    const r = await get('/api/v1/providers', editorA);
    expect(r.status).toBe(200);
    expect((r.body as { items: Array<{ name: string }> }).items.map((p) => p.name)).toEqual(expect.arrayContaining(['provider-a', 'provider-b', 'provider-c']));
    for (const host of servers) expect(r.text).not.toContain(host);
    expect(r.text).not.toMatch(/https?:\/\//);
  });

  it('a revoked RoleBinding stops working once the short decision cache expires', async () => {
    expect((await get(`/api/v1/jobs/${a}/job-a`, editorA)).status).toBe(200);
    await hub.kc.makeApiClient(RbacAuthorizationV1Api).deleteNamespacedRoleBinding({ namespace: a, name: 'editor-edit' });
    const r = await pollUntil(
      '403 after the revocation',
      () => get(`/api/v1/jobs/${a}/job-a`, editorA),
      (x) => x.status === 403,
      30_000,
      500,
    );
    expect(r.status).toBe(403);
  });
});
