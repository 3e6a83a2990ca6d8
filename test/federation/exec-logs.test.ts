// Pod logs of exec-mode pods (federation/process-logs.ts): what a process prints is what the
// provider's apiserver serves as the pod's log — proxied to the KWOK controller's kubelet server,
// which reads the CRI file the executor writes, named by the pod's KWOK Logs object.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { KWOK_LOGS } from '../../federation/process-logs.ts';
import { podLayout } from '../../federation/process-plan.ts';
import { SIM } from '../../federation/workload.ts';
import { aijobManifest } from '../support/aijob.ts';
import { runFlotilla } from '../support/cli.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, gpuPod, pollUntil, waitForAIJob, waitForPod } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import { applyTenantRoles, freePort, namespaceTenant, waitForAggregation } from '../http/support.ts';

const PROVIDER = 'provider-b';
const { kc, core } = clusterClients(PROVIDER);
const custom = kc.makeApiClient(CustomObjectsApi);
const LOGS = { group: KWOK_LOGS.group, version: KWOK_LOGS.version, plural: KWOK_LOGS.plural };
let ns = '';
const scratch = mkdtempSync(join(tmpdir(), 'flotilla-exec-logs-'));

beforeAll(async () => {
  ns = await createNamespace(core, 't-exec-logs');
});
afterAll(async () => {
  await deleteNamespace(core, ns);
  rmSync(scratch, { recursive: true, force: true });
});

// Three stdout/stderr pairs over ~2 s (100 ms apart within a pair: two pipes have no order of their
// own when written at once), a partial line, then one more line once the test creates `go`.
const TALKER = `
import os, sys, time
go = sys.argv[1]
for i in range(1, 4):
    print(f'out {i}', flush=True)
    time.sleep(0.1)
    sys.stderr.write(f'err {i}\\n'); sys.stderr.flush()
    time.sleep(0.5)
sys.stdout.write('no newline yet, '); sys.stdout.flush()
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
print('after the follow began', flush=True)
`;
const BEFORE_GO = 'out 1\nerr 1\nout 2\nerr 2\nout 3\nerr 3\n';
const ALL = `${BEFORE_GO}no newline yet, after the follow began\n`;

function execPod(name: string, go: string): V1Pod {
  const base = gpuPod(name, { gpus: 0, annotations: { [SIM.exec]: 'true' } });
  const spec: V1PodSpec = {
    ...(base.spec as V1PodSpec),
    initContainers: [{ name: 'setup', image: 'busybox', command: ['sh', '-c', 'echo setting up; echo warned >&2'] }],
    containers: [{ name: 'main', image: 'talker', command: ['python3', '-c', TALKER], args: [go] }],
  };
  return { ...base, spec };
}

const readLog = (name: string, opts: { container?: string; tailLines?: number; limitBytes?: number } = {}) =>
  core.readNamespacedPodLog({ name, namespace: ns, container: opts.container ?? 'main', ...opts });

/**
 * Follows the log over a raw HTTPS request with the kubeconfig's credentials; `text()` is what
 * arrived so far. (client-node's Log leaves the stream it pipes without an error listener, so
 * aborting it throws an uncaught AbortError.)
 */
