// `make demo`: the whole story on the local federation, as a timeline on the terminal.
//
//   federation up (tools, hub + 3 provider clusters, Kubo pair, anvil with the escrow and a test
//   stablecoin) → the operator (pins on the hub's Kubo, settles on anvil, takes checkpoint reports)
//   → providers onboarded → a paid job is funded and submitted — the reference trainer
//   (examples/workloads/trainer.py) as a 2-replica gang, run for real by the federation's executor
//   with the job agent beside each replica — with an impossible one beside it → the provider running
//   it reclaims the node (taint with a deadline) → the job resumes on another provider from the
//   checkpoint the agent reported → the model is pinned, byte-identical to an uninterrupted run on
//   this machine, the receipt signed → the providers are paid their metered shares and the rest is
//   refundable to the payer.
//
// Exits 0 only when all of that happened. The federation and the operator stay up afterwards.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import * as yaml from 'js-yaml';
import { loadArtifact } from '../contracts/artifacts.ts';
import { chainEnv, devKey, RECEIPT_SIGNER_ACCOUNT } from '../federation/chain-contracts.ts';
import { freePort, startDaemon, stopDaemon } from '../federation/daemon.ts';
import { federationUp } from '../federation/federation.ts';
import { repoRoot } from '../federation/paths.ts';
import { KuboNode } from '../operator/artifacts/kubo.ts';
import { verifyReceipt } from '../operator/artifacts/verify.ts';
import type { AIJob, AIJobManifest, GPUProvider } from '../operator/api/types.ts';
import { ALLOW_UNPAID_ANNOTATION, PAYERS_ANNOTATION } from '../operator/core/funding.ts';
import { MANAGED_BY_ANNOTATION } from '../operator/core/lifecycle/claim.ts';
import { toBaseUnits } from '../operator/core/money.ts';
import { loadChainConfig } from '../operator/payments/chain-config.ts';
import { fundJob } from '../operator/payments/fund.ts';
import { uninterruptedModel } from './trainer-reference.ts';
import { OPERATOR_NODE_OPTIONS } from '../operator/runtime/node-options.ts';

const t0 = Date.now();
const say = (line: string) => process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NAMESPACE = 'flotilla-demo';
const PAYER_ACCOUNT = 4;
// Its own dev account: not a provider's payout key nor a payer's (federation/chain-contracts.ts).
const RECEIPT_ACCOUNT = RECEIPT_SIGNER_ACCOUNT;
const group = { group: 'flotilla.dev', version: 'v1alpha1' } as const;

function fail(message: string): never {
  process.stderr.write(`\ndemo failed: ${message}\n`);
  process.exit(1);
}

// ── 1. the federation ─────────────────────────────────────────────────────────────────────────
const ep = await federationUp({ progress: say });
if (!ep.chain) fail('the federation has no contracts deployed');
const chain = ep.chain;
const hub = new KubeConfig();
hub.loadFromFile(ep.hub.kubeconfig);
const custom = hub.makeApiClient(CustomObjectsApi);
const core = hub.makeApiClient(CoreV1Api);

// ── 2. the operator, configured for IPFS, the chain and checkpoint reports ────────────────────
const secretFile = join(ep.stateDir, 'report-secret');
if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
const httpPort = await freePort();
const reportPort = await freePort();
const DEMO_OPERATOR = 'flotilla-demo';
const operatorEnv = {
  FLOTILLA_KUBECONFIG: ep.hub.kubeconfig,
  NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
  // The local federation's provider apiservers listen on 127.0.0.1: loopback servers allowed (dev only).
  FLOTILLA_ALLOW_INSECURE_PROVIDERS: '1',
  // The demo's jobs only: test suites sharing the federation run operators of their own.
  FLOTILLA_WATCH_NAMESPACE: NAMESPACE,
  FLOTILLA_LEASE_NAME: 'flotilla-operator-demo',
  // The demo's jobs name this operator (flotilla.dev/managed-by): another operator watching every
  // namespace (`make run`) leaves them alone.
  FLOTILLA_OPERATOR_NAME: DEMO_OPERATOR,
  ...chainEnv(ep.anvil, chain),
  FLOTILLA_CHAIN_POLL_MS: '1000',
  FLOTILLA_SETTLEMENT_BATCH_MS: '500',
  FLOTILLA_KUBO_API: ep.kubo.hub.api,
  FLOTILLA_RECEIPT_KEY: devKey(RECEIPT_ACCOUNT),
  FLOTILLA_HTTP_PORT: String(httpPort),
  FLOTILLA_WEBHOOK_PORT: 'off',
  FLOTILLA_REPORT_PORT: String(reportPort),
  FLOTILLA_REPORT_URL: `http://127.0.0.1:${reportPort}`,
  FLOTILLA_REPORT_SECRET_FILE: secretFile,
  // The job agent (docs/agent.md) adds checkpoints and outputs to the provider side's Kubo.
  FLOTILLA_AGENT_IPFS_API: ep.kubo.provider.api,
};
// Always a fresh one, so it runs with this configuration (a previous demo's may differ).
await stopDaemon(ep.stateDir, 'operator');
const op = startDaemon(ep.stateDir, { name: 'operator', command: process.execPath, args: [join(repoRoot, 'operator', 'main.ts')], env: operatorEnv });
say(`operator started for namespace ${NAMESPACE} (pid ${op.pid}; JSON logs in ${op.logFile}; http://127.0.0.1:${httpPort}/metrics)`);

