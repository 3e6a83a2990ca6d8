// The logs endpoint (GET /api/v1/jobs/:ns/:name/logs, operator/http/pod-logs.ts) and `flotilla logs`
// against the real hub and a real provider apiserver, with a leading operator (only the leader holds
// provider connections): 401 without a token, 403 for another namespace's tenant whether or not the
// job exists, 404 for an unknown job, replica or attempt, 400 for a bad query; and what the provider
// answers is passed on. The local federation's pods are KWOK-simulated: the provider apiserver
// proxies pods/log to the KWOK controller's kubelet server, which has no log configured for
// Flotilla's pods and says so, naming pod and container — so the request is proven to reach the
// right pod, but no log bytes flow here (operator/http/pod-logs-handler.test.ts streams them from an
// in-memory provider).
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { runFlotilla } from '../support/cli.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { applyTenantRoles, freePort, getJsonAs, namespaceTenant, smallJob, waitForAggregation } from './support.ts';
import type { Tenant } from './support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
let a = '';
let b = '';
let editorA: Tenant;
let viewerB: Tenant;
let operator: OperatorProcess;
let base = '';
let job: AIJob;
let removeTenantRoles: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  a = await createNamespace(hub.core, 't-logs-a');
  b = await createNamespace(hub.core, 't-logs-b');
  removeTenantRoles = await applyTenantRoles(federation().hub.kubeconfig);
  editorA = await namespaceTenant(hub.kc, a, 'editor', 'edit');
  viewerB = await namespaceTenant(hub.kc, b, 'viewer', 'view');
  await waitForAggregation(federation().hub.kubeconfig, editorA.username, 'get', a);
  await waitForAggregation(federation().hub.kubeconfig, viewerB.username, 'get', b);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  operator = startOperator(a, { FLOTILLA_HTTP_PORT: String(port) });
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: a, body: smallJob('long', a, 120) });
  job = (await waitForAIJob(a, 'long', (j) => j?.status?.phase === 'Running' && (j.status.attempts?.at(-1)?.pods?.length ?? 0) === 1, 120_000)) as AIJob;
  await pollUntil(
    'the operator leading',
    () => getJsonAs(`${base}/readyz`, undefined).catch(() => ({ status: 0, body: undefined, text: '' })),
    (r) => r.status === 200 && (r.body as { role?: string }).role === 'leader',
    60_000,
  );
}, 240_000);

afterAll(async () => {
  // The job goes while its operator runs, so its pod at the provider goes too (an L4 freed for the next suite).
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: a, name: 'long' }).catch(() => undefined);
  await waitForAIJob(a, 'long', (j) => j === undefined, 60_000).catch(() => undefined);
  await operator?.stop();
  await deleteNamespace(hub.core, a);
  await deleteNamespace(hub.core, b);
  await removeTenantRoles();
});

const logs = (path: string, t: Tenant | undefined) => getJsonAs(`${base}/api/v1/jobs/${path}`, t?.token);

const flotilla = (args: readonly string[]) => runFlotilla(args);

describe('GET /api/v1/jobs/:namespace/:name/logs', () => {
  it('needs a token, and the right to get the AIJob: 403 for another namespace whether or not the job exists', async () => {
    expect((await logs(`${a}/long/logs`, undefined)).status).toBe(401);
    for (const path of [`${a}/long/logs`, `${a}/no-such-job/logs`]) {
      const r = await logs(path, viewerB);
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ error: `${viewerB.username} may not get aijobs ${path.split('/')[1]} in namespace ${a}` });
    }
  });

  it('404 for an unknown job, replica or attempt; 400 for a bad query', async () => {
    expect(await logs(`${a}/no-such-job/logs`, editorA)).toMatchObject({ status: 404, body: { error: `AIJob ${a}/no-such-job not found` } });
    expect(await logs(`${a}/long/logs?replica=1`, editorA)).toMatchObject({
      status: 404,
      body: { error: `AIJob ${a}/long has replicas 0…0; there is no replica 1` },
    });
    expect(await logs(`${a}/long/logs?attempt=9`, editorA)).toMatchObject({
      status: 404,
      body: { error: expect.stringContaining(`AIJob ${a}/long has no attempt 9`) },
    });
    expect(await logs(`${a}/long/logs?follow=maybe`, editorA)).toMatchObject({ status: 400, body: { error: 'follow must be true or false' } });
  });

  it("asks the provider's apiserver for exactly that pod's container log, and passes its answer on", async () => {
    const attempt = job.status?.attempts?.at(-1);
    const pod = attempt?.pods?.[0]?.name ?? '';
    const r = await logs(`${a}/long/logs`, editorA);
    // The request went to the provider's apiserver, which proxied it to the node's kubelet server
    // (the KWOK controller's), and that one named the pod and container it was asked for: it has
    // no log configured for them (KWOK runs no containers).
    expect(r.status).toBe(409);
    expect(r.body).toEqual({
      error: `the log of replica 0, attempt ${attempt?.index} (pod ${pod} at provider ${attempt?.provider}) is not available from the provider: no logs found for container "main" in pod "flotilla-workloads/${pod}"`,
    });
    // The same with follow=true (client-node's Log stream): the refusal keeps its status.
    const followed = await logs(`${a}/long/logs?follow=true&attempt=${attempt?.index}&tailLines=5`, editorA);
    expect(followed.status).toBe(409);
    expect((followed.body as { error: string }).error).toContain(`no logs found for container "main" in pod "flotilla-workloads/${pod}"`);
  });

  it("flotilla logs: the same answers through the CLI, with the tenant's token", async () => {
    const common = ['-n', a, '--operator', base];
    const denied = await flotilla(['logs', 'long', ...common, '--token', viewerB.token]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toBe(`error: not allowed: ${viewerB.username} may not get aijobs long in namespace ${a}\n`);
    const missing = await flotilla(['logs', 'long', '--replica', '3', ...common, '--token', editorA.token]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`AIJob ${a}/long has replicas 0…0; there is no replica 3 (HTTP 404)`);
    const provider = await flotilla(['logs', 'long', ...common, '--token', editorA.token]);
    expect(provider.code).toBe(1);
    expect(provider.stderr).toMatch(
      /^error: the log of AIJob .*\/long: the log of replica 0, attempt \d+ \(pod .* at provider .*\) is not available from the provider: no logs found for container "main" .* \(HTTP 409\)\n$/,
    );
    // Without --token: the bearer token of the kubeconfig's user.
    const kubeconfig = join(tmpdir(), `flotilla-logs-${process.pid}.yaml`);
    writeFileSync(kubeconfig, editorA.kc.exportConfig());
    try {
      const viaKubeconfig = await flotilla(['logs', 'long', '-n', a, '--operator', base, '--kubeconfig', kubeconfig]);
      expect(viaKubeconfig.stderr).toContain('is not available from the provider: no logs found for container "main"');
    } finally {
      rmSync(kubeconfig, { force: true });
    }
    const noOperator = await flotilla(['logs', 'long', '-n', a, '--token', editorA.token]);
    expect(noOperator.stderr).toContain('pass --operator <url>');
  });
});
