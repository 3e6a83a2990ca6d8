// `make demo`: brings up the local federation and walks one GPU workload through it, printing a
// timeline. Until the operator lands (issue: operator core) the workload pod is created directly at
// a provider; the rest is what the operator will automate: the provider's own scheduler binds it,
// KWOK runs it, the executor writes its output to the provider's Kubo, the hub's Kubo pins it.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { create } from 'kubo-rpc-client';
import { rpc } from '../federation/anvil.ts';
import { federationUp } from '../federation/federation.ts';
import { SIM } from '../federation/workload.ts';

const t0 = Date.now();
const say = (line: string) => process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ep = await federationUp({ progress: say });

say('GPU inventory of the providers (as their own apiservers report it):');
for (const p of ep.providers) {
  const kc = new KubeConfig();
  kc.loadFromFile(p.kubeconfig);
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
  const byProduct = new Map<string, { nodes: number; gpus: number }>();
  for (const n of nodes) {
    const product = n.metadata?.labels?.['nvidia.com/gpu.product'] ?? 'none';
    const entry = byProduct.get(product) ?? { nodes: 0, gpus: 0 };
    entry.nodes += 1;
    entry.gpus += Number(n.status?.allocatable?.['nvidia.com/gpu'] ?? 0);
    byProduct.set(product, entry);
  }
  for (const [product, e] of byProduct) {
    const price = p.prices[product];
    process.stdout.write(`    ${p.name.padEnd(11)} ${p.region.padEnd(8)} ${product.padEnd(24)} ${String(e.nodes).padStart(2)} nodes ${String(e.gpus).padStart(3)} GPUs  ${price ? `${price} USD/GPU-h` : ''}\n`);
  }
}

const provider = ep.providers.find((p) => p.name === 'provider-a') ?? ep.providers[0];
if (!provider) throw new Error('the fleet has no providers');
const kc = new KubeConfig();
kc.loadFromFile(provider.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const namespace = 'flotilla-demo';
await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
const name = `train-${Date.now().toString(36)}`;
say(`submitting workload ${name} (8× NVIDIA-H100-80GB-HBM3, simulated 3 s run) to ${provider.name}`);
await core.createNamespacedPod({
  namespace,
  body: {
    metadata: { name, annotations: { [SIM.runSeconds]: '3', [SIM.output]: 'epoch=3 loss=0.031' } },
    spec: {
      containers: [{ name: 'main', image: 'registry.example/trainer@sha256:' + 'a'.repeat(64), resources: { limits: { 'nvidia.com/gpu': '8' } } }],
      nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
  },
});

let lastPhase = '';
for (;;) {
  const pod = await core.readNamespacedPod({ name, namespace });
  const phase = pod.status?.phase ?? 'Unknown';
  if (phase !== lastPhase) {
    say(`${name}: ${phase}${pod.spec?.nodeName ? ` on ${pod.spec.nodeName} (bound by ${provider.name}'s kube-scheduler)` : ''}`);
    lastPhase = phase;
  }
  if (phase === 'Succeeded' || phase === 'Failed') {
    const message = pod.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '{}';
    const { outputCID } = JSON.parse(message) as { outputCID?: string };
    if (!outputCID) throw new Error(`workload ended ${phase} without an output CID: ${message}`);
    say(`termination message reports output ${outputCID}`);
    const hub = create({ url: ep.kubo.hub.api });
    await hub.pin.add(outputCID as never);
    say(`hub Kubo pinned ${outputCID} (blocks fetched from the provider's Kubo over bitswap)`);
    const chunks: Uint8Array[] = [];
    for await (const c of hub.cat(outputCID as never)) chunks.push(c);
    process.stdout.write(Buffer.concat(chunks).toString('utf8').replace(/^/gm, '    ') + '\n');
    break;
  }
  await sleep(250);
}
say(`chain: anvil at ${ep.anvil.rpcUrl}, block ${Number(await rpc<string>(ep.anvil.rpcUrl, 'eth_blockNumber'))}`);

process.stdout.write(`
Look around:
  kubectl --kubeconfig ${ep.providers[0]?.kubeconfig} get nodes -L nvidia.com/gpu.product
  kubectl --kubeconfig ${provider.kubeconfig} -n ${namespace} get pods -o wide
  make federation-status
Tear down:
  make federation-down
`);
