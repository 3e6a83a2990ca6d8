// `make run` (scripts/run-operator.ts) is the real operator wired as a Helm install: started
// against the running federation, it registers the chart's webhook configurations on the hub
// (pointing at its own listener, with the throwaway CA in caBundle), the hub's apiserver calls
// them (an AIJob paying in a token the chain configuration does not list is refused: webhooks
// and chain wired; a callback to the metadata address is refused at admission), Kubo is configured (no "FLOTILLA_KUBO_API is not set"), and Ctrl-C removes the
// configurations and stops the operator.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import { repoRoot } from '../../federation/paths.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil } from '../support/federation.ts';
import { smallJob } from '../http/support.ts';

const hub = clusterClients('hub');
const admission = hub.kc.makeApiClient(AdmissionregistrationV1Api);
const custom = hub.kc.makeApiClient(CustomObjectsApi);
let ns = '';
let release = '';
let logFile = '';
let child: ReturnType<typeof spawn> | undefined;
let exited: Promise<number | null> | undefined;
const configName = () => `flotilla-system-${release}-flotilla-operator`;
const log = () => readFileSync(logFile, 'utf8');
const notFound = (p: Promise<unknown>) =>
  p.then(
    () => false,
    (err: { code?: number }) => err.code === 404,
  );

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-run');
  release = `run-${ns.slice(-6)}`;
  logFile = join(tmpdir(), `flotilla-make-run-${ns}.log`);
  const fd = openSync(logFile, 'w');
  // What `make run` runs, scoped to this suite's namespace and lease so it judges and reconciles nothing else.
  child = spawn(process.execPath, [join(repoRoot, 'scripts', 'run-operator.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      FLOTILLA_WATCH_NAMESPACE: ns,
      FLOTILLA_LEASE_NAME: `flotilla-operator-${ns}`,
      FLOTILLA_RUN_RELEASE: release,
      FLOTILLA_IDENTITY: `${ns}-make-run`,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  exited = new Promise((resolve) => child?.once('exit', (code) => resolve(code)));
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  await admission.deleteValidatingWebhookConfiguration({ name: configName() }).catch(() => undefined);
  await admission.deleteMutatingWebhookConfiguration({ name: configName() }).catch(() => undefined);
  await deleteNamespace(hub.core, ns);
});

describe('make run', () => {
  it("registers the chart's webhooks on the hub, wires Kubo and the chain, and removes the webhooks on Ctrl-C", async () => {
    await pollUntil(
      'make run registering its webhooks',
      async () => log(),
      (text) => text.includes('webhooks registered on the hub') || child?.exitCode !== null,
      60_000,
      250,
    );
    expect(log()).toContain('webhooks registered on the hub');

    const validating = await admission.readValidatingWebhookConfiguration({ name: configName() });
    const mutating = await admission.readMutatingWebhookConfiguration({ name: configName() });
    const port = /webhooks https:\/\/127\.0\.0\.1:(\d+)/.exec(log())?.[1];
    expect(port).toBeDefined();
    expect(validating.webhooks?.map((w) => [w.name, w.clientConfig.url])).toEqual(
      expect.arrayContaining([
        ['aijobs.flotilla.dev', `https://127.0.0.1:${port}/validate/aijobs`],
        ['gpuproviders.flotilla.dev', `https://127.0.0.1:${port}/validate/gpuproviders`],
      ]),
    );
    expect(mutating.webhooks?.map((w) => [w.name, w.clientConfig.url])).toEqual([['aijobs.default.flotilla.dev', `https://127.0.0.1:${port}/mutate/aijobs`]]);
    expect(validating.webhooks?.every((w) => (w.clientConfig.caBundle ?? '').length > 100 && w.failurePolicy === 'Fail')).toBe(true);
    // Scoped to the namespace it watches, as the chart scopes a namespace-scoped operator.
    expect(validating.webhooks?.find((w) => w.name === 'aijobs.flotilla.dev')?.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': ns });

    // The hub calls it over TLS, trusting the throwaway CA; the verdict needs the chain's token list.
    const denied = await pollUntil(
      'the webhook judging an AIJob create',
      () =>
        custom
          .createNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            plural: AIJOB.plural,
            namespace: ns,
            body: smallJob(`dai-${Date.now().toString(36)}`, ns, 1, { payment: { token: 'DAI', maxAmount: '5' } }),
          })
          .then(
            () => 'created',
            (err: { body?: unknown }) => (JSON.parse(String(err.body)) as { message?: string }).message ?? String(err.body),
          ),
      (m) => m !== 'created',
      20_000,
      500,
    );
    expect(denied).toContain('admission webhook "aijobs.flotilla.dev" denied the request');
    expect(denied).toContain('spec.payment.token "DAI" is not a token this operator settles in');
    // And the callback policy at admission: the cloud metadata address, spelled in decimal.
    const metadata = await custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        body: smallJob('metadata-callback', ns, 1, { payment: { token: 'USDC', maxAmount: '5' }, callbackURL: 'http://2852039166/latest/meta-data/' }),
      })
      .then(
        () => 'created',
        (err: { body?: unknown }) => (JSON.parse(String(err.body)) as { message?: string }).message ?? String(err.body),
      );
    expect(metadata).toContain('spec.callbackURL host 169.254.169.254 is link-local');

    // Kubo wired (pins and receipts), leading.
    await pollUntil(
      'the operator leading',
      async () => log(),
      (text) => text.includes('"msg":"leading"'),
      30_000,
      250,
    );
    expect(log()).not.toContain('FLOTILLA_KUBO_API is not set');

    // Ctrl-C: the configurations go first, then the operator stops, and the script exits 0.
    child?.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(log()).toContain('webhook configurations removed');
    expect(await notFound(admission.readValidatingWebhookConfiguration({ name: configName() }))).toBe(true);
    expect(await notFound(admission.readMutatingWebhookConfiguration({ name: configName() }))).toBe(true);
  }, 120_000);
});
