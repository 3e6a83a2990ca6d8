// Faults the integration tests inflict on a provider or behind the operator's back, shared by the
// suites of per-attempt provider objects (the gang's Service, Secret copies): a ResourceQuota that
// makes the provider refuse a kind of object, and a job deleted while its operator is down.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import { clusterClients, pollUntil } from './federation.ts';
import type { OperatorProcess } from './operator.ts';

/** Runs `fn` while a ResourceQuota of `hard` (e.g. { services: '0' }) is in force in the provider's namespace. */
export async function withProviderQuota<T>(provider: string, namespace: string, hard: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const core = clusterClients(provider).core;
  const name = `quota-${Object.keys(hard).join('-')}-${Date.now().toString(36)}`;
  await core.createNamespacedResourceQuota({ namespace, body: { metadata: { name }, spec: { hard } } });
  try {
    await pollUntil(
      'the quota in force',
      async () => (await core.readNamespacedResourceQuota({ name, namespace })).status?.hard,
      (h) => h !== undefined,
      15_000,
      200,
    );
    return await fn();
  } finally {
    await core.deleteNamespacedResourceQuota({ name, namespace });
  }
}

/** Stops the operator, then strips the job's finalizers and deletes it: what it made at providers is left orphaned. */
export async function deleteJobBehindOperator(operator: OperatorProcess, namespace: string, name: string): Promise<void> {
  const custom = clusterClients('hub').kc.makeApiClient(CustomObjectsApi);
  await operator.stop();
  await custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: 'aijobs', namespace, name, body: { metadata: { finalizers: null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace, name });
}
