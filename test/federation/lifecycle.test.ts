// `federation down` stops every process `federation up` started. Proven on a second, one-provider
// federation in its own state dir, so the shared one keeps serving the other suites.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { federationProcesses } from '../../federation/daemon.ts';
import { federationDown, federationUp, isHealthy } from '../../federation/federation.ts';

const tinyFleet = `
providers:
  - name: solo
    region: test
    payoutAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    prices: { NVIDIA-L4: "0.50" }
    nodePools:
      - name: l4
        count: 1
        cpu: "8"
        memory: 32Gi
        gpu: { product: NVIDIA-L4, count: 1, memoryMiB: 23034, family: ada-lovelace, compute: "8.9", machine: g6.xlarge }
`;

describe('federation lifecycle', () => {
  it('starts a healthy federation and leaves no process behind when brought down', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'flotilla-lifecycle-'));
    const fleetFile = join(stateDir, 'fleet.yaml');
    writeFileSync(fleetFile, tinyFleet);
    const ep = await federationUp({ stateDir, fleetFile });
    try {
      expect(await isHealthy(ep)).toBe(true);
      // etcd, apiserver, controller-manager for 2 clusters + scheduler + kwok for 1, Kubo ×2, anvil, executor
      expect(federationProcesses(stateDir).length).toBeGreaterThanOrEqual(10);
    } finally {
      const { strays } = await federationDown({ stateDir });
      expect(strays).toEqual([]);
    }
    expect(federationProcesses(stateDir)).toEqual([]);
  }, 240_000);
});