// ── 3. the providers it federates ─────────────────────────────────────────────────────────────
const providersReady = async () =>
  ((await custom.listClusterCustomObject({ ...group, plural: 'gpuproviders' })) as { items: GPUProvider[] }).items.filter(
    (p) => p.metadata.labels?.['flotilla.dev/registered-by'] === 'local-federation',
  );
let providers: GPUProvider[] = [];
for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(500)) {
  providers = await providersReady();
  if (providers.length > 0 && providers.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))) break;
}
for (const p of providers) {
  const prices = p.spec.prices.map((x) => `${x.gpuProduct} ${x.pricePerGpuHour}`).join(', ');
  say(`provider ${p.metadata.name} onboarded: ${p.status?.freeGpus ?? '?'} free GPUs, ${p.spec.region}; USDC/GPU-h: ${prices}`);
}

// ── 4. fund and submit ────────────────────────────────────────────────────────────────────────
await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => undefined);
// As a cluster admin: the demo's payer is the one address that may fund the namespace's jobs, and
// its unpaid job (the impossible one) may run on this hub that settles on chain.
await core.patchNamespace(
  {
    name: NAMESPACE,
    body: { metadata: { annotations: { [PAYERS_ANNOTATION]: new Wallet(devKey(PAYER_ACCOUNT)).address, [ALLOW_UNPAID_ANNOTATION]: 'true' } } },
  },
  setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
);
const suffix = Date.now().toString(36);
const load = (file: string) => yaml.load(readFileSync(join(repoRoot, 'examples', file), 'utf8')) as AIJobManifest;
const PAID_FILE = 'federation/aijob-trainer-paid.yaml';
const paid = load(PAID_FILE);
const impossible = load('aijob-impossible.yaml');
const paidName = `${paid.metadata.name}-${suffix}`;
const impossibleName = `${impossible.metadata.name}-${suffix}`;
for (const [m, name, file] of [
  [paid, paidName, PAID_FILE],
  [impossible, impossibleName, 'aijob-impossible.yaml'],
] as const) {
  await custom.createNamespacedCustomObject({
    ...group,
    plural: 'aijobs',
    namespace: NAMESPACE,
    body: { ...m, metadata: { name, namespace: NAMESPACE, annotations: { [MANAGED_BY_ANNOTATION]: DEMO_OPERATOR } } },
  });
  say(`kubectl apply examples/${file} → AIJob ${NAMESPACE}/${name}`);
}
// The same trainer, uninterrupted, on this machine: what the federation's interrupted run must equal.
const reference = uninterruptedModel(paid.spec.command ?? [], paid.spec.args ?? []).catch((err: unknown) => fail(String(err)));
const read = async (name: string) => (await custom.getNamespacedCustomObject({ ...group, plural: 'aijobs', namespace: NAMESPACE, name })) as AIJob;

const rpc = new JsonRpcProvider(ep.anvil.rpcUrl, ep.anvil.chainId, { staticNetwork: true });
const usdc = chain.tokens.find((t) => t.symbol === 'USDC') ?? fail('no USDC on the local chain');
const payer = new Wallet(devKey(PAYER_ACCOUNT), rpc);
const token = new Contract(usdc.address, loadArtifact('TestStablecoin').abi as never, payer);
await (await token.getFunction('mint')(payer.address, toBaseUnits('25', usdc.decimals))).wait();
const chainConfig = loadChainConfig(operatorEnv) ?? fail('no chain configuration');
const funded = await fundJob({ hub, namespace: NAMESPACE, name: paidName, chain: chainConfig, payerKey: devKey(PAYER_ACCOUNT) });
say(`flotilla fund ${paidName}: ${funded.deposited} USDC deposited by ${payer.address} into the escrow (job id ${funded.escrowJobId.slice(0, 10)}…)`);

