// The provider chart's own Kubo for the job agent (kubo.enabled), three ways:
//
//   - `helm template`: nothing of it by default; with it, the StatefulSet, the two Services, the init
//     script's API.Authorizations (the agent: /api/v0/add and /api/v0/block/get, nothing else), the
//     token Secret and the agent's Secret in the lent namespace carrying the same token, exactly one
//     new egress rule for lent pods (the Kubo pods, TCP 5001); an existing Secret instead of a
//     generated one; values the schema refuses.
//   - the rendered init script run the way the image's entrypoint runs it (after `ipfs init
//     --profile=server`) against the real Kubo v0.42.0 binary of the federation's tools, then that
//     node's daemon enforcing the credentials the script wrote.
//   - a real `helm install` into provider-a, in a release namespace of its own that enforces Pod Security
//     `restricted`: the API server accepts every object, the StatefulSet controller creates the Kubo pod
//     (so admission accepted its template) and its volume claim, and an upgrade keeps the token.
//     The federation's nodes are KWOK's and run no containers, so the Kubo daemon itself never
//     starts there: what it does with the script is the second part's to show.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as yaml from 'js-yaml';
import { runCommand } from '../../federation/command.ts';
import { freePort } from '../../federation/daemon.ts';
import { loopbackConfig } from '../../federation/kubo.ts';
import { repoRoot, toolPaths } from '../../federation/paths.ts';
import { federation, pollUntil, uniqueName } from '../support/federation.ts';
import { documents, helm, kubectl } from './helm.ts';

const chart = join(repoRoot, 'charts', 'flotilla-provider');
const RELEASE_NS = 'provider-system';
const LENT_NS = 'flotilla-workloads';
const AGENT_PATHS = ['/api/v0/add', '/api/v0/block/get'];
const KUBO_PODS = { 'app.kubernetes.io/name': 'flotilla-provider-kubo', 'app.kubernetes.io/instance': 'lend' };
const admin = () => federation().providers.find((p) => p.name === 'provider-a')!.kubeconfig;

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string; optional?: boolean } };
}
interface StatefulSet extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        automountServiceAccountToken: boolean;
        securityContext: Record<string, unknown>;
        containers: Array<{
          image: string;
          env: EnvVar[];
          ports: unknown[];
          securityContext: Record<string, unknown>;
          resources: unknown;
          volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
        }>;
        volumes: Array<{ name: string; configMap?: { name: string; defaultMode: number }; emptyDir?: unknown }>;
      };
    };
    volumeClaimTemplates: Array<{ metadata: { name: string }; spec: { storageClassName?: string; resources: { requests: { storage: string } } } }>;
  };
}
interface Service extends Manifest {
  spec: { type: string; selector: Record<string, string>; ports: unknown[]; externalTrafficPolicy?: string; loadBalancerSourceRanges?: string[] };
}
interface Secret extends Manifest {
  type: string;
  data: Record<string, string>;
}
interface EgressRule {
  to?: unknown[];
  ports?: unknown[];
}

const render = async (...args: string[]) => documents(await helm(['template', 'lend', chart, '-n', RELEASE_NS, ...args])).map((d) => yaml.load(d) as Manifest);
const withKubo = (...args: string[]) => render('--set', 'kubo.enabled=true', ...args);
const find = <T extends Manifest>(out: Manifest[], kind: string, name: string) => out.find((m) => m.kind === kind && m.metadata.name === name) as T | undefined;
const egressOf = (out: Manifest[]) => find<Manifest & { spec: { egress: EgressRule[] } }>(out, 'NetworkPolicy', 'flotilla-lent-pods')?.spec.egress ?? [];
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const initScript = (out: Manifest[]) => find<Manifest & { data: Record<string, string> }>(out, 'ConfigMap', 'lend-kubo-init')?.data['flotilla.sh'] ?? '';

