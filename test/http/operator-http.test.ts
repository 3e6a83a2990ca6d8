// The operator's plain-HTTP listener, run as the real process against the local federation:
// /healthz, /readyz (leader and standby; not ready while the hub caches cannot sync, ready once
// they can), /metrics after a job ran and was preempted once, the read-only API, and the signed
// callback on the job's terminal phase (first answered 503, then 200: retried with backoff). The API
// is read with the token of a namespace editor (test/http/api-auth.test.ts covers who may not).
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { namespaceKey, verify } from '../../operator/callbacks/signature.ts';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, readAIJob, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { applyTenantRoles, freePort, getJson, getJsonAs, namespaceTenant, smallJob, waitForAggregation } from './support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const rbac = hub.kc.makeApiClient(RbacAuthorizationV1Api);
const SECRET = 'whsec_' + Buffer.from('flotilla-test-callback-secret').toString('base64');
let ns = '';
const operators: OperatorProcess[] = [];
let port = 0;
let receiver: Server | undefined;
let token = '';
let removeTenantRoles: () => Promise<void> = async () => undefined;
const received: Array<{ headers: IncomingHttpHeaders; body: string; answered: number }> = [];

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-http');
  removeTenantRoles = await applyTenantRoles(federation().hub.kubeconfig);
  const editor = await namespaceTenant(hub.kc, ns, 'api-reader', 'edit');
  token = editor.token;
  await waitForAggregation(federation().hub.kubeconfig, editor.username, 'get', ns);
  port = await freePort();
  // The callback receiver: 503 the first time, 200 after.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const answered = received.length === 0 ? 503 : 200;
      received.push({ headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', () => resolve()));
  operators.push(
    startOperator(ns, {
      FLOTILLA_HTTP_HOST: '127.0.0.1',
      FLOTILLA_HTTP_PORT: String(port),
      FLOTILLA_CALLBACK_SECRET: SECRET,
      FLOTILLA_IDENTITY: `${ns}-leader`,
      // Callbacks may not reach loopback: the test's receiver is allowed by its exact port.
      FLOTILLA_CALLBACK_ALLOW_HOSTS: `127.0.0.1:${(receiver.address() as { port: number }).port}`,
    }),
  );
  // Ready as a standby first (hub view synced), then leading: the leader is ready once its
  // GPUProvider controller has listed too. Wait for the leader's readiness, not the standby's.
  await pollUntil(
    'the operator ready as the leader',
    () => getJson(`http://127.0.0.1:${port}/readyz`).catch(() => ({ status: 0, body: undefined })),
    (r) => r.status === 200 && (r.body as { role?: string } | undefined)?.role === 'leader',
    60_000,
  );
});

afterAll(async () => {
  for (const op of operators) await op.stop();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await deleteNamespace(hub.core, ns);
  await removeTenantRoles();
});

const metricsText = async () => (await getJson(`http://127.0.0.1:${port}/metrics`)).text;

