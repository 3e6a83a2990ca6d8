// The federation's clusters are real, at the pinned version, and the providers' GPU nodes look like
// what the NVIDIA device plugin and GPU Feature Discovery produce.
import { VersionApi } from '@kubernetes/client-node';
import { pinnedVersions } from '../../federation/paths.ts';
import { clusterClients, federation } from '../support/federation.ts';

describe('the local federation clusters', () => {
  const ep = federation();

  it('has a hub and at least two provider clusters', () => {
    expect(ep.providers.length).toBeGreaterThanOrEqual(2);
  });

  it.each(['hub', ...federation().providers.map((p) => p.name)])('%s apiserver reports the pinned Kubernetes version', async (name) => {
    const version = await clusterClients(name).kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(pinnedVersions().KUBE_VERSION);
  });

  it.each(federation().providers.map((p) => p.name))('%s nodes show nvidia.com/gpu allocatable and the GFD labels', async (name) => {
    const nodes = (await clusterClients(name).core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual([...(ep.providers.find((p) => p.name === name)?.nodes ?? [])].sort());
    for (const node of nodes) {
      const labels = node.metadata?.labels ?? {};
      expect(labels).toMatchObject({ 'nvidia.com/gpu.present': 'true' });
      expect(labels['nvidia.com/gpu.product']).toMatch(/^NVIDIA-/);
      expect(Number(labels['nvidia.com/gpu.memory'])).toBeGreaterThan(0);
      expect(Number(node.status?.allocatable?.['nvidia.com/gpu'])).toBeGreaterThanOrEqual(0);
      expect(node.status?.allocatable?.['nvidia.com/gpu']).toBeDefined();
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });

  it('includes a time-sliced (-SHARED) node and a MIG node somewhere in the federation', async () => {
    const all = (await Promise.all(ep.providers.map((p) => clusterClients(p.name).core.listNode()))).flatMap((l) => l.items);
    expect(all.some((n) => n.metadata?.labels?.['nvidia.com/gpu.product']?.endsWith('-SHARED'))).toBe(true);
    expect(all.some((n) => Object.keys(n.status?.allocatable ?? {}).some((r) => r.startsWith('nvidia.com/mig-')))).toBe(true);
  });
});