// ── 5. follow; reclaim the node once the job has checkpointed ─────────────────────────────────
const seen = new Map<string, string>();
let reclaimed: { provider: string; node: string } | undefined;
const describe = (job: AIJob) => {
  const st = job.status ?? {};
  const latest = [...(st.conditions ?? [])].sort((a, b) => a.lastTransitionTime.localeCompare(b.lastTransitionTime)).at(-1);
  return `${st.phase ?? 'New'}${latest ? ` — ${latest.type}=${latest.status} ${latest.reason}: ${latest.message}` : ''}`;
};
let job = await read(paidName);
for (const deadline = Date.now() + 150_000; Date.now() < deadline; await sleep(300)) {
  job = await read(paidName);
  for (const [name, j] of [
    [paidName, job],
    [impossibleName, await read(impossibleName)],
  ] as const) {
    const line = describe(j);
    if (seen.get(name) !== line) {
      say(`${name}: ${line}`);
      seen.set(name, line);
    }
  }
  for (const a of job.status?.attempts ?? []) {
    const key = `attempt ${a.index}`;
    const line = a.endTime
      ? `closed: ${a.reason} — ${a.message ?? ''}`
      : `placed on ${a.provider} (nodes ${(a.nodes ?? []).join(', ')}) at ${a.pricePerGpuHour} USDC/GPU-h`;
    if (seen.get(`${paidName}/${key}`) !== line) {
      say(`${paidName}: ${key} ${line}`);
      seen.set(`${paidName}/${key}`, line);
    }
  }
  const open = job.status?.attempts?.at(-1);
  if (!reclaimed && job.status?.phase === 'Running' && open && !open.endTime && open.checkpointCID) {
    const provider = ep.providers.find((p) => p.name === open.provider) ?? fail(`unknown provider ${open.provider}`);
    const node = open.nodes?.[0] ?? fail('attempt has no node');
    const pkc = new KubeConfig();
    pkc.loadFromFile(provider.kubeconfig);
    const deadlineIso = new Date(Date.now() + 5_000).toISOString();
    await pkc.makeApiClient(CoreV1Api).patchNode(
      {
        name: node,
        body: {
          metadata: { annotations: { 'flotilla.dev/reclaim-deadline': deadlineIso } },
          spec: { taints: [{ key: 'flotilla.dev/reclaim', value: 'owner', effect: 'NoSchedule' }] },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    reclaimed = { provider: open.provider, node };
    say(`${open.provider} takes its GPUs back: node ${node} tainted flotilla.dev/reclaim, deadline ${deadlineIso} (last checkpoint ${open.checkpointCID})`);
  }
  if (job.status?.phase === 'Settled' && job.status.receiptCID) break;
  if (job.status?.phase === 'Failed') break;
}

// Give the node back so the federation is as it was.
if (reclaimed) {
  const pkc = new KubeConfig();
  pkc.loadFromFile(ep.providers.find((p) => p.name === reclaimed?.provider)?.kubeconfig ?? '');
  await pkc
    .makeApiClient(CoreV1Api)
    .patchNode(
      { name: reclaimed.node, body: { metadata: { annotations: { 'flotilla.dev/reclaim-deadline': null } }, spec: { taints: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    .catch(() => undefined);
}

// ── 6. what happened ──────────────────────────────────────────────────────────────────────────
const st = job.status ?? {};
const attempts = st.attempts ?? [];
if (st.phase !== 'Settled') fail(`${paidName} ended ${st.phase ?? 'New'}, not Settled: ${describe(job)}`);
if (!reclaimed || attempts.length < 2) fail('the job was not preempted and resumed');
const first = attempts[0];
const last = attempts.at(-1);
say(`preempted on ${first?.provider}, finished on ${last?.provider}`);
for (const a of attempts) {
  say(
    `  attempt ${a.index} on ${a.provider}: ${a.reason} — ${a.gpuSeconds ?? 0} GPU-s run, ${a.billableGpuSeconds ?? 0} billed at ${a.pricePerGpuHour} USDC/GPU-h${a.checkpointCID ? `, checkpoint ${a.checkpointCID}` : ''}`,
  );
}
const resumedFrom = first?.checkpointCID;
say(`attempt ${last?.index} resumed from checkpoint ${resumedFrom ?? '(none)'}`);

const kubo = new KuboNode(ep.kubo.hub.api);
const model = await catPath(ep.kubo.hub.api, `${st.outputCID}/model.json`);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
say(`output ${st.outputCID} pinned on the hub's Kubo: model.json sha256 ${sha(model)} (added by the job agent at ${last?.provider})`);
const uninterrupted = await reference;
if (sha(uninterrupted) !== sha(model)) fail(`model.json differs from an uninterrupted run of the same trainer (sha256 ${sha(uninterrupted)})`);
say(`model.json is byte-identical to an uninterrupted 2-process run of the trainer on this machine`);
const receipt = await verifyReceipt(kubo, st.receiptCID ?? '', { signer: new Wallet(devKey(RECEIPT_ACCOUNT)).address });
if (!receipt.ok) fail(`receipt ${st.receiptCID} does not verify: ${receipt.problems.join('; ')}`);
say(`receipt ${st.receiptCID}: signed by ${receipt.recovered}, ${receipt.pins.length} referenced CIDs pinned`);

const escrow = new Contract(chain.escrow, loadArtifact('FlotillaEscrow').abi as never, rpc);
say(`cost ${st.cost?.amount} USDC; settled in tx ${st.settlement?.txHash}`);
for (const a of st.settlement?.amounts ?? []) {
  const owed = (await escrow.getFunction('owed').staticCall(a.payoutAddress, usdc.address)) as bigint;
  say(
    `  ${a.provider} (${a.payoutAddress}) paid ${a.amount} USDC — escrow credit now ${Number(owed) / 10 ** usdc.decimals} USDC, withdrawable with \`flotilla provider withdraw\``,
  );
}
say(`  refundable to the payer: ${st.settlement?.refund} USDC`);
rpc.destroy();

// The same story through the CLI a user would run.
const cli = (...args: string[]) =>
  execFileSync(process.execPath, [join(repoRoot, 'cli', 'flotilla.ts'), ...args, '--kubeconfig', ep.hub.kubeconfig], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
say(`flotilla status ${paidName} -n ${NAMESPACE}:`);
process.stdout.write(`${cli('status', paidName, '-n', NAMESPACE).trimEnd().replace(/^/gm, '    ')}\n`);
say('flotilla providers (reputation now counts the reclaim):');
process.stdout.write(`${cli('providers').trimEnd().replace(/^/gm, '    ')}\n`);

process.stdout.write(`
Look around:
  node cli/flotilla.ts get ${paidName} -n ${NAMESPACE} -o ./model --kubo ${ep.kubo.hub.api} --signer ${new Wallet(devKey(RECEIPT_ACCOUNT)).address} --kubeconfig ${ep.hub.kubeconfig}
  ls ${join(ep.stateDir, 'exec')}   (each replica's processes: logs, checkpoint and output folders)
  kubectl --kubeconfig ${ep.hub.kubeconfig} -n ${NAMESPACE} get aijobs
  kubectl --kubeconfig ${ep.hub.kubeconfig} -n ${NAMESPACE} get aijob ${paidName} -o yaml
  kubectl --kubeconfig ${ep.hub.kubeconfig} get gpuproviders
  kubectl --kubeconfig ${ep.hub.kubeconfig} -n ${NAMESPACE} get events --sort-by=.lastTimestamp
  node cli/flotilla.ts providers --kubeconfig ${ep.hub.kubeconfig}
  node cli/flotilla.ts watch <job> -n ${NAMESPACE} --kubeconfig ${ep.hub.kubeconfig}
  node cli/flotilla.ts receipt ${st.receiptCID} --signer ${new Wallet(devKey(RECEIPT_ACCOUNT)).address}
  curl -s http://127.0.0.1:${httpPort}/metrics | grep flotilla_
  make federation-status
Tear down (federation and operator):
  make federation-down
`);
process.exit(0);

/** The bytes at an IPFS path (a file inside a folder CID) from the hub's Kubo. */
async function catPath(api: string, path: string): Promise<Buffer> {
  const res = await fetch(`${api}/api/v0/cat?arg=${encodeURIComponent(path)}`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  if (!res.ok) fail(`reading ${path} from the hub's Kubo: HTTP ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}
