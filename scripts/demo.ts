// `make demo`: brings up the local federation, starts the Flotilla operator against its hub, and
// walks the example AIJobs through it, printing a timeline: placement by expected cost, pods bound
// by the providers' own schedulers, completion, the output CID — which the hub's Kubo then pins
// (the operator's own pinning lands with the IPFS work; until then the demo pins it).
// The federation and the operator stay up afterwards; `make federation-down` stops both.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { create } from 'kubo-rpc-client';
import { daemonPid, isAlive, startDaemon } from '../federation/daemon.ts';
import { federationUp } from '../federation/federation.ts';
import { repoRoot } from '../federation/paths.ts';
import type { AIJob, AIJobManifest } from '../operator/api/types.ts';

const t0 = Date.now();
const say = (line: string) => process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NAMESPACE = 'flotilla-demo';
const EXAMPLES = ['aijob-single-gpu.yaml', 'aijob-h100-gang.yaml', 'aijob-impossible.yaml'];

const ep = await federationUp({ progress: say });
const hub = new KubeConfig();
hub.loadFromFile(ep.hub.kubeconfig);
const custom = hub.makeApiClient(CustomObjectsApi);
const core = hub.makeApiClient(CoreV1Api);

const operatorPid = daemonPid(ep.stateDir, 'operator');
if (operatorPid === undefined || !isAlive(operatorPid)) {
  const op = startDaemon(ep.stateDir, {
    name: 'operator',
    command: process.execPath,
    args: [join(repoRoot, 'operator', 'main.ts')],
    env: { FLOTILLA_KUBECONFIG: ep.hub.kubeconfig, NODE_OPTIONS: '' },
  });
  say(`operator started (pid ${op.pid}, JSON logs in ${op.logFile})`);
} else {
  say(`operator already running (pid ${operatorPid})`);
}

await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => undefined);
const names: string[] = [];
for (const file of EXAMPLES) {
  const manifest = yaml.load(readFileSync(join(repoRoot, 'examples', file), 'utf8')) as AIJobManifest;
  const name = `${manifest.metadata.name}-${Date.now().toString(36)}`;
  names.push(name);
  await custom.createNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: NAMESPACE, body: { ...manifest, metadata: { name, namespace: NAMESPACE } } });
  say(`kubectl apply examples/${file} → AIJob ${NAMESPACE}/${name}`);
}

const seen = new Map<string, string>();
const deadline = Date.now() + 90_000;
const settled = (j: AIJob | undefined) => ['Succeeded', 'Failed'].includes(j?.status?.phase ?? '') ||
  (j?.status?.conditions?.some((c) => c.type === 'Scheduled' && c.reason === 'Unschedulable' && c.message.includes('replicas fit')) ?? false);
const jobs = new Map<string, AIJob | undefined>();
while (Date.now() < deadline) {
  for (const name of names) {
    const job = (await custom.getNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: NAMESPACE, name })) as AIJob;
    jobs.set(name, job);
    const scheduled = job.status?.conditions?.find((c) => c.type === 'Scheduled');
    const line = `${name}: ${job.status?.phase ?? 'New'}${scheduled ? ` — ${scheduled.message}` : ''}`;
    if (seen.get(name) !== line) {
      say(line);
      seen.set(name, line);
    }
  }
  if ([...jobs.values()].every(settled)) break;
  await sleep(300);
}

const hubKubo = create({ url: ep.kubo.hub.api });
for (const [name, job] of jobs) {
  const cid = job?.status?.outputCID;
  if (!cid) continue;
  await hubKubo.pin.add(cid as never);
  const chunks: Uint8Array[] = [];
  for await (const c of hubKubo.cat(cid as never)) chunks.push(c);
  const output = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { output?: string; provider?: string };
  say(`${name}: output ${cid} pinned on the hub's Kubo (fetched from the provider's over bitswap): "${output.output}" from ${output.provider}`);
}

process.stdout.write(`
Look around:
  kubectl --kubeconfig ${ep.hub.kubeconfig} -n ${NAMESPACE} get aijobs
  kubectl --kubeconfig ${ep.hub.kubeconfig} get gpuproviders
  kubectl --kubeconfig ${ep.hub.kubeconfig} -n ${NAMESPACE} get events --sort-by=.lastTimestamp
  kubectl --kubeconfig ${ep.providers[0]?.kubeconfig} get nodes -L nvidia.com/gpu.product
  make federation-status
Tear down (federation and operator):
  make federation-down
`);
