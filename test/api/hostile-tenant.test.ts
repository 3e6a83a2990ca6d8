// A hostile tenant against the real hub apiserver, with the operator's webhooks registered as the
// chart registers them (WEBHOOK_RULES; a throwaway CA) and one operator with payments configured:
//
//   * 60 manifests, each refused by the CRD or the webhook with a message naming the field;
//   * namespace policy widened on create and on update → refused (or, for deniedProviders,
//     narrowed back); a forged flotilla.dev/defaults-applied → overwritten; a job without
//     spec.payment on this paid hub → refused until the namespace allows unpaid jobs;
//   * webhook down: objects labelled for the "outage" reach a webhook configuration with
//     failurePolicy Ignore whose URL nothing listens on, so the apiserver admits them unjudged.
//     The operator re-checks: unrunnable specs end Failed (InvalidSpec) and policy violations
//     Failed (PolicyViolation) within 60 s, each naming the field, and a job that leaves out the
//     policy is still placed inside it (provider-a, not the cheaper but policy-denied provider-c).
//
// The outcome table is written to <state dir>/reports/hostile-tenant.md (docs/security.md carries it).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { CID_V0, CID_V1 } from '../support/admission-cases.ts';
import { AIJOB, GROUP, SETTLEMENT_FINALIZER, VERSION } from '../../operator/api/group.ts';
import { FINALIZER } from '../../operator/core/lifecycle/plan.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { webhookConfigurations } from '../../operator/http/webhook-configs.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { freePorts, getJson, makeTestPki, smallJob } from '../http/support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const admission = hub.kc.makeApiClient(AdmissionregistrationV1Api);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const OUTAGE = 'flotilla.test/webhook-outage';
const APPLIED = 'flotilla.dev/defaults-applied';
const H100 = 'NVIDIA-H100-80GB-HBM3';
const POLICY = {
  'flotilla.dev/default-regions': 'us-east,us-west',
  'flotilla.dev/default-denied-providers': 'provider-c',
  'flotilla.dev/default-max-price-per-gpu-hour': '3',
};

let ns = '';
let dir = '';
let webhookName = '';
let operator: OperatorProcess | undefined;
const outcomes: Array<{ manifest: string; field: string; outcome: string }> = [];

type Spec = Record<string, unknown>;
const paid = { token: 'USDC', maxAmount: '5' };
let seq = 0;
/** A job of this suite: paid, one L4 replica, `spec` merged over it (a key set to undefined is removed). */
function manifest(spec: Spec, labels: Record<string, string> = {}, annotations?: Record<string, string>) {
  const name = `h${(++seq).toString().padStart(3, '0')}`;
  const body = smallJob(name, ns, 2, { payment: paid }) as unknown as { metadata: Record<string, unknown>; spec: Spec };
  for (const [k, v] of Object.entries(spec))
    if (v === undefined) delete body.spec[k];
    else body.spec[k] = v;
  body.metadata.labels = labels;
  if (annotations) body.metadata.annotations = annotations;
  return { name, body };
}

const create = (body: unknown) => custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, body });
const get = async (name: string) =>
  (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name })) as AIJob;
const patch = (name: string, body: unknown) =>
  custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name, body }, mergePatch);

/** 'created', or the apiserver's message for a refused request. */
const verdict = (p: Promise<unknown>) =>
  p.then(
    () => 'created',
    (err: { body?: unknown }) => {
      const body = typeof err.body === 'string' ? err.body : '';
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return String(err);
      }
    },
  );
const refusedBy = (message: string) => (message.includes('admission webhook') ? 'webhook' : 'CRD');