/** The entry the script puts into API.Authorizations for `user`, its token variable standing for the value. */
function authorization(script: string, user: string): unknown {
  const entry = new RegExp(`"${user}": (\\{"AuthSecret": "bearer:'"\\$(\\w+)"'", "AllowedPaths": \\[[^\\]]*\\]\\})`).exec(script);
  if (!entry) return undefined;
  return JSON.parse(entry[1]!.replace(`'"$${entry[2]}"'`, `$${entry[2]}`));
}

describe('helm template', () => {
  test('by default, nothing of Kubo: no object in the release namespace, no Kubo egress', async () => {
    const out = await render();
    expect(out.filter((m) => m.metadata.namespace === RELEASE_NS)).toEqual([]);
    expect(out.filter((m) => /kubo/i.test(JSON.stringify(m)))).toEqual([]);
    expect(out.filter((m) => m.kind === 'Secret').map((m) => m.metadata.name)).toEqual(['flotilla-hub-token']);
    expect(egressOf(out)).toHaveLength(2);
  });

  test('helm lint passes with kubo.enabled', async () => {
    await expect(helm(['lint', '--strict', chart, '--set', 'kubo.enabled=true'])).resolves.toContain('0 chart(s) failed');
  });

  test('kubo.enabled: a StatefulSet of one non-root Kubo in the release namespace, its repository on a 100Gi claim, configured by the init script', async () => {
    const out = await withKubo();
    expect(
      out
        .filter((m) => m.metadata.namespace === RELEASE_NS)
        .map((m) => `${m.kind}/${m.metadata.name}`)
        .sort(),
    ).toEqual(['ConfigMap/lend-kubo-init', 'Secret/lend-kubo-auth', 'Service/lend-kubo', 'Service/lend-kubo-swarm', 'StatefulSet/lend-kubo']);

    const sts = find<StatefulSet>(out, 'StatefulSet', 'lend-kubo')!;
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.selector.matchLabels).toEqual(KUBO_PODS);
    expect(sts.spec.template.metadata.labels).toMatchObject(KUBO_PODS);
    // Not a lent pod: the lent namespace's policies and the hub's selectors never pick it up.
    expect(Object.keys(sts.spec.template.metadata.labels).filter((k) => k.startsWith('flotilla.dev/'))).toEqual([]);
    const pod = sts.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 100,
      fsGroup: 100,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [kubo] = pod.containers;
    expect(kubo!.image).toBe('docker.io/ipfs/kubo:v0.42.0');
    expect(kubo!.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(kubo!.resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '4Gi' } });
    expect(kubo!.env).toEqual([
      { name: 'IPFS_PROFILE', value: 'server' },
      { name: 'FLOTILLA_KUBO_AGENT_TOKEN', valueFrom: { secretKeyRef: { name: 'lend-kubo-auth', key: 'agent-token' } } },
      { name: 'FLOTILLA_KUBO_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'lend-kubo-auth', key: 'admin-token', optional: true } } },
    ]);
    expect(kubo!.volumeMounts).toEqual([
      { name: 'data', mountPath: '/data/ipfs' },
      { name: 'init', mountPath: '/container-init.d', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    // Executable (0555): the entrypoint runs it with its own shebang rather than sourcing it.
    expect(pod.volumes.find((v) => v.name === 'init')?.configMap).toEqual({ name: 'lend-kubo-init', defaultMode: 0o555 });
    expect(sts.spec.volumeClaimTemplates).toHaveLength(1);
    expect(sts.spec.volumeClaimTemplates[0]!.metadata.name).toBe('data');
    expect(sts.spec.volumeClaimTemplates[0]!.spec.resources.requests.storage).toBe('100Gi');
    expect(sts.spec.volumeClaimTemplates[0]!.spec.storageClassName).toBeUndefined();

    const stored = await withKubo(
      '--set',
      'kubo.storage.size=2Ti',
      '--set',
      'kubo.storage.storageClassName=fast-ssd',
      '--set',
      `kubo.image.digest=sha256:${'a'.repeat(64)}`,
    );
    const custom = find<StatefulSet>(stored, 'StatefulSet', 'lend-kubo')!;
    expect(custom.spec.volumeClaimTemplates[0]!.spec).toMatchObject({ storageClassName: 'fast-ssd', resources: { requests: { storage: '2Ti' } } });
    expect(custom.spec.template.spec.containers[0]!.image).toBe(`docker.io/ipfs/kubo@sha256:${'a'.repeat(64)}`);
  });

  test('the RPC API is a ClusterIP Service on 5001; the swarm a Service of its own on TCP 4001, ClusterIP unless told', async () => {
    const out = await withKubo();
    const api = find<Service>(out, 'Service', 'lend-kubo')!;
    expect(api.spec).toEqual({ type: 'ClusterIP', selector: KUBO_PODS, ports: [{ name: 'api', port: 5001, targetPort: 'api', protocol: 'TCP' }] });
    const swarm = find<Service>(out, 'Service', 'lend-kubo-swarm')!;
    expect(swarm.spec).toEqual({ type: 'ClusterIP', selector: KUBO_PODS, ports: [{ name: 'swarm', port: 4001, targetPort: 'swarm', protocol: 'TCP' }] });

    const exposed = find<Service>(
      await withKubo(
        '--set',
        'kubo.swarm.service.type=LoadBalancer',
        '--set',
        'kubo.swarm.service.loadBalancerSourceRanges={198.51.100.0/24}',
        '--set',
        'kubo.swarm.service.annotations.example\\.com/lb=nlb',
      ),
      'Service',
      'lend-kubo-swarm',
    )!;
    expect(exposed.metadata.annotations).toEqual({ 'example.com/lb': 'nlb' });
    // `server` refuses swarm connections from private addresses: the client's own address must arrive.
    expect(exposed.spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerSourceRanges: ['198.51.100.0/24'] });
    const nodePort = find<Service>(
      await withKubo('--set', 'kubo.swarm.service.type=NodePort', '--set', 'kubo.swarm.service.nodePort=30401'),
      'Service',
      'lend-kubo-swarm',
    )!;
    expect(nodePort.spec).toMatchObject({ type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'swarm', port: 4001, nodePort: 30401 }] });
  });

  test("the init script listens on all interfaces and grants the agent's token /api/v0/add and /api/v0/block/get only", async () => {
    const script = initScript(await withKubo());
    expect(script.split('\n')[0]).toBe('#!/bin/sh');
    expect(script).toMatch(/^ipfs config Addresses\.API \/ip4\/0\.0\.0\.0\/tcp\/5001$/m);
    expect(authorization(script, 'agent')).toEqual({ AuthSecret: 'bearer:$FLOTILLA_KUBO_AGENT_TOKEN', AllowedPaths: AGENT_PATHS });
    expect(authorization(script, 'admin')).toEqual({ AuthSecret: 'bearer:$FLOTILLA_KUBO_ADMIN_TOKEN', AllowedPaths: ['/api/v0'] });
    expect(script.match(/"AllowedPaths"/g)).toHaveLength(2);
    expect(script.trimEnd().split('\n').at(-1)).toBe('ipfs config --json API.Authorizations "{$authorizations}"');
  });

  test("kubo.extraConfig: set with ipfs config --json before the chart's own keys, each word quoted for sh", async () => {
    const script = initScript(await withKubo('--set-json', `kubo.extraConfig={"Datastore.StorageMax":"90GB","Gateway.RootRedirect":"it's"}`));
    const lines = script.split('\n');
    const at = (line: string) => lines.indexOf(line);
    expect(at(`ipfs config --json 'Datastore.StorageMax' '"90GB"'`)).toBeGreaterThan(0);
    expect(at(`ipfs config --json 'Gateway.RootRedirect' '"it'"'"'s"'`)).toBeGreaterThan(0);
    expect(at(`ipfs config --json 'Gateway.RootRedirect' '"it'"'"'s"'`)).toBeLessThan(at('ipfs config Addresses.API /ip4/0.0.0.0/tcp/5001'));
  });

  test("the token Secret and the agent's Secret in the lent namespace carry the same generated token", async () => {
    const out = await withKubo();
    const tokens = find<Secret>(out, 'Secret', 'lend-kubo-auth')!;
    expect(tokens.metadata.namespace).toBe(RELEASE_NS);
    const agentToken = decode(tokens.data['agent-token']!);
    const adminToken = decode(tokens.data['admin-token']!);
    expect(agentToken).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(adminToken).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(adminToken).not.toBe(agentToken);

    const agent = find<Secret>(out, 'Secret', 'flotilla-kubo-agent')!;
    expect(agent.metadata.namespace).toBe(LENT_NS);
    expect(Object.keys(agent.data)).toEqual(['authorization']);
    expect(decode(agent.data.authorization!)).toBe(`Bearer ${agentToken}`);

    const renamed = await withKubo('--set', 'kubo.agentSecretName=kubo-agent', '--set', 'namespace.name=gpu-lending');
    expect(find<Secret>(renamed, 'Secret', 'kubo-agent')?.metadata.namespace).toBe('gpu-lending');
  });

  test('kubo.auth.existingSecret: Kubo reads that Secret, and the chart generates neither Secret', async () => {
    const out = await withKubo('--set', 'kubo.auth.existingSecret=my-kubo-tokens');
    expect(out.filter((m) => m.kind === 'Secret').map((m) => m.metadata.name)).toEqual(['flotilla-hub-token']);
    const env = find<StatefulSet>(out, 'StatefulSet', 'lend-kubo')!.spec.template.spec.containers[0]!.env;
    expect(env.filter((e) => e.valueFrom).map((e) => e.valueFrom!.secretKeyRef)).toEqual([
      { name: 'my-kubo-tokens', key: 'agent-token' },
      { name: 'my-kubo-tokens', key: 'admin-token', optional: true },
    ]);
  });

  test("lent pods' egress gains exactly one rule: the Kubo pods of the release namespace, TCP 5001", async () => {
    const endpoints = [
      '--set',
      'networkPolicy.ipfs.cidrs={10.0.0.5/32}',
      '--set-json',
      `networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"169.254.20.10/32"}}],"ports":[{"protocol":"UDP","port":53}]}]`,
    ];
    const before = egressOf(await render(...endpoints));
    const after = egressOf(await withKubo(...endpoints));
    const kuboRule = {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': RELEASE_NS } }, podSelector: { matchLabels: KUBO_PODS } }],
      ports: [{ protocol: 'TCP', port: 5001 }],
    };
    // Before the verbatim extraEgress, which stays last; every other rule as it was.
    expect(after).toEqual([...before.slice(0, -1), kuboRule, before.at(-1)]);
    // Off with the other policies.
    expect((await withKubo('--set', 'networkPolicy.enabled=false')).filter((m) => m.kind === 'NetworkPolicy')).toEqual([]);
  });

  test.each([
    ['a storage size that is no quantity', 'kubo.storage.size=lots', /kubo\/storage\/size/],
    ['an ExternalName swarm Service', 'kubo.swarm.service.type=ExternalName', /kubo\/swarm\/service\/type/],
    ['a digest that is a tag', 'kubo.image.digest=latest', /kubo\/image\/digest/],
    ['a node port outside the node-port range', 'kubo.swarm.service.nodePort=4001', /kubo\/swarm\/service\/nodePort/],
    ['an agent Secret name that is no DNS name', 'kubo.agentSecretName=Kubo_Agent', /kubo\/agentSecretName/],
    ['a value the chart does not know', 'kubo.replicas=3', /additional properties 'replicas' not allowed/],
  ])('values.schema.json refuses %s', async (_what, value, where) => {
    await expect(render('--set', 'kubo.enabled=true', '--set', value)).rejects.toThrow(where);
  });

  test('refuses to put Kubo into the lent namespace, whose default-deny policy would cut it off', async () => {
    await expect(helm(['template', 'lend', chart, '-n', LENT_NS, '--set', 'kubo.enabled=true'])).rejects.toThrow(
      /install the release outside the lent namespace/,
    );
  });

  test("the NOTES name the GPUProvider's spec.ipfsApi and spec.ipfsApiAuthSecret, and with an existing Secret how to make the agent's", async () => {
    // NOTES are rendered by install, not template: a client-side dry run against a provider. It still
    // refuses to adopt objects that exist there, hence names the federation does not use.
    const lentNs = 'flotilla-kubo-notes-test';
    const notes = async (...set: string[]) =>
      (
        await helm([
          '--kubeconfig',
          admin(),
          'install',
          'lend-notes',
          chart,
          '-n',
          RELEASE_NS,
          '--dry-run=client',
          '--set',
          'kubo.enabled=true',
          '--set',
          `namespace.name=${lentNs}`,
          '--set',
          'priorityClass.name=flotilla-lent-kubo-notes',
          ...set.flatMap((v) => ['--set', v]),
        ])
      ).split('NOTES:')[1] ?? '';
    const generated = await notes();
    const gpuProvider = yaml.load(
      generated
        .slice(generated.indexOf('  apiVersion: flotilla.dev/v1alpha1'), generated.indexOf('\n\n', generated.indexOf('kind: GPUProvider')))
        .replace(/^ {2}/gm, ''),
    ) as { spec: Record<string, unknown> };
    expect(gpuProvider.spec).toMatchObject({ ipfsApi: `http://lend-notes-kubo.${RELEASE_NS}.svc:5001`, ipfsApiAuthSecret: 'flotilla-kubo-agent' });
    expect(generated).toContain('Service lend-notes-kubo-swarm (ClusterIP, TCP 4001) must be reachable');
    expect(generated).not.toContain('create secret generic flotilla-kubo-agent');

    const existing = await notes('kubo.auth.existingSecret=my-kubo-tokens');
    expect(existing).toContain(
      `kubectl -n ${lentNs} create secret generic flotilla-kubo-agent --from-literal=authorization="Bearer $(kubectl -n ${RELEASE_NS} get secret my-kubo-tokens -o jsonpath='{.data.agent-token}' | base64 -d)"`,
    );
  });
});

