// The CRDs' validation, judged by the real kube-apiserver: every case of operator/api/admission-cases.ts
// (the same table the unit tests run through the local evaluator) is accepted or rejected with the
// field named, and the examples are rejected by a real `kubectl apply`.
import { CustomObjectsApi } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { CommandError, runCommand } from '../../federation/command.ts';
import { toolPaths } from '../../federation/paths.ts';
import { aiJobAdmissionCases, aiJobManifest, gpuProviderAdmissionCases, withRaw } from '../support/admission-cases.ts';
import type { AdmissionCase } from '../support/admission-cases.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, uniqueName } from '../support/federation.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const coords = (plural: string) => ({ group: 'flotilla.dev', version: 'v1alpha1', plural });
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-admit');
});
afterAll(async () => {
  await deleteNamespace(hub.core, ns);
});

/** The apiserver's verdict on creating (or updating from `old`) the object, as its error message or 'accepted'. */
async function verdict(kind: 'aijobs' | 'gpuproviders', c: AdmissionCase): Promise<string> {
  // The table's default names ('train', 'provider-a') would collide with real objects; cases about
  // names themselves keep theirs.
  const own = (c.object as { metadata?: { name?: string } }).metadata?.name;
  const name = own === 'train' || own === 'provider-a' || !own ? uniqueName('adm') : own;
  const rename = (o: unknown) => {
    const copy = structuredClone(o) as { metadata?: Record<string, unknown> };
    copy.metadata = { ...copy.metadata, name, ...(kind === 'aijobs' ? { namespace: ns } : {}) };
    return copy;
  };
  const create = (body: unknown, dryRun: boolean) =>
    kind === 'aijobs'
      ? custom.createNamespacedCustomObject({ ...coords(kind), namespace: ns, body, fieldValidation: 'Strict', ...(dryRun ? { dryRun: 'All' } : {}) })
      : custom.createClusterCustomObject({ ...coords(kind), body, fieldValidation: 'Strict', ...(dryRun ? { dryRun: 'All' } : {}) });
  try {
    if (!c.old) {
      await create(rename(c.object), true);
      return 'accepted';
    }
    const created = (await create(rename(c.old), false)) as { metadata: { resourceVersion: string } };
    const body = rename(c.object) as { metadata: Record<string, unknown> };
    body.metadata.resourceVersion = created.metadata.resourceVersion;
    try {
      if (kind === 'aijobs')
        await custom.replaceNamespacedCustomObject({ ...coords(kind), namespace: ns, name, body, fieldValidation: 'Strict', dryRun: 'All' });
      else await custom.replaceClusterCustomObject({ ...coords(kind), name, body, fieldValidation: 'Strict', dryRun: 'All' });
      return 'accepted';
    } finally {
      if (kind === 'aijobs') await custom.deleteNamespacedCustomObject({ ...coords(kind), namespace: ns, name });
      else await custom.deleteClusterCustomObject({ ...coords(kind), name });
    }
  } catch (err) {
    const body = (err as { body?: string }).body;
    if (!body) throw err;
    return (JSON.parse(body) as { message: string }).message;
  }
}

describe.each([
  ['AIJob', 'aijobs' as const, aiJobAdmissionCases],
  ['GPUProvider', 'gpuproviders' as const, gpuProviderAdmissionCases],
])('%s admission by the real apiserver', (_kind, plural, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const got = await verdict(plural, c);
    if (!c.rejected) {
      expect(got).toBe('accepted');
      return;
    }
    expect(got).not.toBe('accepted');
    expect(got).toContain(c.rejected.field);
    if (c.rejected.message) expect(got).toContain(c.rejected.message);
  });
});

describe('kubectl apply of invalid AIJobs', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['negative GPUs', aiJobManifest({ resources: { gpus: -1 } }), /spec\.resources\.gpus/],
    ['an unknown field', withRaw(aiJobManifest(), 'spec.gpuz', 4), /unknown field "spec\.gpuz"/],
    ['an empty image', aiJobManifest({ image: '' }), /spec\.image/],
    ['replicas 0', aiJobManifest({ replicas: 0 }), /spec\.replicas must be at least 1/],
  ];
  it.each(cases)('rejects %s with a message naming the field', async (_name, manifest, message) => {
    const object = structuredClone(manifest) as { metadata: Record<string, unknown> };
    object.metadata = { name: uniqueName('bad'), namespace: ns };
    const run = runCommand(toolPaths().kubectl, ['--kubeconfig', federation().hub.kubeconfig, 'apply', '-f', '-'], { input: yaml.dump(object) });
    await expect(run).rejects.toThrow(CommandError);
    await expect(run).rejects.toThrow(message);
  });
});
