// `make run`: the real operator in the foreground against the running local federation, wired as
// the Helm chart wires it in a cluster, so the development loop has what an install has:
//
//   .flotilla/endpoints.json ─▶ Kubo API (pins, receipts), anvil + escrow + tokens + settlement key
//   charts/flotilla webhook.yaml (helm template, webhook.url = https://127.0.0.1:<port>) ─▶ a
//     throwaway CA and serving certificate, Validating/MutatingWebhookConfigurations on the hub
//   checkpoint reports on their own port, a callback master secret kept in .flotilla/run/
//
// The webhooks are registered once the operator answers, and removed when it stops (Ctrl-C,
// SIGTERM, or the operator exiting); a run killed with -9 leaves them, and the next run replaces
// them. FLOTILLA_* variables already in the environment pass through (e.g. FLOTILLA_WATCH_NAMESPACE
// for a namespace-scoped operator, whose AIJob webhooks then judge that namespace only).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { chainEnv, devKey, RECEIPT_SIGNER_ACCOUNT } from '../federation/chain-contracts.ts';
import { freePort } from '../federation/daemon.ts';
import { isHealthy, readEndpoints } from '../federation/federation.ts';
import { registerWebhooks, renderChartWebhooks, unregisterWebhooks } from '../federation/operator-webhooks.ts';
import { defaultStateDir, repoRoot } from '../federation/paths.ts';
import { OPERATOR_NODE_OPTIONS } from '../operator/runtime/node-options.ts';

const say = (line: string) => process.stderr.write(`[run] ${line}\n`);
function fail(message: string): never {
  say(`error: ${message}`);
  process.exit(1);
}

const ep = readEndpoints(defaultStateDir()) ?? fail(`no local federation in ${defaultStateDir()}: start it with make federation-up`);
if (!(await isHealthy(ep))) fail('the local federation is not healthy: make federation-status, then make federation-up');

const runDir = join(ep.stateDir, 'run');
mkdirSync(runDir, { recursive: true, mode: 0o700 });
/** A secret kept across runs (so receivers and tenants keep their keys), created on the first. */
const keptSecret = (name: string) => {
  const file = join(runDir, name);
  if (!existsSync(file)) writeFileSync(file, `whsec_${randomBytes(32).toString('base64')}`, { mode: 0o600 });
  return file;
};
const port = async (key: string) => (process.env[key] ? Number(process.env[key]) : freePort());

const env = process.env;
const namespace = env.FLOTILLA_NAMESPACE || 'flotilla-system';
const watchNamespace = env.FLOTILLA_WATCH_NAMESPACE || undefined;
const httpPort = await port('FLOTILLA_HTTP_PORT');
const webhookPort = await port('FLOTILLA_WEBHOOK_PORT');
const reportPort = await port('FLOTILLA_REPORT_PORT');

// The chart's own webhook manifests and throwaway CA (federation/operator-webhooks.ts).
const rendered = renderChartWebhooks({
  url: `https://127.0.0.1:${webhookPort}`,
  release: env.FLOTILLA_RUN_RELEASE || 'flotilla-dev',
  namespace,
  ...(watchNamespace ? { watchNamespace } : {}),
});
const certFile = join(runDir, 'webhook-tls.crt');
const keyFile = join(runDir, 'webhook-tls.key');
writeFileSync(certFile, rendered.certPem, { mode: 0o600 });
writeFileSync(keyFile, rendered.keyPem, { mode: 0o600 });

