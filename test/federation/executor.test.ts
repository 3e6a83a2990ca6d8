// The simulated executor ends opted-in pods the way a kubelet would, with outputs really written
// to the provider-side Kubo; the Kubo pair moves blocks between them; anvil answers.
import { create } from 'kubo-rpc-client';
import { rpc } from '../../federation/anvil.ts';
import { SIM } from '../../federation/workload.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, gpuPod, waitForPod } from '../support/federation.ts';

const ep = federation();
const { core } = clusterClients('provider-b');
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(core, 't-exec');
});
afterAll(async () => {
  await deleteNamespace(core, ns);
});

async function catText(api: string, cid: string, offline = false): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of create({ url: api }).cat(cid, offline ? ({ offline: true } as never) : {})) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

describe('the simulated workload executor', () => {
  it('completes an opted-in pod with a termination message whose output CID reads back from Kubo', async () => {
    const body = gpuPod('trainer', { gpus: 1, product: 'NVIDIA-L4', annotations: { [SIM.runSeconds]: '1', [SIM.output]: 'loss=0.042' } });
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await waitForPod(core, ns, 'trainer', (p) => p.status?.phase === 'Succeeded');
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const { outputCID } = JSON.parse(terminated?.message ?? '{}') as { outputCID: string };
    const output = JSON.parse(await catText(ep.kubo.provider.api, outputCID)) as Record<string, unknown>;
    expect(output).toMatchObject({ pod: `${ns}/trainer`, provider: 'provider-b', node: pod.spec?.nodeName, output: 'loss=0.042' });
  });

  it('fails an opted-in pod that asks to fail, with its exit code', async () => {
    const body = gpuPod('crasher', { gpus: 1, product: 'NVIDIA-L4', annotations: { [SIM.runSeconds]: '0.5', [SIM.outcome]: 'Failed', [SIM.exitCode]: '3' } });
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await waitForPod(core, ns, 'crasher', (p) => p.status?.phase === 'Failed');
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
  });

  it('leaves pods that did not opt in Running', async () => {
    await core.createNamespacedPod({ namespace: ns, body: gpuPod('plain', { gpus: 1, product: 'NVIDIA-L4' }) });
    await waitForPod(core, ns, 'plain', (p) => p.status?.phase === 'Running');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await core.readNamespacedPod({ name: 'plain', namespace: ns })).status?.phase).toBe('Running');
  });
});

describe('the Kubo pair', () => {
  it('round-trips add and cat on the hub', async () => {
    const { cid } = await create({ url: ep.kubo.hub.api }).add(`round trip ${Date.now()}`, { cidVersion: 1 });
    expect(await catText(ep.kubo.hub.api, cid.toString())).toMatch(/^round trip \d+$/);
  });

  it('moves content added at the provider to the hub when the hub pins it', async () => {
    const text = `provider output ${Date.now()}`;
    const { cid } = await create({ url: ep.kubo.provider.api }).add(text, { cidVersion: 1 });
    const hub = create({ url: ep.kubo.hub.api });
    await expect(catText(ep.kubo.hub.api, cid.toString(), true)).rejects.toThrow();
    await hub.pin.add(cid);
    const pins: string[] = [];
    for await (const p of hub.pin.ls({ paths: [cid] })) pins.push(p.cid.toString());
    expect(pins).toEqual([cid.toString()]);
    expect(await catText(ep.kubo.hub.api, cid.toString(), true)).toBe(text);
  });
});

describe('the chain', () => {
  it('anvil answers with chain id 31337', async () => {
    expect(await rpc<string>(ep.anvil.rpcUrl, 'eth_chainId')).toBe('0x7a69');
  });
});