beforeAll(async () => {
  const ep = federation();
  const chain = ep.chain;
  if (!chain) throw new Error('the federation has no chain (escrow and test stablecoin)');
  ns = await createNamespace(hub.core, 't-hostile');
  await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: POLICY } } }, mergePatch);
  webhookName = `flotilla-test-${ns}`;
  dir = mkdtempSync(join(tmpdir(), 'flotilla-hostile-'));
  const pki = await makeTestPki();
  writeFileSync(join(dir, 'tls.crt'), pki.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.keyPem);
  const [httpPort, webhookPort, deadPort] = (await freePorts(3)) as [number, number, number];
  operator = startOperator(ns, {
    FLOTILLA_HTTP_HOST: '127.0.0.1',
    FLOTILLA_HTTP_PORT: String(httpPort),
    FLOTILLA_WEBHOOK_HOST: '127.0.0.1',
    FLOTILLA_WEBHOOK_PORT: String(webhookPort),
    FLOTILLA_WEBHOOK_CERT_FILE: join(dir, 'tls.crt'),
    FLOTILLA_WEBHOOK_KEY_FILE: join(dir, 'tls.key'),
    FLOTILLA_CHAIN_RPC: ep.anvil.rpcUrl,
    FLOTILLA_ESCROW_ADDRESS: chain.escrow,
    FLOTILLA_TOKENS: chain.tokens.map((t) => `${t.symbol}=${t.address}:${t.decimals}`).join(','),
    // A hub maximum below the CRD's, so the webhook and the operator (not the schema) refuse 100 CPUs.
    FLOTILLA_MAX_CPU: '64',
  });
  await pollUntil(
    'the operator ready',
    () => getJson(`http://127.0.0.1:${httpPort}/readyz`).catch(() => ({ status: 0 })),
    (r) => r.status === 200,
    60_000,
  );
  const caBundle = Buffer.from(pki.caPem).toString('base64');
  const namespaceSelector = { matchLabels: { 'kubernetes.io/metadata.name': ns } };
  const aijobsOnly = <T extends { webhooks: Array<{ name: string }> }>(c: T): T => ({ ...c, webhooks: c.webhooks.filter((w) => w.name.startsWith('aijobs.')) });
  const live = webhookConfigurations({
    name: webhookName,
    baseUrl: `https://127.0.0.1:${webhookPort}`,
    caBundle,
    namespaceSelector,
    objectSelector: { matchExpressions: [{ key: OUTAGE, operator: 'DoesNotExist' }] },
  });
  const down = webhookConfigurations({
    name: `${webhookName}-outage`,
    baseUrl: `https://127.0.0.1:${deadPort}`,
    caBundle,
    namespaceSelector,
    objectSelector: { matchLabels: { [OUTAGE]: 'true' } },
    failurePolicy: 'Ignore',
    timeoutSeconds: 2,
  });
  for (const c of [live, down]) {
    await admission.createValidatingWebhookConfiguration({ body: aijobsOnly(c.validating) });
    await admission.createMutatingWebhookConfiguration({ body: aijobsOnly(c.mutating) });
  }
  // The apiserver takes a moment to see new configurations: wait until the webhook judges.
  await pollUntil(
    'the webhook judging AIJobs',
    () => verdict(create(manifest({ placement: { regions: ['eu-west'] } }).body)),
    (m) => m.includes('admission webhook'),
    30_000,
    300,
  );
});

afterAll(async () => {
  for (const name of [webhookName, `${webhookName}-outage`]) {
    await admission.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
    await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  }
  // The operator takes its finalizers off what it made, so the namespace does not stay Terminating.
  if (operator && ns) {
    await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns }).catch(() => undefined);
    await pollUntil(
      "the suite's AIJobs gone",
      async () =>
        ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns })) as { items: unknown[] }).items
          .length,
      (n) => n === 0,
      20_000,
      500,
    ).catch(() => undefined);
  }
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (outcomes.length > 0) {
    const reports = join(federation().stateDir, 'reports');
    mkdirSync(reports, { recursive: true });
    const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
    const rows = outcomes.map((o, i) => `| ${i + 1} | ${cell(o.manifest)} | \`${cell(o.field)}\` | ${cell(o.outcome)} |`);
    writeFileSync(join(reports, 'hostile-tenant.md'), ['| # | manifest | field named | outcome |', '| --- | --- | --- | --- |', ...rows, ''].join('\n'));
  }
});