const operatorEnv: Record<string, string> = {
  FLOTILLA_KUBECONFIG: ep.hub.kubeconfig,
  FLOTILLA_NAMESPACE: namespace,
  // The local federation's provider apiservers listen on 127.0.0.1: loopback servers allowed (dev only).
  FLOTILLA_ALLOW_INSECURE_PROVIDERS: '1',
  // IPFS: pins and signed receipts on the hub's Kubo; inputs fetched through its gateway.
  FLOTILLA_KUBO_API: ep.kubo.hub.api,
  FLOTILLA_RECEIPT_KEY: devKey(RECEIPT_SIGNER_ACCOUNT),
  // The chain: anvil, the escrow, the test stablecoin and the settlement key.
  ...(ep.chain ? chainEnv(ep.anvil, ep.chain) : {}),
  FLOTILLA_HTTP_HOST: '127.0.0.1',
  FLOTILLA_HTTP_PORT: String(httpPort),
  FLOTILLA_WEBHOOK_HOST: '127.0.0.1',
  FLOTILLA_WEBHOOK_PORT: String(webhookPort),
  FLOTILLA_WEBHOOK_CERT_FILE: certFile,
  FLOTILLA_WEBHOOK_KEY_FILE: keyFile,
  // Live checkpoint reports from the simulated executor's replicas, on their own port.
  FLOTILLA_REPORT_HOST: '127.0.0.1',
  FLOTILLA_REPORT_PORT: String(reportPort),
  FLOTILLA_REPORT_URL: `http://127.0.0.1:${reportPort}`,
  FLOTILLA_REPORT_SECRET_FILE: keptSecret('report-secret'),
  FLOTILLA_CALLBACK_SECRET_FILE: keptSecret('callback-secret'),
  // `federation down` stops an operator it finds running against it.
  FLOTILLA_FEDERATION: ep.stateDir,
};
// Explicit FLOTILLA_* settings of the caller win (ports were read from them above).
for (const [k, v] of Object.entries(env)) if (k.startsWith('FLOTILLA_') && v !== undefined && k !== 'FLOTILLA_FEDERATION') operatorEnv[k] = v;

const hub = new KubeConfig();
hub.loadFromFile(ep.hub.kubeconfig);

say(
  `hub ${hub.getCurrentCluster()?.server}; Kubo ${operatorEnv.FLOTILLA_KUBO_API}; chain ${ep.chain ? `${ep.anvil.rpcUrl} escrow ${ep.chain.escrow}` : 'none (payments off)'}`,
);
say(
  `http://127.0.0.1:${httpPort} (/healthz, /readyz, /metrics, /api), webhooks https://127.0.0.1:${webhookPort}, reports http://127.0.0.1:${reportPort}${watchNamespace ? `, namespace ${watchNamespace} only` : ''}`,
);
const child = spawn(process.execPath, [join(repoRoot, 'operator', 'main.ts')], {
  cwd: repoRoot,
  env: { ...env, NODE_OPTIONS: OPERATOR_NODE_OPTIONS, ...operatorEnv },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));

let registered = false;
let stopping = false;
async function stop(signal: NodeJS.Signals | undefined, code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  // The webhooks first (failurePolicy Fail: a hub calling a stopped operator refuses every AIJob
  // create), then the operator — a terminal's Ctrl-C reaches both processes at once anyway.
  if (registered) {
    await unregisterWebhooks(hub, rendered).then(
      () => say('webhook configurations removed'),
      (err: unknown) => say(`could not remove the webhook configurations: ${String(err)}`),
    );
  }
  if (signal && child.exitCode === null && child.signalCode === null) child.kill(signal);
  const exit = await exited;
  process.exit(signal ? 0 : code || exit);
}
process.once('SIGINT', () => void stop('SIGTERM', 0));
process.once('SIGTERM', () => void stop('SIGTERM', 0));
void exited.then((code) => stop(undefined, code));

// Register once the operator's webhook listener accepts connections (and /healthz answers).
const listening = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(p, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
const deadline = Date.now() + 60_000;
while (
  !stopping &&
  !(
    (await listening(webhookPort)) &&
    (await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
) {
  if (Date.now() > deadline) {
    say('the operator did not open its webhook listener within 60 s');
    await stop('SIGTERM', 1);
  }
  await new Promise((r) => setTimeout(r, 200));
}
if (!stopping) {
  registered = true;
  const names = await registerWebhooks(hub, rendered);
  // Stopped while registering: what stop() removed may have been created again just after.
  if (stopping) await unregisterWebhooks(hub, rendered).catch(() => undefined);
  else
    say(
      `webhooks registered on the hub: ValidatingWebhookConfiguration ${names[0]}, MutatingWebhookConfiguration ${names[1]} (CA in .flotilla/run/, removed on exit)`,
    );
}
