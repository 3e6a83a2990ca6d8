// What makes the charts releasable: kubeVersion, the image reference (tag from appVersion, or a
// digest), the `helm test` hook and the NetworkPolicy rule that lets it in, a README per chart, and
// the documented CRD upgrade step run against the federation's real kube-apiserver. The hook's
// script itself runs here too (same Node line as the image) against a local /readyz.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';
import { documents, helm, kubectl } from './helm.ts';

const hubChart = join(repoRoot, 'charts', 'flotilla');
const providerChart = join(repoRoot, 'charts', 'flotilla-provider');
const DIGEST = `sha256:${'c'.repeat(64)}`;

interface Doc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}
const parse = (rendered: string) => documents(rendered).map((d) => yaml.load(d) as Doc);
const chartYaml = (chart: string) => yaml.load(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string; kubeVersion: string };

/** The image of the operator Deployment and of the test pod. */
async function images(args: readonly string[]): Promise<{ operator: string; test: string | undefined }> {
  const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', ...args]));
  const deploy = out.find((d) => d.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
  const pod = out.find((d) => d.kind === 'Pod') as unknown as { spec: { containers: Array<{ image: string }> } } | undefined;
  return { operator: deploy.spec.template.spec.containers[0]!.image, test: pod?.spec.containers[0]!.image };
}

describe('kubeVersion', () => {
  // The provider chart's fence needs ValidatingAdmissionPolicy with parameters (GA in 1.30).
  test.each([
    [hubChart, '1.29', 'v1.28.9'],
    [providerChart, '1.30', 'v1.29.9'],
  ])('%s installs on %s and newer only', async (chart, floor, below) => {
    expect(chartYaml(chart).kubeVersion).toBe(`>=${floor}.0-0`);
    await expect(helm(['template', 't', chart, '--kube-version', below])).rejects.toThrow(new RegExp(`chart requires kubeVersion: >=${floor}.0-0`));
    await expect(helm(['template', 't', chart, '--kube-version', `v${floor}.0`])).resolves.toMatch(/kind:/);
    // A vendor build's pre-release suffix (EKS, GKE) passes too.
    await expect(helm(['template', 't', chart, '--kube-version', 'v1.30.4-eks-a737599'])).resolves.toMatch(/kind:/);
  });
});

describe('the operator image', () => {
  test("the tag defaults to the chart's appVersion", async () => {
    const tag = chartYaml(hubChart).appVersion;
    expect(await images([])).toEqual({ operator: `ghcr.io/flotilla/operator:${tag}`, test: `ghcr.io/flotilla/operator:${tag}` });
  });

  test('an explicit tag wins over appVersion', async () => {
    expect((await images(['--set', 'image.tag=9.9.9'])).operator).toBe('ghcr.io/flotilla/operator:9.9.9');
  });

  test('a digest pins operator and test pod by content, tag or not', async () => {
    const pinned = `ghcr.io/flotilla/operator@${DIGEST}`;
    expect(await images(['--set', `image.digest=${DIGEST}`])).toEqual({ operator: pinned, test: pinned });
    expect(await images(['--set', `image.digest=${DIGEST}`, '--set', 'image.tag=9.9.9', '--set', 'image.repository=registry.example/f'])).toEqual({
      operator: `registry.example/f@${DIGEST}`,
      test: `registry.example/f@${DIGEST}`,
    });
  });

  test('values.schema.json refuses a digest that is not sha256:<64 hex>', async () => {
    await expect(helm(['template', 't', hubChart, '--set', 'image.digest=sha256:abc'])).rejects.toThrow(/image\/digest/);
    await expect(helm(['template', 't', hubChart, '--set', `image.digest=${DIGEST.slice('sha256:'.length)}`])).rejects.toThrow(/image\/digest/);
  });
});

interface TestPod {
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { restartPolicy: string; containers: Array<{ command: string[] }> };
}
interface Policy {
  spec: { ingress: Array<{ ports: Array<{ port: number }>; from?: Array<{ podSelector?: { matchLabels: Record<string, string> } }> }> };
}

function runNode(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

describe('helm test', () => {
  test('a test-hook pod asks /readyz of Service flotilla-operator, and the NetworkPolicy admits exactly it on the HTTP port', async () => {
    const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', 'networkPolicy.httpFrom=null']));
    const pod = out.find((d) => d.kind === 'Pod') as unknown as TestPod;
    expect(pod.metadata).toMatchObject({
      name: 'hub-flotilla-test-readiness',
      annotations: { 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' },
    });
    expect(pod.spec.restartPolicy).toBe('Never');
    const command = pod.spec.containers[0]!.command;
    expect(command.at(-1)).toBe('http://flotilla-operator.flotilla-system.svc:8080/readyz');
    const service = out.find((d) => d.kind === 'Service' && d.metadata.name === 'flotilla-operator') as unknown as { spec: { ports: Array<{ port: number }> } };
    expect(service.spec.ports.map((p) => p.port)).toContain(8080);
    // With httpFrom cleared, the only way in to the HTTP port is the test pod's rule.
    const policy = out.find((d) => d.kind === 'NetworkPolicy') as unknown as Policy;
    const http = policy.spec.ingress.filter((r) => r.ports.some((p) => p.port === 8080));
    expect(http).toEqual([{ ports: [{ port: 8080, protocol: 'TCP' }], from: [{ podSelector: { matchLabels: expect.any(Object) } }] }]);
    const selector = http[0]!.from![0]!.podSelector!.matchLabels;
    expect(Object.entries(selector).every(([k, v]) => pod.metadata.labels[k] === v)).toBe(true);
  });

  test("the hook's script exits 0 on a ready operator and 1 on an unready or absent one", async () => {
    const pod = parse(
      await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--show-only', 'templates/tests/readiness.yaml']),
    )[0] as unknown as TestPod;
    const [node, ...args] = pod.spec.containers[0]!.command;
    expect(node).toBe('node');
    let ready = true;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' && ready ? 200 : 503;
      res.end(ready ? 'ok' : 'hub view: not synced');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
    try {
      const withUrl = (u: string) => [...args.slice(0, -1), u];
      await expect(runNode(withUrl(url))).resolves.toEqual({ code: 0, out: `${url}: 200\n` });
      ready = false;
      await expect(runNode(withUrl(url))).resolves.toEqual({ code: 1, out: `${url}: 503\n` });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = await runNode([...args.slice(0, -1), 'http://127.0.0.1:1/readyz']);
    expect(refused.code).toBe(1);
  });

  test.each([
    ['tests.enabled=false', 'tests.enabled=false'],
    ['without the Service it would ask through', 'metrics.service.enabled=false'],
  ])('no hook and no NetworkPolicy rule for it %s', async (_what, set) => {
    const out = parse(await helm(['template', 'hub', hubChart, '-n', 'flotilla-system', '--set', set]));
    expect(out.filter((d) => d.kind === 'Pod')).toEqual([]);
    expect(JSON.stringify(out.find((d) => d.kind === 'NetworkPolicy'))).not.toContain('helm-test');
  });

  test('the hook pod passes a server-side dry run on the hub', async () => {
    const rendered = await helm(['template', 'hub', hubChart, '-n', 'default', '--show-only', 'templates/tests/readiness.yaml']);
    await expect(kubectl(federation().hub.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], rendered)).resolves.toMatch(
      /^pod\/hub-flotilla-test-readiness created \(server dry run\)$/m,
    );
  });
});

describe('README and the CRD upgrade path', () => {
  test.each([hubChart, providerChart])('%s has a README naming its kubeVersion floor', (chart) => {
    const readme = join(chart, 'README.md');
    expect(existsSync(readme)).toBe(true);
    expect(readFileSync(readme, 'utf8')).toContain(`kubeVersion: "${chartYaml(chart).kubeVersion}"`);
  });

  test("the README's CRD upgrade command applies the chart's CRDs to a real kube-apiserver", async () => {
    const readme = readFileSync(join(hubChart, 'README.md'), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('kubectl apply --server-side'));
    expect(line).toBe('kubectl apply --server-side --force-conflicts -f charts/flotilla/crds/');
    const args = line!.split(' ').slice(1);
    const out = await kubectl(federation().hub.kubeconfig, [...args.slice(0, -1), join(repoRoot, args.at(-1)!), '--dry-run=server']);
    expect(out).toMatch(/^customresourcedefinition.apiextensions.k8s.io\/aijobs.flotilla.dev serverside-applied \(server dry run\)$/m);
    expect(out).toMatch(/^customresourcedefinition.apiextensions.k8s.io\/gpuproviders.flotilla.dev serverside-applied \(server dry run\)$/m);
  });
});
