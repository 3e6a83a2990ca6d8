// The hub's real apiserver calls the operator's validating webhook over TLS (a CA made here), for
// what CEL cannot judge: an AIJob paying in a token the operator does not settle in, a GPUProvider
// whose kubeconfig Secret does not exist; and its defaulting webhook, for what a CRD default cannot
// express: defaults taken from the namespace's annotations, and the finalizer and the claim naming the
// operator, written at creation. With the operator down, creates fail closed.
// The ValidatingWebhookConfiguration is scoped to this suite's namespace (AIJobs) and to objects
// labelled for this suite (GPUProviders), and deleted in afterAll whatever happened.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { MANAGED_BY_ANNOTATION } from '../../operator/core/lifecycle/claim.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { WEBHOOK_RULES, ruleOf } from '../../operator/http/webhooks.ts';
import { applyTenantRoles, createAIJob, freePorts, getJson, makeTestPki, namespaceTenant, smallJob, waitForAggregation } from './support.ts';

/** The operator's own list of what each hook matches (the chart registers the same). */
const rule = (name: string) => {
  const found = WEBHOOK_RULES.find((w) => w.name === name);
  if (!found) throw new Error(`no webhook ${name} in WEBHOOK_RULES`);
  return found;
};

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const admission = hub.kc.makeApiClient(AdmissionregistrationV1Api);
let ns = '';
let dir = '';
let webhookName = '';
/** The name the suite's operator runs under (FLOTILLA_OPERATOR_NAME): what its webhook claims jobs for. */
let operatorName = '';
let operator: OperatorProcess | undefined;
let httpPort = 0;
const providerName = () => `${ns}-provider`;

const createJob = (name: string, token: string) => createAIJob(custom, smallJob(name, ns, 1, { payment: { token, maxAmount: '5' } }));

/** The apiserver's Status message of a failed create. */
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => 'created',
    (err: { code?: number; body?: unknown }) =>
      `${err.code}: ${typeof err.body === 'string' ? (JSON.parse(err.body) as { message?: string }).message : String(err)}`,
  );