const big = (n: number, size: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`big-${i}`, 'x'.repeat(size)]));
const input = (mountPath: string, cid = CID_V1) => ({ name: 'data', cid, mountPath });

/** [what the manifest is, its spec over the base job, the field the refusal must name]. */
const refused: Array<[string, Spec, string]> = [
  ['pod annotation key "bad key!"', { podAnnotations: { 'bad key!': 'x' } }, 'spec.podAnnotations'],
  ['pod annotation key with two slashes', { podAnnotations: { 'a/b/c': 'x' } }, 'spec.podAnnotations'],
  ['pod annotation name of 64 characters', { podAnnotations: { ['n'.repeat(64)]: 'x' } }, 'spec.podAnnotations'],
  ['pod annotation under flotilla.dev/', { podAnnotations: { 'flotilla.dev/attempt': '9' } }, 'spec.podAnnotations'],
  [
    'AppArmor override annotation',
    { podAnnotations: { 'container.apparmor.security.beta.kubernetes.io/main': 'unconfined' } },
    'spec.podAnnotations[container.apparmor.security.beta.kubernetes.io/main]',
  ],
  [
    'seccomp override annotation',
    { podAnnotations: { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' } },
    'spec.podAnnotations[seccomp.security.alpha.kubernetes.io/pod]',
  ],
  ['Multus network annotation', { podAnnotations: { 'k8s.v1.cni.cncf.io/networks': 'host-bridge' } }, 'spec.podAnnotations[k8s.v1.cni.cncf.io/networks]'],
  [
    'cluster-autoscaler safe-to-evict=false',
    { podAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } },
    'spec.podAnnotations[cluster-autoscaler.kubernetes.io/safe-to-evict]',
  ],
  ['karpenter do-not-disrupt', { podAnnotations: { 'karpenter.sh/do-not-disrupt': 'true' } }, 'spec.podAnnotations[karpenter.sh/do-not-disrupt]'],
  ['pod annotations of 80 kB in all', { podAnnotations: big(20, 4000) }, 'spec.podAnnotations'],
  ['env LD_PRELOAD', { env: [{ name: 'LD_PRELOAD', value: '/tmp/evil.so' }] }, 'spec.env[0].name'],
  ['env LD_LIBRARY_PATH', { env: [{ name: 'LD_LIBRARY_PATH', value: '/tmp' }] }, 'spec.env[0].name'],
  ['env DYLD_INSERT_LIBRARIES', { env: [{ name: 'DYLD_INSERT_LIBRARIES', value: '/tmp/x' }] }, 'spec.env[0].name'],
  ['env FLOTILLA_REPORT_TOKEN', { env: [{ name: 'FLOTILLA_REPORT_TOKEN', value: 'forged' }] }, 'spec.env[0].name'],
  ['env name starting with a digit', { env: [{ name: '1X', value: 'y' }] }, 'spec.env[0].name'],
  ['input mounted at /', { inputs: [input('/')] }, 'spec.inputs[0].mountPath'],
  ['input mounted at /proc', { inputs: [input('/proc')] }, 'spec.inputs[0].mountPath'],
  ['input mounted under /sys', { inputs: [input('/sys/fs/cgroup')] }, 'spec.inputs[0].mountPath'],
  ['input mounted under /dev', { inputs: [input('/dev/nvidia0')] }, 'spec.inputs[0].mountPath'],
  ['input mounted over /etc/passwd', { inputs: [input('/etc/passwd')] }, 'spec.inputs[0].mountPath'],
  ['input mounted at /a/../../etc', { inputs: [input('/a/../../etc')] }, 'spec.inputs[0].mountPath'],
  ['input on a relative path', { inputs: [input('data')] }, 'spec.inputs[0].mountPath'],
  ['input mounted over the output path', { inputs: [input('/flotilla/output')] }, 'spec.inputs[].mountPath must not overlap spec.output.path'],
  ['input mounted inside the output path', { inputs: [input('/flotilla/output/data')] }, 'spec.inputs[].mountPath must not overlap spec.output.path'],
  ['checkpoints inside the output path', { checkpoint: { path: '/flotilla/output/ckpt' } }, 'spec.checkpoint.path must not overlap spec.output.path'],
  [
    'input mounted over the checkpoint path',
    { inputs: [input('/ckpt')], checkpoint: { path: '/ckpt' } },
    'spec.inputs[].mountPath must not overlap spec.checkpoint.path',
  ],
  ['two inputs nested in each other', { inputs: [input('/d'), { name: 'more', cid: CID_V0, mountPath: '/d/e' }] }, 'spec.inputs[1].mountPath'],
  ['output path /', { output: { path: '/' } }, 'spec.output.path'],
  ['checkpoint path under /dev', { checkpoint: { path: '/dev/shm' } }, 'spec.checkpoint.path'],
  ['input CID "Qm123"', { inputs: [input('/data', 'Qm123')] }, 'spec.inputs[0].cid'],
  ['input CID of the right shape that does not decode', { inputs: [input('/data', `b${'a'.repeat(58)}`)] }, 'spec.inputs[0].cid'],
  ['maxAmount with 7 decimals (USDC has 6)', { payment: { token: 'USDC', maxAmount: '1.0000001' } }, 'spec.payment.maxAmount'],
  ["maxAmount beyond the escrow's uint96", { payment: { token: 'USDC', maxAmount: '79228162514264337593544' } }, 'spec.payment.maxAmount'],
  ['maxPricePerGpuHour with 7 decimals', { payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.0000001' } }, 'spec.payment.maxPricePerGpuHour'],
  ['negative maxAmount', { payment: { token: 'USDC', maxAmount: '-5' } }, 'spec.payment.maxAmount'],
  ['maxAmount in exponent notation', { payment: { token: 'USDC', maxAmount: '1e3' } }, 'spec.payment.maxAmount'],
  ['a token the operator does not settle in', { payment: { token: 'DAI', maxAmount: '1' } }, 'spec.payment.token'],
  ['deadline 2026-02-31', { deadline: '2026-02-31T00:00:00Z' }, 'spec.deadline'],
  ['deadline 2026-02-29 (not a leap year)', { deadline: '2026-02-29T00:00:00Z' }, 'spec.deadline'],
  ['deadline 2026-04-31', { deadline: '2026-04-31T00:00:00Z' }, 'spec.deadline'],
  ['deadline "tomorrow"', { deadline: 'tomorrow' }, 'spec.deadline'],
  ['checkpoint.every 1m500ms', { checkpoint: { path: '/ckpt', every: '1m500ms' } }, 'spec.checkpoint.every'],
  ['checkpoint.every 1.5h', { checkpoint: { path: '/ckpt', every: '1.5h' } }, 'spec.checkpoint.every'],
  ['checkpoint.every 10s (below 30s)', { checkpoint: { path: '/ckpt', every: '10s' } }, 'spec.checkpoint.every'],
  ['image with an upper-case path', { image: 'ghcr.io/Evil/Trainer:1' }, 'spec.image'],
  ['image with whitespace', { image: 'trainer latest' }, 'spec.image'],
  ['image with a short digest', { image: 'ghcr.io/x/y@sha256:abc' }, 'spec.image'],
  ['image with an empty tag', { image: 'ghcr.io/x/y:' }, 'spec.image'],
  ["2000 CPUs (above the CRD's 1024)", { resources: { gpus: 1, cpu: 2000 } }, 'spec.resources.cpu'],
  ["100 CPUs (above this hub's 64)", { resources: { gpus: 1, cpu: 100 } }, 'spec.resources.cpu'],
  ['memory 100Ti', { resources: { gpus: 1, memory: '100Ti' } }, 'spec.resources.memory'],
  ['memory "lots"', { resources: { gpus: 1, memory: 'lots' } }, 'spec.resources.memory'],
  ['replicas 0', { replicas: 0 }, 'spec.replicas'],
  ['GPUs -1', { resources: { gpus: -1 } }, 'spec.resources.gpus'],
  ['callback to 169.254.169.254', { callbackURL: 'http://169.254.169.254/latest/meta-data/' }, 'spec.callbackURL'],
  ['callback to 127.0.0.1', { callbackURL: 'http://127.0.0.1:8080/' }, 'spec.callbackURL'],
  ['callback with credentials in the URL', { callbackURL: 'https://user:pw@example.org/hook' }, 'spec.callbackURL'],
  ['region outside the namespace policy', { placement: { regions: ['eu-west'] } }, 'spec.placement.regions'],
  ['a policy-denied provider as allowed', { placement: { allowedProviders: ['provider-c'] } }, 'spec.placement.allowedProviders'],
  ["price cap above the namespace's", { payment: { token: 'USDC', maxAmount: '5', maxPricePerGpuHour: '5' } }, 'spec.payment.maxPricePerGpuHour'],
  ['no spec.payment on a paid hub', { payment: undefined }, 'spec.payment'],
];

describe('a hostile tenant against the hub with the webhooks registered', () => {
  it(`refuses all ${refused.length} hostile manifests, each with a message naming the field`, async () => {
    expect(refused.length).toBeGreaterThanOrEqual(50);
    const results: Array<[string, string, string]> = [];
    for (let i = 0; i < refused.length; i += 10) {
      const batch = refused.slice(i, i + 10);
      const messages = await Promise.all(batch.map(([, spec]) => verdict(create(manifest(spec).body))));
      batch.forEach(([what, , field], j) => results.push([what, field, messages[j] ?? '']));
    }
    for (const [what, field, message] of results)
      outcomes.push({ manifest: what, field, outcome: message === 'created' ? 'ACCEPTED' : `refused by the ${refusedBy(message)}` });
    // Whole, so one failure shows every manifest that got in.
    expect(results.filter(([, field, message]) => message === 'created' || !message.includes(field)).map(([what, , message]) => `${what}: ${message}`)).toEqual(
      [],
    );
  });

  it('refuses widening the namespace policy on update, narrows deniedProviders back, and keeps defaults-applied its own', async () => {
    const { name, body } = manifest({}, {}, { [APPLIED]: 'forged: nothing applied' });
    expect(await verdict(create(body))).toBe('created');
    const created = await get(name);
    expect(created.spec.placement).toEqual({ regions: ['us-east', 'us-west'], deniedProviders: ['provider-c'] });
    expect(created.spec.payment?.maxPricePerGpuHour).toBe('3');
    const record = `spec.placement.regions, spec.placement.deniedProviders, spec.payment.maxPricePerGpuHour (from namespace ${ns})`;
    expect(created.metadata.annotations?.[APPLIED]).toBe(record);
    // This operator has a chain but no settlement key, so it cannot settle: the webhook adds no
    // settlement finalizer (nothing would ever release it from an unfunded job), only its own.
    expect(created.metadata.finalizers).toEqual([FINALIZER]);
    expect(created.metadata.finalizers).not.toContain(SETTLEMENT_FINALIZER);

    const regions = await verdict(patch(name, { spec: { placement: { regions: ['eu-west'] } } }));
    expect(regions).toContain('spec.placement.regions names eu-west, outside the regions namespace policy allows');
    // provider-c is already in the stored deniedProviders, so the CRD refuses first ("both allowed and denied").
    const allowed = await verdict(patch(name, { spec: { placement: { allowedProviders: ['provider-c'] } } }));
    expect(allowed).toMatch(/spec\.placement: a provider cannot be both allowed and denied|spec\.placement\.allowedProviders names provider-c/);
    expect(await verdict(patch(name, { spec: { placement: { deniedProviders: [] } } }))).toBe('created');
    expect((await get(name)).spec.placement?.deniedProviders).toEqual(['provider-c']);
    expect(await verdict(patch(name, { metadata: { annotations: { [APPLIED]: 'forged again' } } }))).toBe('created');
    expect((await get(name)).metadata.annotations?.[APPLIED]).toBe(record);
    outcomes.push(
      {
        manifest: 'update: spec.placement.regions to one outside the policy',
        field: 'spec.placement.regions',
        outcome: `refused by the ${refusedBy(regions)}`,
      },
      { manifest: 'update: a policy-denied provider as allowed', field: 'spec.placement', outcome: `refused by the ${refusedBy(allowed)}` },
      {
        manifest: 'update: spec.placement.deniedProviders emptied',
        field: 'spec.placement.deniedProviders',
        outcome: 'admitted, provider-c put back by the webhook',
      },
      {
        manifest: 'create and update with a forged flotilla.dev/defaults-applied',
        field: `metadata.annotations[${APPLIED}]`,
        outcome: 'overwritten with what the webhook applied',
      },
    );

    // A job whose own ask is narrower keeps it, and a forged record on it is removed.
    const narrow = manifest(
      { placement: { regions: ['us-east'], deniedProviders: ['provider-c'] }, payment: { ...paid, maxPricePerGpuHour: '1' } },
      {},
      { [APPLIED]: 'forged' },
    );
    expect(await verdict(create(narrow.body))).toBe('created');
    const kept = await get(narrow.name);
    expect(kept.spec.placement).toEqual({ regions: ['us-east'], deniedProviders: ['provider-c'] });
    expect(kept.metadata.annotations?.[APPLIED]).toBeUndefined();
  });

  it('requires a digest-pinned image where the namespace asks for one', async () => {
    await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/require-image-digest': 'true' } } } }, mergePatch);
    const tag = await pollUntil(
      'the webhook seeing require-image-digest',
      () => verdict(create(manifest({ image: 'ghcr.io/x/trainer:1' }).body)),
      (m) => m !== 'created',
      10_000,
      200,
    );
    expect(tag).toContain('spec.image must be pinned by digest');
    expect(await verdict(create(manifest({}).body))).toBe('created'); // smallJob's image is @sha256
    await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/require-image-digest': null } } } }, mergePatch);
    outcomes.push({ manifest: 'image by tag where the namespace requires digests', field: 'spec.image', outcome: `refused by the ${refusedBy(tag)}` });
  });

  it('admits a job without payment once the namespace allows unpaid jobs', async () => {
    await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/allow-unpaid-jobs': 'true' } } } }, mergePatch);
    await pollUntil(
      'an unpaid job admitted',
      () => verdict(create(manifest({ payment: undefined }).body)),
      (m) => m === 'created',
      10_000,
      200,
    );
  });
});

describe('webhook down: the operator re-checks what got in', () => {
  /** [what, spec, field the terminal condition must name, reason]. */
  const unjudged: Array<[string, Spec, string, 'InvalidSpec' | 'PolicyViolation']> = [
    [
      'karpenter do-not-disrupt',
      { podAnnotations: { 'karpenter.sh/do-not-disrupt': 'true' } },
      'spec.podAnnotations[karpenter.sh/do-not-disrupt]',
      'InvalidSpec',
    ],
    [
      'Multus network annotation',
      { podAnnotations: { 'k8s.v1.cni.cncf.io/networks': 'host-bridge' } },
      'spec.podAnnotations[k8s.v1.cni.cncf.io/networks]',
      'InvalidSpec',
    ],
    ['pod annotations of 80 kB in all', { podAnnotations: big(20, 4000) }, 'spec.podAnnotations', 'InvalidSpec'],
    ['two inputs nested in each other', { inputs: [input('/d'), { name: 'more', cid: CID_V0, mountPath: '/d/e' }] }, 'spec.inputs[1].mountPath', 'InvalidSpec'],
    ['input CID of the right shape that does not decode', { inputs: [input('/data', `b${'a'.repeat(58)}`)] }, 'spec.inputs[0].cid', 'InvalidSpec'],
    ['deadline 2026-02-29 (not a leap year)', { deadline: '2026-02-29T00:00:00Z' }, 'spec.deadline', 'InvalidSpec'],
    ['maxAmount with 7 decimals (USDC has 6)', { payment: { token: 'USDC', maxAmount: '1.0000001' } }, 'spec.payment.maxAmount', 'InvalidSpec'],
    ["100 CPUs (above this hub's 64)", { resources: { gpus: 1, cpu: 100 } }, 'spec.resources.cpu', 'InvalidSpec'],
    ['region outside the namespace policy', { placement: { regions: ['eu-west'] } }, 'spec.placement.regions', 'PolicyViolation'],
    ['a policy-denied provider as allowed', { placement: { allowedProviders: ['provider-c'] } }, 'spec.placement.allowedProviders', 'PolicyViolation'],
    [
      "price cap above the namespace's",
      { payment: { token: 'USDC', maxAmount: '5', maxPricePerGpuHour: '5' } },
      'spec.payment.maxPricePerGpuHour',
      'PolicyViolation',
    ],
  ];

  it(`ends each of ${unjudged.length} unjudged manifests Failed within 60 s, naming the field; places a job that left the policy out inside it`, async () => {
    await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/allow-unpaid-jobs': 'true' } } } }, mergePatch);
    const started = Date.now();
    const jobs = unjudged.map(([what, spec, field, reason]) => ({ what, field, reason, ...manifest(spec, { [OUTAGE]: 'true' }) }));
    // Leaves out regions and deniedProviders (deniedProviders: [] even): H100 is cheapest at
    // provider-c (us-west, denied by policy), so only the policy keeps it on provider-a.
    const open = manifest({ payment: undefined, gpu: { products: [H100] }, placement: { deniedProviders: [] } }, { [OUTAGE]: 'true' });
    for (const j of [...jobs, open]) expect(await verdict(create(j.body))).toBe('created');
    const stored = await get(open.name);
    expect(stored.spec.placement).toEqual({ deniedProviders: [] }); // no webhook touched it

    const finished = (job: AIJob) => job.status?.conditions?.find((c) => c.type === 'Finished' && c.status === 'True');
    const seen = new Map<string, number>();
    await pollUntil(
      'every unjudged manifest Failed',
      async () => {
        for (const j of jobs) if (!seen.has(j.name) && finished(await get(j.name))) seen.set(j.name, Date.now() - started);
        return seen.size;
      },
      (n) => n === jobs.length,
      60_000,
      500,
    );
    for (const j of jobs) {
      const job = await get(j.name);
      const done = finished(job);
      expect([j.what, job.status?.phase, done?.reason, done?.message.includes(j.field)]).toEqual([j.what, 'Failed', j.reason, true]);
      outcomes.push({
        manifest: `webhook down: ${j.what}`,
        field: j.field,
        outcome: `admitted unjudged; Failed (${j.reason}) after ${((seen.get(j.name) ?? 0) / 1000).toFixed(1)} s`,
      });
    }
    const placed = await pollUntil(
      'the open job placed',
      () => get(open.name),
      (j) => Boolean(j.status?.attempts?.[0]?.provider),
      60_000,
      500,
    );
    expect(placed.status?.attempts?.[0]?.provider).toBe('provider-a');
    outcomes.push({
      manifest: 'webhook down: H100 job with deniedProviders: [] and no regions',
      field: 'spec.placement',
      outcome: 'placed on provider-a (policy: us-east/us-west, provider-c denied), not on the cheaper provider-c',
    });
  });
});