describe("the operator's HTTP listener", () => {
  it('answers /healthz, and /readyz as the leader', async () => {
    expect((await getJson(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await getJson(`http://127.0.0.1:${port}/readyz`)).body).toEqual({ ready: true, role: 'leader', leader: `${ns}-leader`, reasons: [] });
  });

  it('a second replica on the same lease is a ready standby naming the leader', async () => {
    const standbyPort = await freePort();
    const standby = startOperator(ns, { FLOTILLA_HTTP_HOST: '127.0.0.1', FLOTILLA_HTTP_PORT: String(standbyPort), FLOTILLA_IDENTITY: `${ns}-standby` });
    operators.push(standby);
    const r = await pollUntil(
      'the standby ready',
      () => getJson(`http://127.0.0.1:${standbyPort}/readyz`).catch(() => ({ status: 0, body: undefined })),
      (x) => x.status === 200 && (x.body as { role?: string }).role === 'standby',
      60_000,
    );
    expect(r.body).toEqual({ ready: true, role: 'standby', leader: `${ns}-leader`, reasons: [] });
    // The standby serves the read-only API from its own caches.
    expect((await getJsonAs(`http://127.0.0.1:${standbyPort}/api/v1/providers`, token)).status).toBe(200);
    await standby.stop();
  });

  it('runs a job through a preemption and a callback, then /metrics, the API and the callback show it', async () => {
    const url = `http://127.0.0.1:${(receiver?.address() as { port: number }).port}/hook`;
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: AIJOB.plural,
      namespace: ns,
      body: smallJob('train', ns, 8, { callbackURL: url, recovery: { maxRestarts: 3 }, gpu: { products: ['NVIDIA-H100-80GB-HBM3'] } }),
    });
    const running = (await waitForAIJob(ns, 'train', (j) => j?.status?.phase === 'Running', 60_000)) as AIJob;
    const first = running.status?.attempts?.at(-1);
    // The provider takes its GPU back: the pod is deleted under the job (signal PodDeleted); two
    // providers lend H100s, so the job resumes at the other one (the first is cooling down).
    const { core } = clusterClients(first?.provider ?? '');
    const pods = await core.listNamespacedPod({ namespace: 'flotilla-workloads', labelSelector: `flotilla.dev/job-uid=${running.metadata.uid}` });
    for (const pod of pods.items) await core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace: 'flotilla-workloads', gracePeriodSeconds: 0 });
    const done = (await waitForAIJob(ns, 'train', (j) => j?.status?.phase === 'Succeeded', 120_000)) as AIJob;
    const attempts = done.status?.attempts ?? [];
    expect(attempts.length).toBe(2);
    const signal = (attempts[0]?.reason ?? '').replace(/^Preempted:\s*/, '');

    const text = await pollUntil('the job in /metrics', metricsText, (t) => t.includes('flotilla_jobs_finished_total{phase="Succeeded"} 1'), 30_000);
    for (const series of [
      'flotilla_aijobs{phase="Succeeded"} 1',
      'flotilla_leader 1',
      `flotilla_preemptions_total{provider="${first?.provider}",signal="${signal}"} 1`,
      `flotilla_recoveries_total{from_provider="${first?.provider}",to_provider="${attempts[1]?.provider}"} 1`,
      `flotilla_placement_latency_seconds_count{provider="${first?.provider}"}`,
      'flotilla_kube_api_requests_total{cluster="hub",verb="PATCH"}',
      `flotilla_kube_api_requests_total{cluster="${first?.provider}",verb="POST"}`,
      'flotilla_reconcile_duration_seconds_count{controller="aijob",outcome="success"}',
    ])
      expect(text).toContain(series);

    const detail = await getJsonAs(`http://127.0.0.1:${port}/api/v1/jobs/${ns}/train`, token);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      namespace: ns,
      name: 'train',
      phase: 'Succeeded',
      attempts: 2,
      attemptHistory: [{ index: first?.index, provider: first?.provider }, { index: attempts[1]?.index }],
    });
    const list = await getJsonAs(`http://127.0.0.1:${port}/api/v1/jobs?phase=Succeeded`, token);
    expect((list.body as { items: Array<{ name: string }> }).items.map((j) => j.name)).toEqual(['train']);
    expect(await getJsonAs(`http://127.0.0.1:${port}/api/v1/jobs/${ns}/nope`, token)).toMatchObject({
      status: 404,
      body: { error: `AIJob ${ns}/nope not found` },
    });
    const providers = (await getJsonAs(`http://127.0.0.1:${port}/api/v1/providers`, token)).body as { items: Array<{ name: string; prices: unknown[] }> };
    expect(providers.items.map((p) => p.name)).toEqual(expect.arrayContaining(['provider-a', 'provider-b', 'provider-c']));

    // The callback: 503 first, retried with backoff, then 200; signed; recorded on the job.
    const annotated = await pollUntil(
      'the callback recorded on the job',
      () => readAIJob(ns, 'train'),
      (j) => j?.status?.callbacks?.some((c) => c.phase === 'Succeeded' && c.outcome === 'Delivered' && c.code === 200) === true,
      60_000,
    );
    expect(annotated).toBeDefined();
    expect(received.map((r) => r.answered)).toEqual([503, 200]);
    const last = received[1];
    expect(last?.headers['webhook-id']).toBe(`${done.metadata.uid}.Succeeded`);
    expect(received[0]?.headers['webhook-id']).toBe(last?.headers['webhook-id']);
    // Signed with the namespace's key (derived from the master secret), not the master itself.
    expect(verify(namespaceKey(SECRET, ns), last?.headers as Record<string, string>, last?.body ?? '', Math.floor(Date.now() / 1000))).toBe(true);
    expect(JSON.parse(last?.body ?? '{}')).toMatchObject({
      type: 'aijob.succeeded',
      data: { name: 'train', namespace: ns, phase: 'Succeeded', outputCID: done.status?.outputCID },
    });
    expect(await metricsText()).toContain('flotilla_callbacks_total{outcome="delivered"} 1');
  }, 300_000);

  it('/readyz is 503 while the hub caches cannot sync (no RBAC on AIJobs), and 200 once they can', async () => {
    const sa = `readyz-${ns}`;
    const role = (name: string, rules: object[]) => rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules } as never });
    const bind = (name: string, kind: 'Role' | 'ClusterRole', roleName: string) =>
      rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: roleName },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        },
      });
    try {
      await hub.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
      // Everything it reads but AIJobs: GPUProviders, and namespaces (their policy annotations).
      await rbac.createClusterRole({
        body: {
          metadata: { name: sa },
          rules: [
            { apiGroups: [GROUP], resources: [GPUPROVIDER.plural], verbs: ['get', 'list', 'watch'] },
            { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
          ],
        },
      });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: sa },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        },
      });
      await role(`${sa}-lease`, [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      ]);
      await bind(`${sa}-lease`, 'Role', `${sa}-lease`);
      const token =
        (await hub.core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 600 } } })).status
          ?.token ?? '';
      const cluster = hub.kc.getCurrentCluster();
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [cluster as never],
        users: [{ name: sa, token }],
        contexts: [{ name: sa, cluster: cluster?.name ?? '', user: sa }],
        currentContext: sa,
      });
      const { writeFileSync, mkdtempSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const file = join(mkdtempSync(join(tmpdir(), 'flotilla-readyz-')), 'kubeconfig');
      writeFileSync(file, kc.exportConfig());
      const restrictedPort = await freePort();
      const restricted = startOperator(ns, {
        FLOTILLA_KUBECONFIG: file,
        FLOTILLA_NAMESPACE: ns,
        FLOTILLA_LEASE_NAME: 'readyz-lease',
        FLOTILLA_HTTP_HOST: '127.0.0.1',
        FLOTILLA_HTTP_PORT: String(restrictedPort),
      });
      operators.push(restricted);
      const url = `http://127.0.0.1:${restrictedPort}/readyz`;
      const notReady = await pollUntil(
        '/readyz answering 503',
        () => getJson(url).catch(() => ({ status: 0, body: undefined })),
        (r) => r.status === 503 && JSON.stringify(r.body).includes('HTTP 403'),
        30_000,
      );
      expect(notReady.status).toBe(503);
      expect((notReady.body as { reasons: string[] }).reasons.join('\n')).toMatch(/hub view: hub aijobs informer not listed yet: HTTP 403/);
      expect((await getJson(`http://127.0.0.1:${restrictedPort}/healthz`)).status).toBe(200);
      // Grant reading AIJobs (no writes: the suite's own operator owns this namespace's jobs): the
      // informer restarts with backoff and syncs.
      await role(`${sa}-jobs`, [{ apiGroups: [GROUP], resources: [AIJOB.plural], verbs: ['get', 'list', 'watch'] }]);
      await bind(`${sa}-jobs`, 'Role', `${sa}-jobs`);
      const ready = await pollUntil(
        '/readyz answering 200',
        () => getJson(url),
        (r) => r.status === 200,
        90_000,
      );
      expect(ready.body).toMatchObject({ ready: true, reasons: [] });
      await restricted.stop();
    } finally {
      await hub.core.deleteNamespacedServiceAccount({ name: sa, namespace: ns }).catch(() => undefined);
      await rbac.deleteClusterRoleBinding({ name: sa }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: sa }).catch(() => undefined);
    }
  }, 180_000);
});
