// Both Helm charts against the real helm binary and the federation's real API servers: lint,
// render, server-side dry run; the hub chart's CRDs are the generated ones byte for byte.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '../../federation/paths.ts';
import { WEBHOOK_PATHS, WEBHOOK_RULES } from '../../operator/http/webhooks.ts';
import { OPERATOR_NODE_OPTIONS } from '../../operator/runtime/node-options.ts';
import { parseTokens } from '../../operator/payments/chain-config.ts';
import { federation } from '../support/federation.ts';
import { documents, helm, kubectl } from './helm.ts';

const hubChart = join(repoRoot, 'charts', 'flotilla');
const providerChart = join(repoRoot, 'charts', 'flotilla-provider');

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ resources: string[]; verbs: string[]; resourceNames?: string[] }>;
  [k: string]: unknown;
}
const parse = (rendered: string) => documents(rendered).map((d) => yaml.load(d) as Manifest);
const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** Environment variables the operator reads: operator/config.ts, the chain config it calls, the logger. */
function operatorReads(): Set<string> {
  const names = (file: string[]) =>
    [...readFileSync(join(repoRoot, 'operator', ...file), 'utf8').matchAll(/env\.([A-Z_]+)|'((?:FLOTILLA|OTEL)_[A-Z_]+)'/g)].map((m) => m[1] ?? m[2] ?? '');
  return new Set([...names(['config.ts']), ...names(['payments', 'chain-config.ts']), ...names(['log.ts'])]);
}

interface PodSpec {
  containers: Array<{
    env: Array<{ name: string; value?: string }>;
    ports: unknown[];
    volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
    readinessProbe?: unknown;
    livenessProbe?: unknown;
  }>;
  volumes: Array<{ name: string; secret: { secretName: string; items?: unknown[] } }>;
}
interface Webhook {
  name: string;
  clientConfig: { caBundle: string; url?: string; service?: { name: string; namespace: string; port: number; path: string } };
  rules: Array<{ operations: string[]; resources?: string[] }>;
  namespaceSelector?: unknown;
  failurePolicy: string;
  sideEffects: string;
}

