// The defaulting webhook's route: the finalizer and the claim written on CREATE whether or not the
// namespace policy can be read, only for jobs in a namespace-scoped operator's own namespace, and
// never on UPDATE (admission-defaults.test.ts covers the patch itself).
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AIJob } from '../api/types.ts';
import { MANAGED_BY_ANNOTATION } from '../core/lifecycle/claim.ts';
import { FINALIZER } from '../core/lifecycle/plan.ts';
import { DEFAULTS_APPLIED_ANNOTATION, NAMESPACE_DEFAULTS } from './admission-defaults.ts';
import type { JsonPatchOp } from './admission-defaults.ts';
import type { HubReader } from './hub-view.ts';
import { createWebhookApp } from './server.ts';
import { WEBHOOK_PATHS } from './webhooks.ts';
import type { WebhookDeps } from './webhooks.ts';

const ME = 'flotilla-system/flotilla-operator';
const hub: HubReader = { synced: false, notSynced: () => [], jobs: () => [], job: () => undefined, providers: () => [], provider: () => undefined };
const job = (namespace: string, annotations?: Record<string, string>): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'train', namespace, ...(annotations ? { annotations } : {}) },
    spec: { image: 'ghcr.io/x/y:1', replicas: 1, resources: { gpus: 1 }, output: { path: '/out', pin: true } },
  }) as AIJob;

let server: Server | undefined;
let logged: Array<{ msg: string; fields?: Record<string, unknown> }> = [];

async function serve(deps: Partial<WebhookDeps>): Promise<string> {
  logged = [];
  const app = createWebhookApp({
    hub,
    operatorNamespace: 'flotilla-system',
    lookupSecret: () => Promise.resolve({ found: false, why: 'NotFound' }),
    log: (_level, msg, fields) => logged.push({ msg, ...(fields ? { fields } : {}) }),
    ...deps,
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
});

/** The JSON Patch the webhook answers with ([] when none). */
async function mutate(base: string, operation: 'CREATE' | 'UPDATE', object: AIJob, oldObject?: AIJob): Promise<JsonPatchOp[]> {
  const res = await fetch(`${base}${WEBHOOK_PATHS.defaultAIJobs}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u1', operation, namespace: object.metadata.namespace, name: object.metadata.name, object, ...(oldObject ? { oldObject } : {}) },
    }),
  });
  const body = (await res.json()) as { response: { uid: string; allowed: boolean; patchType?: string; patch?: string } };
  expect(body.response).toMatchObject({ uid: 'u1', allowed: true });
  if (!body.response.patch) return [];
  expect(body.response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8')) as JsonPatchOp[];
}

const claimed = [
  { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
  { op: 'add', path: '/metadata/annotations', value: { [MANAGED_BY_ANNOTATION]: ME } },
];

describe('the defaulting webhook route (finalizer and claim)', () => {
  it('claims a new job with its finalizer even when no namespace policy is available, and says so in its log', async () => {
    const base = await serve({ claimAs: ME });
    expect(await mutate(base, 'CREATE', job('team-a'))).toEqual(claimed);
    expect(logged).toContainEqual({
      msg: 'admission defaulted',
      fields: expect.objectContaining({
        name: 'train',
        operation: 'CREATE',
        fields: ['metadata.finalizers', `metadata.annotations["${MANAGED_BY_ANNOTATION}"]`],
        managedBy: ME,
      }),
    });
  });

  it('writes the policy and the claim in one annotations object when both apply', async () => {
    const base = await serve({ claimAs: ME, namespaceAnnotations: () => Promise.resolve({ [NAMESPACE_DEFAULTS.regions]: 'eu-west' }) });
    expect(await mutate(base, 'CREATE', job('team-a'))).toEqual([
      { op: 'add', path: '/spec/placement', value: {} },
      { op: 'add', path: '/spec/placement/regions', value: ['eu-west'] },
      { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
      {
        op: 'add',
        path: '/metadata/annotations',
        value: { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions (from namespace team-a)', [MANAGED_BY_ANNOTATION]: ME },
      },
    ]);
  });

  it("a namespace-scoped operator claims only its own namespace's jobs", async () => {
    const base = await serve({ claimAs: ME, watchNamespace: 'team-a' });
    expect(await mutate(base, 'CREATE', job('team-a'))).toEqual(claimed);
    expect(await mutate(base, 'CREATE', job('team-b'))).toEqual([]);
  });

  it('writes neither on UPDATE, nor for a job a tenant named another operator for, nor without claimAs', async () => {
    const withClaim = await serve({ claimAs: ME });
    expect(await mutate(withClaim, 'UPDATE', job('team-a'), job('team-a'))).toEqual([]);
    expect(await mutate(withClaim, 'CREATE', job('team-a', { [MANAGED_BY_ANNOTATION]: 'team-a/own' }))).toEqual([]);
    await new Promise((r) => {
      server?.closeAllConnections();
      server?.close(r);
    });
    const without = await serve({});
    expect(await mutate(without, 'CREATE', job('team-a'))).toEqual([]);
  });
});
