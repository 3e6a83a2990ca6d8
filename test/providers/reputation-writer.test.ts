// The reputation writer against the hub's real API server while another writer keeps changing the
// same GPUProvider's status (what the GPUProvider controller does with inventory and lastSeen, about
// once a second per provider during a burst): no outcome is lost, none is counted twice, and the
// fields it does not own stay as the other writer left them.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { GPUProvider } from '../../operator/api/types.ts';
import { ReputationWriter } from '../../operator/controllers/reputation-writer.ts';
import { clusterClients, uniqueName } from '../support/federation.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const name = uniqueName('rep-writer');
const ref = { group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name };

beforeAll(async () => {
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: GPUPROVIDER.plural,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'GPUProvider',
      metadata: { name },
      spec: {
        kubeconfigSecretRef: { name: 'absent', namespace: 'flotilla-system', key: 'kubeconfig' },
        namespace: 'flotilla-workloads',
        region: 'test',
        payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '1.00' }],
      },
    },
  });
});
afterAll(async () => {
  await custom.deleteClusterCustomObject(ref).catch(() => undefined);
});

describe('the reputation writer', () => {
  it('loses no outcome while another writer changes the same status back to back', async () => {
    const writer = new ReputationWriter(hub.kc);
    // The other writer: merge patches of status.lastSeen without a precondition, back to back.
    let churning = true;
    let churned = 0;
    const churn = (async () => {
      while (churning) {
        await custom.patchClusterCustomObjectStatus(
          { ...ref, body: { status: { lastSeen: new Date(Date.now() - (churned % 60) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        churned += 1;
      }
    })();
    const endedAt = Date.now();
    const outcomes = Array.from({ length: 30 }, (_, i) => ({
      provider: name,
      index: 1,
      reason: i % 3 === 0 ? 'Preempted: DisruptionTarget' : 'Succeeded',
      gpuSeconds: 10,
      runSeconds: 10,
      endedAt,
    }));
    try {
      // Two at a time from each of three "workers", as closed attempts arrive.
      await Promise.all(
        [0, 1, 2].map(async (w) => {
          for (const o of outcomes.filter((_, i) => i % 3 === w)) await writer.record(o);
        }),
      );
      await writer.recordViolation(name);
    } finally {
      churning = false;
      await churn;
    }
    const gp = (await custom.getClusterCustomObject(ref)) as GPUProvider;
    const rep = gp.status?.reputation;
    expect(churned).toBeGreaterThan(31); // the other writer really wrote between the reputation writes
    expect(writer.written).toBe(31);
    expect(rep).toMatchObject({ completed: 20, preempted: 10, failed: 1, violations: 1, gpuSeconds: 300, revision: 31 });
    expect(gp.status?.lastSeen).toBeDefined();
  });
});