describe('charts/flotilla (hub)', () => {
  test('its crds/ are the generated crds/ byte for byte', () => {
    const generated = readdirSync(join(repoRoot, 'crds')).sort();
    expect(readdirSync(join(hubChart, 'crds')).sort()).toEqual(generated);
    for (const file of generated) {
      expect(readFileSync(join(hubChart, 'crds', file)).equals(readFileSync(join(repoRoot, 'crds', file)))).toBe(true);
    }
  });

  test('helm lint passes', async () => {
    await expect(helm(['lint', '--strict', hubChart, '--set', 'providerSecretNames={provider-a-kubeconfig}'])).resolves.toContain('0 chart(s) failed');
  });

  test('values.schema.json rejects a value of the wrong type', async () => {
    await expect(helm(['template', 't', hubChart, '--set', 'operator.workers=many'])).rejects.toThrow(/workers/);
  });

  test('renders the operator with the configured environment', async () => {
    const out = parse(
      await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'operator.rateLimits.hub.qps=7', '--set', 'operator.watchNamespace=team-a']),
    );
    const deploy = out.find((m) => m.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: Array<{ command: string[]; env: Array<{ name: string; value?: string }> }> } } };
    };
    const container = deploy.spec.template.spec.containers[0]!;
    expect(container.command).toEqual(['node', 'operator/main.ts']);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? '<from field>']));
    expect(env).toEqual({
      FLOTILLA_NAMESPACE: '<from field>',
      FLOTILLA_IDENTITY: '<from field>',
      FLOTILLA_HUB_ID: 'hub',
      FLOTILLA_AGENT_IMAGE: 'ghcr.io/flotilla/operator:0.1.0',
      FLOTILLA_WATCH_NAMESPACE: 'team-a',
      FLOTILLA_LEASE_NAME: 'flotilla-operator',
      FLOTILLA_HUB_QPS: '7',
      FLOTILLA_HUB_BURST: '200',
      FLOTILLA_PROVIDER_QPS: '20',
      FLOTILLA_PROVIDER_BURST: '40',
      FLOTILLA_WORKERS: '64',
      FLOTILLA_LEASE_DURATION_MS: '15000',
      FLOTILLA_RENEW_DEADLINE_MS: '10000',
      FLOTILLA_LEASE_RETRY_MS: '2000',
      FLOTILLA_BIND_TIMEOUT_MS: '300000',
      FLOTILLA_PROVIDER_GRACE_MS: '60000',
      FLOTILLA_LOG_LEVEL: 'info',
      // The V8 settings every other launch of the operator uses too (operator/runtime/node-options.ts).
      NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
      FLOTILLA_HTTP_PORT: '8080',
      FLOTILLA_HTTP_HOST: '*',
      FLOTILLA_WEBHOOK_PORT: '9443',
      FLOTILLA_WEBHOOK_CERT_FILE: '/etc/flotilla/webhook-tls/tls.crt',
      FLOTILLA_WEBHOOK_KEY_FILE: '/etc/flotilla/webhook-tls/tls.key',
      FLOTILLA_PIN_TIMEOUT_MS: '300000',
      FLOTILLA_PIN_CONCURRENCY: '4',
      FLOTILLA_PIN_TRIES: '3',
    });
    // NODE_OPTIONS is read by node itself, not by the operator's code.
    expect(Object.keys(env).filter((name) => !operatorReads().has(name) && name !== 'NODE_OPTIONS')).toEqual([]);
  });

  test('IPFS, chain, checkpoint reports, callbacks and telemetry values become env, with Secrets mounted as files', async () => {
    const out = parse(
      await helm([
        'template',
        'hub',
        hubChart,
        '-n',
        'flotilla-system',
        '--set',
        'ipfs.kuboApi=http://kubo.ipfs:5001',
        '--set',
        'ipfs.gateway=http://gw.ipfs:8080',
        '--set',
        'ipfs.receiptKeySecret.name=receipt',
        '--set',
        'chain.rpcUrl=http://anvil:8545',
        '--set',
        'chain.chainId=31337',
        '--set',
        `chain.escrowAddress=${ADDRESS}`,
        '--set-json',
        `chain.tokens={"USDC":{"address":"${ADDRESS}","decimals":6},"DAI":{"address":"${ADDRESS}","decimals":18}}`,
        '--set',
        'chain.settlementKeySecret.name=settlement',
        '--set',
        'chain.settlementKeySecret.key=hex',
        '--set',
        'checkpointReports.url=https://hub.example:8080',
        '--set',
        'checkpointReports.secret.name=reports',
        '--set',
        'callbacks.secret.name=callbacks',
        '--set',
        'telemetry.otlpEndpoint=http://otel:4318',
      ]),
    );
    const pod = (out.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
    const container = pod.containers[0]!;
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      FLOTILLA_KUBO_API: 'http://kubo.ipfs:5001',
      FLOTILLA_IPFS_GATEWAY: 'http://gw.ipfs:8080',
      FLOTILLA_RECEIPT_KEY_FILE: '/etc/flotilla/secrets/receipt-key/key',
      FLOTILLA_CHAIN_RPC: 'http://anvil:8545',
      FLOTILLA_CHAIN_ID: '31337',
      FLOTILLA_ESCROW_ADDRESS: ADDRESS,
      FLOTILLA_TOKENS: `DAI=${ADDRESS}:18,USDC=${ADDRESS}:6`,
      FLOTILLA_CHAIN_CONFIRMATIONS: '1',
      FLOTILLA_SETTLEMENT_KEY_FILE: '/etc/flotilla/secrets/settlement-key/hex',
      FLOTILLA_REPORT_URL: 'https://hub.example:8080',
      FLOTILLA_REPORT_SECRET_FILE: '/etc/flotilla/secrets/report-secret/secret',
      FLOTILLA_REPORT_PORT: '8081',
      FLOTILLA_REPORT_HOST: '*',
      FLOTILLA_REPORT_JOB_QPS: '2',
      FLOTILLA_REPORT_JOB_BURST: '10',
      FLOTILLA_CALLBACK_SECRET_FILE: '/etc/flotilla/secrets/callback-secret/secret',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
    });
    expect(Object.keys(env).filter((name) => !operatorReads().has(name) && name !== 'NODE_OPTIONS')).toEqual([]);
    // The token list is what the operator's own parser accepts.
    expect(parseTokens(env.FLOTILLA_TOKENS!)).toEqual([
      { symbol: 'DAI', address: ADDRESS, decimals: 18 },
      { symbol: 'USDC', address: ADDRESS, decimals: 6 },
    ]);
    // Each file the env names lies in a volume of exactly that Secret's key: no Secret RBAC needed.
    const mounts = new Map(container.volumeMounts.map((m) => [m.mountPath, m.name]));
    const volumes = new Map(pod.volumes.map((v) => [v.name, v.secret]));
    for (const [variable, secretName] of [
      ['FLOTILLA_SETTLEMENT_KEY_FILE', 'settlement'],
      ['FLOTILLA_RECEIPT_KEY_FILE', 'receipt'],
      ['FLOTILLA_REPORT_SECRET_FILE', 'reports'],
      ['FLOTILLA_CALLBACK_SECRET_FILE', 'callbacks'],
    ] as const) {
      const file = env[variable]!;
      const volume = mounts.get(file.slice(0, file.lastIndexOf('/')))!;
      const key = file.slice(file.lastIndexOf('/') + 1);
      expect(volumes.get(volume)).toEqual({ secretName, items: [{ key, path: key }] });
    }
    expect(container.volumeMounts.every((m) => m.readOnly)).toBe(true);
  });

  test.each([
    [
      'a report URL without its secret',
      ['--set', 'checkpointReports.url=https://hub.example:8080'],
      /checkpointReports.url needs checkpointReports.secret.name/,
    ],
    [
      'a chain without tokens',
      ['--set', 'chain.rpcUrl=http://anvil:8545', '--set', `chain.escrowAddress=${ADDRESS}`],
      /chain.rpcUrl needs chain.escrowAddress and at least one/,
    ],
    ['a token symbol the operator would refuse', ['--set-json', `chain.tokens={"usdc":{"address":"${ADDRESS}","decimals":6}}`], /'usdc' does not match/],
    ['a plain-http webhook URL', ['--set', 'webhook.url=http://127.0.0.1:9443'], /webhook\/url/],
    ['a certificate Secret without the CA that signed it', ['--set', 'webhook.tls.existingSecret=my-cert'], /caBundle/],
  ] as const)('refuses %s', async (_what, args, why) => {
    await expect(helm(['template', 'hub', hubChart, ...args])).rejects.toThrow(why);
  });

  test("the generated webhook certificate is signed by the caBundle the API server gets, for the Service's names", async () => {
    const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system']));
    const secret = out.find((m) => m.kind === 'Secret') as unknown as { metadata: { name: string }; type: string; data: Record<string, string> };
    expect(secret).toMatchObject({ metadata: { name: 'flotilla-operator-webhook-tls' }, type: 'kubernetes.io/tls' });
    const config = out.find((m) => m.kind === 'ValidatingWebhookConfiguration') as unknown as { webhooks: Webhook[] };
    const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    const ca = new X509Certificate(pem(secret.data['ca.crt']!));
    const cert = new X509Certificate(pem(secret.data['tls.crt']!));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('flotilla-operator-webhook.flotilla-system.svc')).toBe('flotilla-operator-webhook.flotilla-system.svc');
    expect(createPublicKey(createPrivateKey(pem(secret.data['tls.key']!))).export({ format: 'pem', type: 'spki' })).toBe(
      cert.publicKey.export({ format: 'pem', type: 'spki' }),
    );
    expect(
      config.webhooks.map((w) => [
        w.name,
        w.clientConfig.caBundle === secret.data['ca.crt'],
        w.clientConfig.service,
        w.rules[0]!.operations,
        w.failurePolicy,
        w.sideEffects,
      ]),
    ).toEqual([
      [
        'aijobs.flotilla.dev',
        true,
        { name: 'flotilla-operator-webhook', namespace: 'flotilla-system', port: 443, path: '/validate/aijobs' },
        ['CREATE', 'UPDATE'],
        'Fail',
        'None',
      ],
      [
        'gpuproviders.flotilla.dev',
        true,
        { name: 'flotilla-operator-webhook', namespace: 'flotilla-system', port: 443, path: '/validate/gpuproviders' },
        ['CREATE', 'UPDATE'],
        'Fail',
        'None',
      ],
    ]);
    // The paths are the ones the operator serves.
    expect(config.webhooks.map((w) => w.clientConfig.service?.path)).toEqual([WEBHOOK_PATHS.aijobs, WEBHOOK_PATHS.gpuproviders]);
    // The defaulting hook: same Service and CA, the path the operator serves, run once.
    const mutating = out.find((m) => m.kind === 'MutatingWebhookConfiguration') as unknown as { webhooks: Array<Webhook & { reinvocationPolicy?: string }> };
    expect(
      mutating.webhooks.map((w) => [
        w.name,
        w.clientConfig.caBundle === secret.data['ca.crt'],
        w.clientConfig.service,
        w.rules[0]!.operations,
        w.failurePolicy,
        w.sideEffects,
        w.reinvocationPolicy,
      ]),
    ).toEqual([
      [
        'aijobs.default.flotilla.dev',
        true,
        { name: 'flotilla-operator-webhook', namespace: 'flotilla-system', port: 443, path: WEBHOOK_PATHS.defaultAIJobs },
        ['CREATE', 'UPDATE'],
        'Fail',
        'None',
        'Never',
      ],
    ]);
    // Every hook registered for what the operator says it judges (operator/http/webhooks.ts).
    for (const w of [...config.webhooks, ...mutating.webhooks]) {
      const rule = WEBHOOK_RULES.find((r) => r.path === w.clientConfig.service?.path);
      expect([w.clientConfig.service?.path, w.rules[0]!.operations, w.rules[0]!.resources]).toEqual([rule?.path, rule?.operations, [rule?.resource]]);
    }
    const service = out.find((m) => m.kind === 'Service' && m.metadata.name === 'flotilla-operator-webhook') as unknown as { spec: { ports: unknown[] } };
    expect(service.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
  });

  test('webhook.url: the API server calls that URL, and the generated certificate names its host', async () => {
    const out = parse(
      await helm([
        'template',
        'hub',
        hubChart,
        '-n',
        'flotilla-system',
        '--set',
        'webhook.url=https://127.0.0.1:9555/',
        '--set',
        'operator.watchNamespace=team-a',
      ]),
    );
    const config = out.find((m) => m.kind === 'ValidatingWebhookConfiguration') as unknown as { webhooks: Webhook[] };
    expect(config.webhooks.map((w) => w.clientConfig.url)).toEqual(['https://127.0.0.1:9555/validate/aijobs', 'https://127.0.0.1:9555/validate/gpuproviders']);
    // A namespace-scoped operator judges AIJobs of its namespace only.
    expect(config.webhooks[0]!.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } });
    const secret = out.find((m) => m.kind === 'Secret') as unknown as { data: Record<string, string> };
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  test('webhook.tls.existingSecret: no generated Secret, the given caBundle, the Secret mounted', async () => {
    const out = parse(
      await helm([
        'template',
        'hub',
        hubChart,
        '-n',
        'flotilla-system',
        '--set',
        'webhook.tls.existingSecret=cert-manager-made',
        '--set',
        'webhook.tls.caBundle=Q0E=',
      ]),
    );
    expect(out.filter((m) => m.kind === 'Secret')).toEqual([]);
    const config = out.find((m) => m.kind === 'ValidatingWebhookConfiguration') as unknown as { webhooks: Webhook[] };
    expect(config.webhooks.map((w) => w.clientConfig.caBundle)).toEqual(['Q0E=', 'Q0E=']);
    const pod = (out.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
    expect(pod.volumes.find((v) => v.name === 'webhook-tls')?.secret.secretName).toBe('cert-manager-made');
  });

  test('webhook.enabled=false renders no webhook, no certificate and no webhook port', async () => {
    const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'webhook.enabled=false']));
    // ClusterRoles: the operator's, its unbound secret-reader (secretCopies) and the tenant roles (flotilla-edit, -view, -provider-view).
    expect(out.map((m) => m.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'NetworkPolicy',
      'Pod', // the helm test hook (release.test.ts)
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    // The NetworkPolicy opens no webhook port then (the HTTP port: to the helm test pod and httpFrom).
    const policy = out.find((m) => m.kind === 'NetworkPolicy') as unknown as { spec: { ingress: Array<{ ports: Array<{ port: number }> }> } };
    expect(policy.spec.ingress.flatMap((r) => r.ports.map((p) => p.port))).toEqual([8080, 8080]);
    const env = (out.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec.containers[0]!.env.map(
      (e) => e.name,
    );
    expect(env.filter((n) => n.startsWith('FLOTILLA_WEBHOOK'))).toEqual([]);
  });

  test('the metrics Service selects the operator pods on the HTTP port', async () => {
    const out = parse(
      await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set-json', 'metrics.service.annotations={"prometheus.io/scrape":"true"}']),
    );
    const service = out.find((m) => m.kind === 'Service' && m.metadata.name === 'flotilla-operator') as unknown as {
      metadata: { annotations: unknown };
      spec: { selector: unknown; ports: unknown[] };
    };
    const deployment = out.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { metadata: { labels: unknown }; spec: PodSpec } } };
    expect(service.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true' });
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.ports).toContainEqual({ name: 'http', containerPort: 8080, protocol: 'TCP' });
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
  });

  test('Secrets are readable only by name, and not at all when no name is given', async () => {
    const role = (rendered: string) => parse(rendered).find((m) => m.kind === 'Role')!;
    // With callbacks.secret set the operator generates no callback master: no create, no get of it.
    const withCallbackSecret = ['--set', 'callbacks.secret.name=callbacks'];
    const named = role(
      await helm([
        'template',
        'hub',
        hubChart,
        '-n',
        'flotilla-system',
        ...withCallbackSecret,
        '--set',
        'providerSecretNames={provider-a-kubeconfig,provider-b-kubeconfig}',
      ]),
    );
    expect(named.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['provider-a-kubeconfig', 'provider-b-kubeconfig'] },
    ]);
    const none = role(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', ...withCallbackSecret]));
    expect(none.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    // Without it, the operator may create Secrets in its own namespace and read back only the master.
    const generated = role(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system']));
    expect(generated.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['flotilla-callback-master'] },
    ]);
    const clusterRole = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system'])).find((m) => m.kind === 'ClusterRole')!;
    expect(clusterRole.rules!.flatMap((r) => r.resources)).not.toContain('secrets');
    // Tenants' Secrets for copies to providers (secretCopies): a get-only ClusterRole, bound
    // nowhere by default; in each listed namespace by a RoleBinding; cluster-wide only when asked.
    const bindingsOf = (manifests: Manifest[], role: string) =>
      manifests.filter((m) => (m.roleRef as { name?: string } | undefined)?.name === role).map((m) => `${m.kind} ${m.metadata.namespace ?? ''}`);
    const defaults = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system']));
    const reader = defaults.find((m) => m.kind === 'ClusterRole' && m.metadata.name.endsWith('-secret-reader'))!;
    expect(reader.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]);
    expect(bindingsOf(defaults, reader.metadata.name)).toEqual([]);
    const listed = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'secretCopies.namespaces={team-a,team-b}']));
    expect(bindingsOf(listed, reader.metadata.name)).toEqual(['RoleBinding team-a', 'RoleBinding team-b']);
    const everywhere = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'secretCopies.allNamespaces=true']));
    expect(bindingsOf(everywhere, reader.metadata.name)).toEqual(['ClusterRoleBinding ']);
  });

  test('the rendered manifests, CRDs included, pass a server-side dry run against the hub', async () => {
    const rendered = await helm([
      'template',
      'hub',
      hubChart,
      '-n',
      'flotilla-system',
      '--include-crds',
      '--set',
      'providerSecretNames={provider-a-kubeconfig}',
    ]);
    const out = await kubectl(federation().hub.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], rendered);
    // Everything switched on: the Deployment with every Secret volume, a URL webhook with selectors.
    const everything = await helm([
      'template',
      'hub',
      hubChart,
      '-n',
      'flotilla-system',
      '--set',
      'providerSecretNames={provider-a-kubeconfig}',
      '--set',
      'ipfs.kuboApi=http://kubo.ipfs:5001',
      '--set',
      'ipfs.receiptKeySecret.name=receipt',
      '--set',
      'chain.rpcUrl=http://anvil:8545',
      '--set',
      `chain.escrowAddress=${ADDRESS}`,
      '--set-json',
      `chain.tokens={"USDC":{"address":"${ADDRESS}","decimals":6}}`,
      '--set',
      'chain.settlementKeySecret.name=settlement',
      '--set',
      'checkpointReports.url=https://hub.example:8080',
      '--set',
      'checkpointReports.secret.name=reports',
      '--set',
      'callbacks.secret.name=callbacks',
      '--set',
      'telemetry.otlpEndpoint=http://otel:4318',
      '--set',
      'webhook.url=https://127.0.0.1:9555',
      '--set',
      'operator.watchNamespace=team-a',
      '--set-json',
      'webhook.objectSelector={"matchLabels":{"flotilla.dev/judged":"true"}}',
    ]);
    const all = await kubectl(federation().hub.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], everything);
    expect(all).toMatch(/^deployment.apps\/flotilla-operator .*\(server dry run\)$/m);
    expect(all).toMatch(/^validatingwebhookconfiguration.admissionregistration.k8s.io\/flotilla-system-hub-flotilla-operator .*\(server dry run\)$/m);
    for (const kind of [
      'customresourcedefinition',
      'serviceaccount',
      'clusterrole',
      'clusterrolebinding',
      'role',
      'rolebinding',
      'deployment',
      'service',
      'secret',
      'validatingwebhookconfiguration',
      'networkpolicy',
    ]) {
      expect(out).toMatch(new RegExp(`^${kind}[^ ]* .*\\(server dry run\\)$`, 'm'));
    }
  });
});