beforeAll(async () => {
  const ep = federation();
  ns = await createNamespace(hub.core, 't-webhook');
  webhookName = `flotilla-test-${ns}`;
  operatorName = `${ns}/webhook-suite-operator`;
  dir = mkdtempSync(join(tmpdir(), 'flotilla-webhook-'));
  const pki = await makeTestPki();
  writeFileSync(join(dir, 'tls.crt'), pki.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.keyPem);
  const [http, webhookPort] = (await freePorts(2)) as [number, number];
  httpPort = http;
  const chain = ep.chain;
  if (!chain) throw new Error('the federation has no chain (escrow and test stablecoin)');
  operator = startOperator(ns, {
    FLOTILLA_OPERATOR_NAME: operatorName,
    FLOTILLA_HTTP_HOST: '127.0.0.1',
    FLOTILLA_HTTP_PORT: String(httpPort),
    FLOTILLA_WEBHOOK_HOST: '127.0.0.1',
    FLOTILLA_WEBHOOK_PORT: String(webhookPort),
    FLOTILLA_WEBHOOK_CERT_FILE: join(dir, 'tls.crt'),
    FLOTILLA_WEBHOOK_KEY_FILE: join(dir, 'tls.key'),
    FLOTILLA_CHAIN_RPC: ep.anvil.rpcUrl,
    FLOTILLA_ESCROW_ADDRESS: chain.escrow,
    FLOTILLA_TOKENS: chain.tokens.map((t) => `${t.symbol}=${t.address}:${t.decimals}`).join(','),
  });
  await pollUntil(
    'the operator ready',
    () => getJson(`http://127.0.0.1:${httpPort}/readyz`).catch(() => ({ status: 0 })),
    (r) => r.status === 200,
    60_000,
  );
  const caBundle = Buffer.from(pki.caPem).toString('base64');
  const common = { sideEffects: 'None', failurePolicy: 'Fail', admissionReviewVersions: ['v1'], timeoutSeconds: 10, matchPolicy: 'Equivalent' };
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: webhookName },
      webhooks: [
        {
          ...common,
          name: 'aijobs.validate.flotilla.dev',
          clientConfig: { url: `https://127.0.0.1:${webhookPort}/validate/aijobs`, caBundle },
          rules: [ruleOf(rule('aijobs.validate.flotilla.dev'))],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        },
        {
          ...common,
          name: 'gpuproviders.validate.flotilla.dev',
          clientConfig: { url: `https://127.0.0.1:${webhookPort}/validate/gpuproviders`, caBundle },
          rules: [ruleOf(rule('gpuproviders.validate.flotilla.dev'))],
          objectSelector: { matchLabels: { 'flotilla.dev/webhook-test': ns } },
        },
      ],
    },
  });
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: webhookName },
      webhooks: [
        {
          ...common,
          name: 'aijobs.default.flotilla.dev',
          reinvocationPolicy: 'Never',
          clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate/aijobs`, caBundle },
          rules: [ruleOf(rule('aijobs.default.flotilla.dev'))],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        },
      ],
    },
  });
});

afterAll(async () => {
  await admission.deleteValidatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
  await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
  await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: providerName() }).catch(() => undefined);
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('admission webhooks on the real hub apiserver', () => {
  it('rejects an AIJob paying in a token the operator does not settle in, saying which it accepts', async () => {
    const token = federation().chain?.tokens[0];
    // CEL accepts any symbol; only the operator knows which it settles in. The apiserver may take a
    // moment to see the new configuration, so wait until the webhook answers.
    const message = await pollUntil(
      'the webhook judging AIJob creates',
      () => rejection(createJob(`dai-${Date.now().toString(36)}`, 'DAI')),
      (m) => m !== 'created',
      30_000,
      500,
    );
    expect(message).toContain('422');
    expect(message).toContain('admission webhook "aijobs.validate.flotilla.dev" denied the request');
    expect(message).toContain(`spec.payment.token "DAI" is not a token this operator settles in (accepted: USDC, ${token?.address})`);
  });

  it('admits an AIJob paying in a configured token (by symbol and by address)', async () => {
    const token = federation().chain?.tokens[0];
    expect(await rejection(createJob('usdc-symbol', 'USDC'))).toBe('created');
    expect(await rejection(createJob('usdc-address', (token?.address ?? '').toLowerCase()))).toBe('created');
  });

  it("writes its namespace's policy into the spec, keeps a narrower ask, refuses a wider one, and records what it filled", async () => {
    await hub.core.patchNamespace(
      {
        name: ns,
        body: { metadata: { annotations: { 'flotilla.dev/default-regions': 'eu-west,eu-north', 'flotilla.dev/default-max-price-per-gpu-hour': '3.20' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    type Stored = {
      spec: { placement?: { regions?: string[] }; payment?: { maxPricePerGpuHour?: string } };
      metadata: { annotations?: Record<string, string> };
    };
    const defaulted = await pollUntil(
      'the defaulting webhook filling spec.placement.regions',
      async () => {
        const name = `defaults-${Date.now().toString(36)}`;
        await createJob(name, 'USDC');
        return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name })) as Stored;
      },
      (j) => j.spec.placement?.regions !== undefined,
      30_000,
      500,
    );
    expect(defaulted.spec.placement?.regions).toEqual(['eu-west', 'eu-north']);
    expect(defaulted.spec.payment?.maxPricePerGpuHour).toBe('3.20');
    expect(defaulted.metadata.annotations?.['flotilla.dev/defaults-applied']).toBe(
      `spec.placement.regions, spec.payment.maxPricePerGpuHour (from namespace ${ns})`,
    );
    const own = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: AIJOB.plural,
      namespace: ns,
      body: smallJob('own-regions', ns, 1, { payment: { token: 'USDC', maxAmount: '5', maxPricePerGpuHour: '1' }, placement: { regions: ['eu-north'] } }),
    })) as Stored;
    expect(own.spec.placement?.regions).toEqual(['eu-north']);
    expect(own.spec.payment?.maxPricePerGpuHour).toBe('1');
    expect(own.metadata.annotations?.['flotilla.dev/defaults-applied']).toBeUndefined();
    // The policy is a ceiling: asking for a region outside it, or a higher price, is refused.
    const wider = await rejection(
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        body: smallJob('wider', ns, 1, { payment: { token: 'USDC', maxAmount: '5', maxPricePerGpuHour: '9' }, placement: { regions: ['us-east'] } }),
      }),
    );
    expect(wider).toContain(
      'spec.placement.regions names us-east, outside the regions namespace policy allows (flotilla.dev/default-regions: eu-west,eu-north)',
    );
    expect(wider).toContain("spec.payment.maxPricePerGpuHour 9 is above the namespace's cap of 3.20");
  });

  it("lets only the operator remove Flotilla's finalizers: a tenant can delete a funded job but not strip flotilla.dev/settlement", async () => {
    const removeRoles = await applyTenantRoles(federation().hub.kubeconfig);
    try {
      const tenant = await namespaceTenant(hub.kc, ns, 'finalizer-tenant', 'edit');
      await waitForAggregation(federation().hub.kubeconfig, tenant.username, 'patch', ns);
      const asTenant = tenant.kc.makeApiClient(CustomObjectsApi);
      const name = 'settlement-held';
      // The test's own credential is the one the operator runs with here: it plays the operator.
      const body = smallJob(name, ns, 1, { payment: { token: 'USDC', maxAmount: '5' } });
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        body: { ...body, metadata: { ...body.metadata, finalizers: ['flotilla.dev/settlement'] } },
      });
      const strip = () =>
        asTenant.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name, body: { metadata: { finalizers: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      const refused = await rejection(strip());
      expect(refused).toContain('422');
      // The operator may already have added its own finalizer too; it is named alongside if so.
      expect(refused).toMatch(/metadata\.finalizers: .*"flotilla\.dev\/settlement".* may be removed only by the Flotilla operator/);
      // Deleting is the tenant's right; the finalizer then holds the job until its providers are paid.
      await asTenant.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name });
      const held = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name })) as {
        metadata: { deletionTimestamp?: string; finalizers?: string[] };
      };
      expect(held.metadata.deletionTimestamp).toBeDefined();
      expect(held.metadata.finalizers).toContain('flotilla.dev/settlement');
      expect(await rejection(strip())).toContain('may be removed only by the Flotilla operator');
      // The operator's identity may (its settlement controller may also have done so already).
      await custom
        .patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name, body: { metadata: { finalizers: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .catch((err: { code?: number }) => {
          if (err.code !== 404) throw err;
        });
      await pollUntil(
        'the job gone once the operator removed the finalizer',
        () =>
          custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }).then(
            () => 'present',
            () => 'gone',
          ),
        (s) => s === 'gone',
        30_000,
      );
    } finally {
      await removeRoles();
    }
  });

  it('the operator that runs a job, once claimed, can be neither changed nor removed', async () => {
    const name = 'claimed';
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: AIJOB.plural,
      namespace: ns,
      body: smallJob(name, ns, 1, { payment: { token: 'USDC', maxAmount: '5' } }),
    });
    const claimed = await pollUntil(
      "the job claimed by this suite's operator",
      () =>
        custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }) as Promise<{
          metadata: { annotations?: Record<string, string> };
        }>,
      (j) => j.metadata.annotations?.[MANAGED_BY_ANNOTATION] !== undefined,
      30_000,
      200,
    );
    const owner = claimed.metadata.annotations?.[MANAGED_BY_ANNOTATION] ?? '';
    const annotate = (value: string | null) =>
      custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name, body: { metadata: { annotations: { [MANAGED_BY_ANNOTATION]: value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    for (const value of ['flotilla-system/another-operator', null]) {
      const refused = await rejection(annotate(value));
      expect(refused).toContain('422');
      expect(refused).toContain(`metadata.annotations["${MANAGED_BY_ANNOTATION}"]: the job is run by operator ${JSON.stringify(owner)}`);
    }
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name });
  });

  it('the defaulting webhook claims a new job for this operator, with its finalizer, at creation; a tenant-named operator is kept', async () => {
    type Stored = { metadata: { finalizers?: string[]; annotations?: Record<string, string> }; status?: { phase?: string } };
    const create = (name: string, annotations?: Record<string, string>) =>
      createAIJob<Stored>(custom, smallJob(name, ns, 1, { payment: { token: 'USDC', maxAmount: '5' } }), annotations);
    const get = (name: string) =>
      custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }) as Promise<Stored>;
    // The create's answer is the object as admitted: what the webhooks made of it, before any
    // controller saw it.
    const names = ['claimed-at-create', 'claimed-empty', 'tenant-named'];
    try {
      const plain = await create('claimed-at-create');
      expect(plain.metadata.finalizers).toEqual(['flotilla.dev/remote-pods']);
      expect(plain.metadata.annotations?.[MANAGED_BY_ANNOTATION]).toBe(operatorName);
      const empty = await create('claimed-empty', { [MANAGED_BY_ANNOTATION]: '' });
      expect(empty.metadata.annotations?.[MANAGED_BY_ANNOTATION]).toBe(operatorName);
      expect(empty.metadata.finalizers).toEqual(['flotilla.dev/remote-pods']);
      // A tenant's choice is never changed; no finalizer for a job this operator does not run.
      const other = await create('tenant-named', { [MANAGED_BY_ANNOTATION]: 'team-a/own-operator', team: 'a' });
      expect(other.metadata.annotations?.[MANAGED_BY_ANNOTATION]).toBe('team-a/own-operator');
      expect(other.metadata.annotations?.team).toBe('a');
      expect(other.metadata.finalizers).toBeUndefined();
      // The controller found nothing to claim: its first write was the job's status, not a claim.
      await pollUntil(
        'the controller writing the first status',
        () => get('claimed-at-create'),
        (j) => j.status?.phase !== undefined,
        30_000,
        200,
      );
      const claimedLines = (operator?.logs() ?? '')
        .split('\n')
        .filter((l) => l.includes('"msg":"job claimed"') && l.includes(`"job":"${ns}/claimed-at-create"`));
      expect(claimedLines).toEqual([]);
      expect((await get('tenant-named')).metadata.annotations?.[MANAGED_BY_ANNOTATION]).toBe('team-a/own-operator');
    } finally {
      for (const name of names)
        await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }).catch(() => undefined);
      // The operator takes its finalizer off once the job's pods are gone.
      for (const name of names)
        await pollUntil(
          `${name} gone`,
          () =>
            get(name).then(
              () => 'present',
              () => 'gone',
            ),
          (s) => s === 'gone',
          60_000,
        );
    }
  });

  it('once a job is funded, its deadline may only move earlier', async () => {
    const name = 'funded-deadline';
    const body = smallJob(name, ns, 1, { payment: { token: 'USDC', maxAmount: '5' } });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: AIJOB.plural,
      namespace: ns,
      body: { ...body, spec: { ...body.spec, deadline: '2030-01-01T00:00:00Z' } },
    });
    const patch = (b: object, status = false) =>
      (status ? custom.patchNamespacedCustomObjectStatus.bind(custom) : custom.patchNamespacedCustomObject.bind(custom))(
        { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name, body: b },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    // The test plays the funding controller: Funded=True as the deposit check would write it. The
    // real one (no deposit here) may write it back to False between two tries, so retry the pair.
    let later = Date.parse('2030-01-01T00:00:00Z');
    const refused = await pollUntil(
      'the later deadline of a funded job refused',
      async () => {
        await patch(
          { status: { conditions: [{ type: 'Funded', status: 'True', reason: 'Deposited', message: 'test', lastTransitionTime: new Date().toISOString() }] } },
          true,
        );
        later += 86_400_000;
        return rejection(patch({ spec: { deadline: new Date(later).toISOString().replace('.000Z', 'Z') } }));
      },
      (m) => m !== 'created',
      30_000,
      200,
    );
    expect(refused).toContain('422');
    expect(refused).toContain('spec.deadline: the job is funded, so its deadline may only move earlier');
    await patch(
      { status: { conditions: [{ type: 'Funded', status: 'True', reason: 'Deposited', message: 'test', lastTransitionTime: new Date().toISOString() }] } },
      true,
    );
    expect(await rejection(patch({ spec: { deadline: '2029-06-01T00:00:00Z' } }))).toBe('created');
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name });
    // The forged Funded=True may have made the funding controller hold the job with its settlement
    // finalizer (there is no deposit to settle): the test, which played that controller and runs as
    // the operator's identity, lets it go.
    await patch({ metadata: { finalizers: null } }).catch((err: { code?: number }) => {
      if (err.code !== 404) throw err;
    });
    await pollUntil(
      'the funded-deadline job gone',
      () =>
        custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }).then(
          () => 'present',
          () => 'gone',
        ),
      (s) => s === 'gone',
      30_000,
    );
  });

  it('rejects a GPUProvider whose kubeconfig Secret does not exist', async () => {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: GPUPROVIDER.kind,
      metadata: { name: providerName(), labels: { 'flotilla.dev/webhook-test': ns } },
      spec: {
        kubeconfigSecretRef: { name: `${ns}-missing`, namespace: 'flotilla-system' },
        payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        prices: [{ gpuProduct: 'NVIDIA-L4', pricePerGpuHour: '1' }],
      },
    };
    const message = await rejection(custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body }));
    expect(message).toContain('admission webhook "gpuproviders.validate.flotilla.dev" denied the request');
    expect(message).toContain(`spec.kubeconfigSecretRef: Secret flotilla-system/${ns}-missing does not exist`);
  });

  it('fails closed: with the operator down, AIJob creates are refused', async () => {
    await operator?.stop();
    operator = undefined;
    const message = await rejection(createJob('while-down', 'USDC'));
    // The defaulting hook is called first (mutating before validating); either refuses.
    expect(message).toMatch(/failed calling webhook "aijobs\.(default|validate)\.flotilla\.dev"/);
    expect(message).toMatch(/connection refused|connect: /);
    const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns })) as {
      items: Array<{ metadata: { name: string } }>;
    };
    expect(
      list.items
        .map((j) => j.metadata.name)
        .filter((n) => !n.startsWith('defaults-'))
        .sort(),
    ).toEqual(['own-regions', 'usdc-address', 'usdc-symbol']);
  });
});