describe('the init script with the real Kubo v0.42.0', () => {
  let repo = '';
  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'flotilla-kubo-init-'));
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  /** What the image's start_ipfs does on an empty volume: `ipfs init` with IPFS_PROFILE, then /container-init.d/*.sh. */
  async function firstStart(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
    const ipfs = toolPaths().ipfs;
    const path = `${dirname(ipfs)}:${process.env.PATH ?? ''}`;
    await runCommand(ipfs, ['init', '--profile=server', '--empty-repo'], { env: { IPFS_PATH: repo } });
    const script = join(repo, 'flotilla.sh');
    writeFileSync(script, initScript(await withKubo()), { mode: 0o555 });
    return runCommand(script, [], { env: { IPFS_PATH: repo, PATH: path, ...env } }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (err: Error) => ({ code: Number(/failed \(exit (\d+)\)/.exec(err.message)?.[1] ?? -1), stderr: err.message }),
    );
  }
  const config = () => JSON.parse(readFileSync(join(repo, 'config'), 'utf8')) as Record<string, Record<string, unknown>>;

  test('it leaves the config with the API on all interfaces and exactly the two entries; the daemon then enforces them', async () => {
    const [agentToken, adminToken] = ['agentTokenOfThisTest0123', 'adminTokenOfThisTest4567'];
    expect((await firstStart({ FLOTILLA_KUBO_AGENT_TOKEN: agentToken, FLOTILLA_KUBO_ADMIN_TOKEN: adminToken })).code).toBe(0);
    const written = config();
    expect(written.Addresses!.API).toBe('/ip4/0.0.0.0/tcp/5001');
    expect(written.API!.Authorizations).toEqual({
      agent: { AuthSecret: `bearer:${agentToken}`, AllowedPaths: AGENT_PATHS },
      admin: { AuthSecret: `bearer:${adminToken}`, AllowedPaths: ['/api/v0'] },
    });

    // The same node on loopback ports of the test's own (nothing else of its config changed).
    const ports = { api: await freePort(), gateway: await freePort(), swarm: await freePort() };
    writeFileSync(join(repo, 'config'), JSON.stringify({ ...loopbackConfig(written, ports, { id: '', swarmPort: 0 }), Peering: { Peers: [] } }));
    const api = `http://127.0.0.1:${ports.api}/api/v0`;
    const daemon = spawn(toolPaths().ipfs, ['daemon', '--migrate=false'], { env: { ...process.env, IPFS_PATH: repo, GOMAXPROCS: '1' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    const call = (path: string, token?: string, body?: FormData) =>
      fetch(`${api}/${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, ...(body ? { body } : {}) });
    try {
      await pollUntil(
        'the Kubo daemon answering',
        () =>
          call('id', adminToken).then(
            (r) => r.status,
            () => 0,
          ),
        (status) => status === 200,
        60_000,
        250,
      );
      const form = new FormData();
      form.append('file', new Blob(['a checkpoint']), 'ckpt');
      const added = await call('add?cid-version=1', agentToken, form);
      expect(added.status).toBe(200);
      const { Hash } = (await added.json()) as { Hash: string };
      const block = await call(`block/get?arg=${Hash}`, agentToken);
      expect(block.status).toBe(200);
      expect(Buffer.from(await block.arrayBuffer()).includes(Buffer.from('a checkpoint'))).toBe(true);
      // Nothing else for the agent's token, nothing at all without one.
      for (const path of [`pin/rm?arg=${Hash}`, 'config/show', 'shutdown']) expect((await call(path, agentToken)).status).toBe(403);
      expect((await call('id')).status).toBe(403);
    } finally {
      daemon.kill('SIGTERM');
      await exited;
    }
  });

  test.each([
    ['no agent token', {}, /FLOTILLA_KUBO_AGENT_TOKEN must be non-empty/],
    [
      'a token that would break out of the JSON',
      { FLOTILLA_KUBO_AGENT_TOKEN: 'x", "AllowedPaths": ["/api/v0"]}, "y": {"AuthSecret": "z' },
      /FLOTILLA_KUBO_AGENT_TOKEN must be non-empty/,
    ],
    [
      'an admin token with a space',
      { FLOTILLA_KUBO_AGENT_TOKEN: 'fine', FLOTILLA_KUBO_ADMIN_TOKEN: 'not fine' },
      /FLOTILLA_KUBO_ADMIN_TOKEN must be non-empty/,
    ],
  ])('it stops the start (exit 1) on %s, and grants nothing', async (_what, env, why) => {
    const result = await firstStart(env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(why);
    expect(config().API!.Authorizations).toBeFalsy();
  });
});

describe('helm install into provider-a', () => {
  const release = uniqueName('kubo-test');
  const releaseNs = uniqueName('flotilla-kubo-release');
  const lentNs = uniqueName('flotilla-kubo-lent');
  const kuboName = `${release}-kubo`;
  const install = (verb: 'install' | 'upgrade', ...args: string[]) => helm(['--kubeconfig', admin(), verb, release, chart, '-n', releaseNs, ...args]);

  beforeAll(async () => {
    // Pod Security `restricted` enforced where Kubo runs: the pod the StatefulSet controller creates has to pass it.
    await kubectl(
      admin(),
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: releaseNs, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
      }),
    );
    // No --wait: the claim finds no volume on the federation (no provisioner), so the pod stays Pending.
    await install(
      'install',
      '--set',
      'kubo.enabled=true',
      '--set',
      `namespace.name=${lentNs}`,
      '--set',
      `priorityClass.name=${release}-lent`,
      '--set',
      'lentGpus=1',
      '--set',
      'kubo.swarm.service.type=NodePort',
    );
  }, 120_000);

  afterAll(async () => {
    await helm(['--kubeconfig', admin(), 'uninstall', release, '-n', releaseNs, '--wait', '--ignore-not-found']);
    // The claim outlives the release (a StatefulSet's claims are kept); the namespace takes it along.
    await kubectl(admin(), ['delete', 'namespace', releaseNs, '--ignore-not-found', '--wait=false']);
  }, 120_000);

  const get = async <T>(namespace: string, what: string) => JSON.parse(await kubectl(admin(), ['-n', namespace, 'get', what, '-o', 'json'])) as T;

  test('the API server stores every object; the StatefulSet controller creates the Kubo pod (restricted admits it) and its claim', async () => {
    const stored = await kubectl(admin(), [
      '-n',
      releaseNs,
      'get',
      'statefulsets,services,configmaps,secrets',
      '-l',
      'app.kubernetes.io/component=kubo',
      '-o',
      'name',
    ]);
    expect(stored.trim().split('\n').sort()).toEqual([
      `configmap/${kuboName}-init`,
      `secret/${kuboName}-auth`,
      `service/${kuboName}`,
      `service/${kuboName}-swarm`,
      `statefulset.apps/${kuboName}`,
    ]);
    const pod = await pollUntil(
      `pod ${kuboName}-0 created by the StatefulSet controller`,
      () => kubectl(admin(), ['-n', releaseNs, 'get', 'pod', `${kuboName}-0`, '--ignore-not-found', '-o', 'json']),
      (out) => out.trim() !== '',
      60_000,
      500,
    );
    const spec = (JSON.parse(pod) as StatefulSet['spec']['template']).spec;
    expect(spec.containers[0]!.image).toBe('docker.io/ipfs/kubo:v0.42.0');
    const claim = await pollUntil(
      `claim data-${kuboName}-0`,
      () => kubectl(admin(), ['-n', releaseNs, 'get', 'pvc', `data-${kuboName}-0`, '--ignore-not-found', '-o', 'jsonpath={.spec.resources.requests.storage}']),
      (out) => out !== '',
      60_000,
      500,
    );
    expect(claim).toBe('100Gi');
    const swarm = await get<Service>(releaseNs, `service/${kuboName}-swarm`);
    expect(swarm.spec).toMatchObject({ type: 'NodePort', externalTrafficPolicy: 'Local' });
  });

  test("the agent's Secret in the lent namespace carries the stored token; the lent pods' policy reaches the Kubo pods on 5001", async () => {
    const tokens = await get<Secret>(releaseNs, `secret/${kuboName}-auth`);
    const agent = await get<Secret>(lentNs, 'secret/flotilla-kubo-agent');
    expect(decode(agent.data.authorization!)).toBe(`Bearer ${decode(tokens.data['agent-token']!)}`);
    const policy = await get<Manifest & { spec: { egress: EgressRule[] } }>(lentNs, 'networkpolicy/flotilla-lent-pods');
    expect(policy.spec.egress).toContainEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': releaseNs } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'flotilla-provider-kubo', 'app.kubernetes.io/instance': release } },
        },
      ],
      ports: [{ protocol: 'TCP', port: 5001 }],
    });
  });

  test('an upgrade keeps the tokens (lookup), in both Secrets', async () => {
    const before = (await get<Secret>(releaseNs, `secret/${kuboName}-auth`)).data;
    await install('upgrade', '--reuse-values', '--set', 'lentGpus=2');
    expect((await get<Secret>(releaseNs, `secret/${kuboName}-auth`)).data).toEqual(before);
    expect(decode((await get<Secret>(lentNs, 'secret/flotilla-kubo-agent')).data.authorization!)).toBe(`Bearer ${decode(before['agent-token']!)}`);
  });
});