describe('charts/flotilla-provider', () => {
  test('helm lint passes', async () => {
    await expect(helm(['lint', '--strict', providerChart, '--set', 'lentGpus=4'])).resolves.toContain('0 chart(s) failed');
  });

  test('values.schema.json refuses a PriorityClass that would not be below default work', async () => {
    await expect(helm(['template', 't', providerChart, '--set', 'priorityClass.value=0'])).rejects.toThrow(/priorityClass/);
  });

  test.each([
    ['a privileged Pod Security level', 'podSecurity.enforce=privileged', /podSecurity\/enforce/],
    ['a host name where a CIDR belongs', 'networkPolicy.ipfs.cidrs={ipfs.example}', /networkPolicy\/ipfs\/cidrs\/0/],
    ['port 0', 'networkPolicy.hubReport.ports={0}', /networkPolicy\/hubReport\/ports\/0/],
    ['a memory default that is no quantity', 'limitRange.default.memory=lots', /limitRange\/default/],
  ])('values.schema.json refuses %s', async (_what, value, where) => {
    await expect(helm(['template', 't', providerChart, '--set', value])).rejects.toThrow(where);
  });

  test('renders exactly the objects a provider lends with', async () => {
    const out = parse(
      await helm([
        'template',
        'lend',
        providerChart,
        '--set',
        'lentGpus=4',
        '--set',
        'provider.name=provider-a',
        '--set',
        'provider.payoutAddress=0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        '--set',
        'provider.prices.NVIDIA-H100-80GB-HBM3=2.40',
      ]),
    );
    expect(out.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ClusterRole/lend-flotilla-provider-nodes',
      'ClusterRoleBinding/lend-flotilla-provider-nodes',
      'ConfigMap/flotilla-fence',
      'ConfigMap/flotilla-provider',
      'LimitRange/flotilla-lent-defaults',
      'Namespace/flotilla-workloads',
      'NetworkPolicy/flotilla-default-deny',
      'NetworkPolicy/flotilla-lent-pods',
      'PriorityClass/flotilla-lent',
      'ResourceQuota/flotilla-lent-gpus',
      'Role/flotilla-hub',
      'RoleBinding/flotilla-hub',
      'Secret/flotilla-hub-token',
      'ServiceAccount/flotilla-hub',
      'ValidatingAdmissionPolicy/lend-flotilla-fence',
      'ValidatingAdmissionPolicy/lend-flotilla-fence-tokens',
      'ValidatingAdmissionPolicyBinding/lend-flotilla-fence',
      'ValidatingAdmissionPolicyBinding/lend-flotilla-fence-tokens',
    ]);
    expect(out.find((m) => m.kind === 'Namespace')).toMatchObject({
      metadata: {
        labels: {
          'pod-security.kubernetes.io/enforce': 'baseline',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    });
    expect(out.find((m) => m.kind === 'PriorityClass')).toMatchObject({ value: -100, preemptionPolicy: 'Never', globalDefault: false });
    expect(out.find((m) => m.kind === 'ResourceQuota')).toMatchObject({ spec: { hard: { 'requests.nvidia.com/gpu': '4' } } });
    expect(out.find((m) => m.kind === 'Secret')).toMatchObject({
      type: 'kubernetes.io/service-account-token',
      metadata: { annotations: { 'kubernetes.io/service-account.name': 'flotilla-hub' } },
    });
    expect(out.find((m) => m.kind === 'ConfigMap')).toMatchObject({
      data: { payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', 'prices.json': '{"NVIDIA-H100-80GB-HBM3":"2.40"}' },
    });
  });

  test('reuses a namespace and a PriorityClass that already exist (create: false), and still scopes everything to them', async () => {
    const out = parse(
      await helm([
        'template',
        'lend',
        providerChart,
        '--set',
        'namespace.name=gpu-lending',
        '--set',
        'namespace.create=false',
        '--set',
        'priorityClass.name=lent-low',
        '--set',
        'priorityClass.create=false',
        '--set',
        'lentGpus=4',
      ]),
    );
    expect(out.filter((m) => m.kind === 'Namespace' || m.kind === 'PriorityClass')).toEqual([]);
    expect(new Set(out.filter((m) => m.metadata.namespace !== undefined).map((m) => m.metadata.namespace))).toEqual(new Set(['gpu-lending']));
    expect(out.find((m) => m.kind === 'ConfigMap')).toMatchObject({ data: { namespace: 'gpu-lending', priorityClassName: 'lent-low' } });
  });

  test('no IPFS or hub CIDRs: no egress rule for them, and no egress rule without a destination (that would allow all)', async () => {
    const out = parse(await helm(['template', 'lend', providerChart]));
    const allow = out.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === 'flotilla-lent-pods') as unknown as {
      spec: { egress: Array<{ to?: unknown[] }> };
    };
    expect(allow.spec.egress).toHaveLength(2);
    expect(allow.spec.egress.every((rule) => Array.isArray(rule.to) && rule.to.length > 0)).toBe(true);
    expect(JSON.stringify(allow.spec.egress)).not.toContain('ipBlock');
  });

  test('extraEgress rules are appended verbatim; NetworkPolicies and LimitRange can be switched off', async () => {
    const extra = { to: [{ ipBlock: { cidr: '169.254.20.10/32' } }], ports: [{ protocol: 'UDP', port: 53 }] };
    const out = parse(await helm(['template', 'lend', providerChart, '--set-json', `networkPolicy.extraEgress=${JSON.stringify([extra])}`]));
    const allow = out.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === 'flotilla-lent-pods') as unknown as { spec: { egress: unknown[] } };
    expect(allow.spec.egress.at(-1)).toEqual(extra);
    const off = parse(await helm(['template', 'lend', providerChart, '--set', 'networkPolicy.enabled=false', '--set', 'limitRange.enabled=false']));
    expect(off.filter((m) => m.kind === 'NetworkPolicy' || m.kind === 'LimitRange')).toEqual([]);
  });

  test('the fence: its ConfigMap in the lent namespace (no data: the hub owns its keys) and two policies bound there, or in every namespace with fence.allNamespaces', async () => {
    type Binding = {
      spec: { policyName: string; paramRef?: { name: string; namespace?: string; parameterNotFoundAction: string }; matchResources: Record<string, unknown> };
    };
    const fence = (out: Manifest[]) =>
      out.filter((m) => m.kind.startsWith('ValidatingAdmissionPolicy') || (m.kind === 'ConfigMap' && m.metadata.name === 'flotilla-fence'));
    const out = fence(parse(await helm(['template', 'lend', providerChart, '--set', 'namespace.name=gpu-lending'])));
    expect(out.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/flotilla-fence',
      'ValidatingAdmissionPolicy/lend-flotilla-fence',
      'ValidatingAdmissionPolicy/lend-flotilla-fence-tokens',
      'ValidatingAdmissionPolicyBinding/lend-flotilla-fence',
      'ValidatingAdmissionPolicyBinding/lend-flotilla-fence-tokens',
    ]);
    expect(out.find((m) => m.kind === 'ConfigMap')).toMatchObject({ metadata: { namespace: 'gpu-lending' } });
    expect((out.find((m) => m.kind === 'ConfigMap') as { data?: unknown }).data).toBeUndefined();
    const bindings = out.filter((m) => m.kind === 'ValidatingAdmissionPolicyBinding') as unknown as Binding[];
    for (const b of bindings) expect(b.spec.matchResources.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'gpu-lending' } });
    // The parameter is the ConfigMap of the object's own namespace; only the hub's objects are looked at.
    const creates = bindings.find((b) => b.spec.policyName === 'lend-flotilla-fence');
    expect(creates?.spec.paramRef).toEqual({ name: 'flotilla-fence', parameterNotFoundAction: 'Allow' });
    expect(JSON.stringify(creates?.spec.matchResources.objectSelector)).toContain('flotilla.dev/job-uid');

    const wide = fence(parse(await helm(['template', 'lend', providerChart, '--set', 'fence.allNamespaces=true'])));
    for (const b of wide.filter((m) => m.kind === 'ValidatingAdmissionPolicyBinding') as unknown as Binding[])
      expect(b.spec.matchResources.namespaceSelector).toEqual({});
    expect(fence(parse(await helm(['template', 'lend', providerChart, '--set', 'fence.enabled=false'])))).toEqual([]);
    await expect(helm(['template', 'lend', providerChart, '--set', 'fence.everywhere=true'])).rejects.toThrow(/fence/);
  });

  test("the NOTES' GPUProvider caps placement at lentGpus (spec.maxGpus), and say how to label a namespace the chart did not create", async () => {
    // NOTES are rendered by install, not template: a client-side dry run against a provider. It still
    // refuses to adopt objects that exist there, hence names the federation does not use.
    const notes = async (...set: string[]) =>
      (
        await helm([
          '--kubeconfig',
          federation().providers[0]!.kubeconfig,
          'install',
          'lend-notes',
          providerChart,
          '-n',
          'default',
          '--dry-run=client',
          '--set',
          'lentGpus=4',
          '--set',
          'provider.name=acme',
          '--set',
          'priorityClass.name=flotilla-lent-notes',
          '--set',
          'namespace.name=flotilla-notes-test',
          ...set.flatMap((v) => ['--set', v]),
        ])
      ).split('NOTES:')[1] ?? '';
    const created = await notes('networkPolicy.ipfs.cidrs={10.0.0.5/32}');
    const gpuProvider = created.slice(created.indexOf('kind: GPUProvider'));
    expect(gpuProvider).toMatch(/^ {4}maxGpus: 4$/m);
    expect(created).not.toContain('kubectl label namespace');
    expect(created).not.toContain('networkPolicy.ipfs.cidrs is empty');
    const existing = await notes('namespace.create=false');
    expect(existing).toContain('kubectl label namespace flotilla-notes-test --overwrite');
    expect(existing).toContain('pod-security.kubernetes.io/enforce=baseline');
    expect(existing).toContain('networkPolicy.ipfs.cidrs is empty');
  });

  test('the rendered manifests pass a server-side dry run against a provider', async () => {
    // Namespaced objects need their namespace to exist for a dry run: the federation's flotilla-workloads.
    const rendered = await helm(['template', 'lend', providerChart, '--set', 'lentGpus=2']);
    const out = await kubectl(federation().providers[0]!.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], rendered);
    for (const kind of [
      'namespace',
      'serviceaccount',
      'secret',
      'role',
      'rolebinding',
      'clusterrole',
      'clusterrolebinding',
      'priorityclass',
      'resourcequota',
      'configmap',
      'networkpolicy',
      'limitrange',
    ]) {
      expect(out).toMatch(new RegExp(`^${kind}[^ ]* .*\\(server dry run\\)$`, 'm'));
    }
  });
});