async function follow(name: string): Promise<{ text: () => string; stop: () => void }> {
  const url = new URL(`${kc.getCurrentCluster()?.server ?? ''}/api/v1/namespaces/${ns}/pods/${name}/log?container=main&follow=true`);
  const opts: RequestOptions = { hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'GET' };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(opts, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`follow: HTTP ${res.statusCode}`));
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('error', () => undefined); // the abort below
      resolve({ text: () => text, stop: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pod logs of an exec-mode pod', () => {
  it("serves the processes' stdout and stderr through the provider's apiserver: whole, tailed, byte-limited, followed, per container", async () => {
    const go = join(scratch, 'go');
    const created = await core.createNamespacedPod({ namespace: ns, body: execPod('talker', go) });
    const layout = podLayout(join(federation().stateDir, 'exec'), PROVIDER, created);

    // The Logs object is there before the processes start; it names each container's CRI file.
    const logs = (await pollUntil(
      'the pod Logs object',
      () => custom.getNamespacedCustomObject({ ...LOGS, namespace: ns, name: 'talker' }).catch(() => undefined),
      (l) => l !== undefined,
      30_000,
    )) as { metadata: { ownerReferences: Array<{ uid: string }> }; spec: { logs: Array<{ containers: string[]; logsFile: string }> } };
    expect(logs.metadata.ownerReferences.map((o) => o.uid)).toEqual([created.metadata?.uid]);
    expect(logs.spec.logs.map((l) => l.containers)).toEqual([['setup'], ['main']]);

    // Exactly what was printed, in order, once the three pairs are out (the partial line is held back).
    await pollUntil(
      'the first six lines in the pod log',
      () => readLog('talker').catch((err: unknown) => String(err)),
      (l) => l === BEFORE_GO,
      30_000,
    );
    expect(await readLog('talker', { tailLines: 2 })).toBe('out 3\nerr 3\n');
    expect(await readLog('talker', { limitBytes: 8 })).toBe('out 1\ner');
    expect(await readLog('talker', { container: 'setup' })).toBe('setting up\nwarned\n');

    // A follow sees what is there, then a line printed only after it began.
    const followed = await follow('talker');
    try {
      await pollUntil(
        'the followed log catching up',
        async () => followed.text(),
        (t) => t === BEFORE_GO,
        15_000,
      );
      writeFileSync(go, '');
      await pollUntil(
        'the line printed after the follow began',
        async () => followed.text(),
        (t) => t === ALL,
        15_000,
      );
    } finally {
      followed.stop();
    }

    const done = await waitForPod(core, ns, 'talker', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed', 30_000);
    expect(done.status?.phase).toBe('Succeeded');
    expect(await readLog('talker')).toBe(ALL);
    // stderr is told apart in the CRI file; the plain log others read keeps the raw bytes.
    const cri = readFileSync(join(layout.dir, 'containers', 'main', 'cri.log'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(cri.map((line) => line.split(' ').slice(1).join(' '))).toEqual([
      'stdout F out 1',
      'stderr F err 1',
      'stdout F out 2',
      'stderr F err 2',
      'stdout F out 3',
      'stderr F err 3',
      'stdout F no newline yet, after the follow began',
    ]);
    expect(cri.every((line) => !Number.isNaN(Date.parse(line.split(' ')[0] ?? '')))).toBe(true);
    expect(readFileSync(layout.log('main'), 'utf8')).toBe(ALL);

    // The pod gone, its Logs object goes too.
    await core.deleteNamespacedPod({ name: 'talker', namespace: ns });
    await pollUntil(
      'the Logs object deleted with its pod',
      () =>
        custom.getNamespacedCustomObject({ ...LOGS, namespace: ns, name: 'talker' }).then(
          () => 'present',
          (err: { code?: number }) => String(err.code),
        ),
      (s) => s === '404',
      30_000,
    );
  }, 90_000);
});

describe('flotilla logs of an AIJob whose pods run as processes', () => {
  it("prints the replica's stdout and stderr, through the operator and the provider's apiserver", async () => {
    const hub = clusterClients('hub');
    const hubCustom = hub.kc.makeApiClient(CustomObjectsApi);
    const hubNs = await createNamespace(hub.core, 't-exec-logs-cli');
    const removeTenantRoles = await applyTenantRoles(federation().hub.kubeconfig);
    const port = await freePort();
    const operator = startOperator(hubNs, { FLOTILLA_HTTP_PORT: String(port) });
    const job = { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: hubNs, name: 'talk' };
    try {
      const editor = await namespaceTenant(hub.kc, hubNs, 'editor', 'edit');
      await waitForAggregation(federation().hub.kubeconfig, editor.username, 'get', hubNs);
      const script = "import sys, time\nprint('job out', flush=True)\ntime.sleep(0.1)\nprint('job err', file=sys.stderr, flush=True)\ntime.sleep(120)";
      const body = aijobManifest({
        name: 'talk',
        namespace: hubNs,
        command: ['python3', '-c', script],
        gpu: { products: ['NVIDIA-L4'] },
        podAnnotations: { [SIM.exec]: 'true' },
        sim: false,
      });
      await hubCustom.createNamespacedCustomObject({ ...job, body });
      await waitForAIJob(hubNs, 'talk', (j) => j?.status?.phase === 'Running' && (j.status.attempts?.at(-1)?.pods?.length ?? 0) === 1, 120_000);
      // Until the leader holds the provider connection and the process printed both lines, the answer differs.
      const printed = await pollUntil(
        'flotilla logs printing both lines',
        () => runFlotilla(['logs', 'talk', '-n', hubNs, '--operator', `http://127.0.0.1:${port}`, '--token', editor.token]),
        (r) => r.code === 0 && r.stdout === 'job out\njob err\n',
        60_000,
        500,
      );
      expect(printed.stderr).toBe('');
    } finally {
      // The job goes while its operator runs, so its pod at the provider goes too (the L4 freed).
      await hubCustom.deleteNamespacedCustomObject(job).catch(() => undefined);
      await waitForAIJob(hubNs, 'talk', (j) => j === undefined, 60_000).catch(() => undefined);
      await operator.stop();
      await deleteNamespace(hub.core, hubNs);
      await removeTenantRoles();
    }
  }, 240_000);
});
