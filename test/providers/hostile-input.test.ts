// A hostile provider's input, against the real operator process on the real hub: a list response
// of 100 MB, a node the operator cannot read, and a 5,000-character disruption message. The big
// and malformed answers come from a local listener standing in for the provider's API server (a
// real kube-apiserver validates what it stores and streams lists in bounded pages, so it cannot be
// made to send either); the disruption message is written into a real pod's status at provider-a
// with the provider's own admin credential, as a hostile provider would.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { freePorts } from '../../federation/daemon.ts';
import { API_VERSION, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { Condition, GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, uniqueName } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { addProvider, clusterRef, cornerJob, createJob, deleteJob, jobPods, newCorner, removeCorner, waitJob, waitProvidersReady } from '../support/corner.ts';
import type { Corner } from '../support/corner.ts';
import { startHostileServer } from './hostile-server.ts';
import type { HostileServer } from './hostile-server.ts';

const SECRET_NAMESPACE = 'flotilla-system';
const MiB = 1024 * 1024;
const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const corner: Corner = newCorner();
const A = `hi-${corner.id}-a`;
const B = `hi-${corner.id}-b`;
let ns = '';
let operator: OperatorProcess;
let httpPort = 0;
const listeners: HostileServer[] = [];
const hostile: string[] = [];

/** A GPUProvider (and its kubeconfig Secret) for a hostile listener. */
async function hostileProvider(name: string, listener: HostileServer, price = '9999'): Promise<void> {
  const secretName = `${name}-kubeconfig`;
  await hub.core.createNamespacedSecret({
    namespace: SECRET_NAMESPACE,
    body: { metadata: { name: secretName, namespace: SECRET_NAMESPACE }, stringData: { kubeconfig: listener.kubeconfig() } },
  });
  const body: GPUProviderManifest = {
    apiVersion: API_VERSION,
    kind: GPUPROVIDER.kind,
    metadata: { name, labels: { 'flotilla.dev/test': corner.id } },
    spec: {
      kubeconfigSecretRef: { name: secretName, namespace: SECRET_NAMESPACE, key: 'kubeconfig' },
      namespace: corner.lentNamespace,
      region: 'test',
      payoutAddress: '0x00000000000000000000000000000000000000bb',
      prices: [{ gpuProduct: corner.product, pricePerGpuHour: price }],
    },
  };
  hostile.push(name);
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body });
}

const readProvider = (name: string) =>
  custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }) as Promise<GPUProvider>;
const condition = (gp: GPUProvider, type: string): Condition | undefined => gp.status?.conditions?.find((c) => c.type === type);

/** Peak and current resident memory of a process, in MiB (Linux /proc). */
function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
}

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-hostile-in');
  await addProvider(corner, { name: A, cluster: clusterRef('provider-a'), price: '1.00' });
  await addProvider(corner, { name: B, cluster: clusterRef('provider-b'), price: '2.00' });
  const [reportPort, http] = (await freePorts(2)) as [number, number];
  httpPort = http;
  operator = startOperator(ns, {
    FLOTILLA_REPORT_PORT: String(reportPort),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${reportPort}`,
    FLOTILLA_REPORT_SECRET: 'hostile-input-test-report-secret',
    FLOTILLA_HTTP_HOST: '127.0.0.1',
    FLOTILLA_HTTP_PORT: String(httpPort),
  });
  await waitProvidersReady(corner, [A, B], operator);
});

afterAll(async () => {
  await operator?.stop();
  for (const name of hostile) {
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }).catch(() => undefined);
    await hub.core.deleteNamespacedSecret({ name: `${name}-kubeconfig`, namespace: SECRET_NAMESPACE }).catch(() => undefined);
  }
  for (const l of listeners) await l.close();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner);
});

/** Streams a well-formed NodeList of about `bytes` bytes (1 KiB nodes), chunked, with backpressure. */
function bigNodeList(bytes: number): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const node = (i: number) => JSON.stringify({ metadata: { name: `big-${i}`, annotations: { pad: 'p'.repeat(900) } }, spec: {}, status: {} });
    let sent = 0;
    let i = 0;
    res.write('{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[');
    const pump = () => {
      while (sent < bytes) {
        let chunk = '';
        while (chunk.length < 256 * 1024) chunk += `${i === 0 ? '' : ','}${node(i++)}`;
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end(']}');
    };
    res.on('error', () => undefined);
    pump();
  };
}

describe('hostile provider input', () => {
  it("a 100 MB list response: the provider is unhealthy with the reason, and the operator's memory stays bounded", async () => {
    const listener = await startHostileServer();
    listeners.push(listener);
    let served = 0;
    const list = bigNodeList(100 * MiB);
    listener.behave({
      nodeList: (res) => {
        served += 1;
        list(res);
      },
    });
    const before = memoryOf(operator.pid);
    const name = `hi-big-${corner.id}`;
    await hostileProvider(name, listener);
    const gp = await pollUntil(
      `${name} Reachable=False ResponseTooLarge`,
      () => readProvider(name),
      (p) => condition(p, 'Reachable')?.reason === 'ResponseTooLarge',
      60_000,
      250,
    );
    expect(condition(gp, 'Reachable')?.message).toMatch(/exceeded the limit of 64 MiB/);
    expect(condition(gp, 'Ready')).toMatchObject({ status: 'False', reason: 'Unreachable' });
    // Let the informer retry (backoff 0.5 s, 1 s, 2 s, …): every try is cut off the same way.
    await pollUntil(
      'three tries of the 100 MB list',
      async () => served,
      (n) => n >= 3,
      30_000,
      250,
    );
    const after = memoryOf(operator.pid);
    process.stdout.write(
      `[hostile-input] 100 MB list served ${served}×: operator VmHWM ${before.hwm.toFixed(0)} → ${after.hwm.toFixed(0)} MiB (RSS now ${after.rss.toFixed(0)} MiB)\n`,
    );
    // The stated bound: the peak grows by less than 256 MiB over the operator's own (a 64 MiB
    // response limit, the chunks held while it is read, and the garbage of the cut-off tries).
    // Read whole, the body alone would be 100 MB as text before its 100,000 nodes were parsed
    // into objects several times that size.
    expect(after.hwm - before.hwm).toBeLessThan(256);
    // The operator goes on with everything else: the real providers stay Ready.
    for (const p of [A, B]) expect(condition(await readProvider(p), 'Ready')?.status).toBe('True');
  });

  it('a malformed node at one provider: it is skipped, counted and named, and jobs still place on the others', async () => {
    const listener = await startHostileServer();
    listeners.push(listener);
    const goodNode = {
      metadata: { name: 'hostile-cpu-node', resourceVersion: '2', labels: { 'kubernetes.io/hostname': 'hostile-cpu-node' } },
      spec: {},
      status: { allocatable: { cpu: '8', memory: '32Gi' }, conditions: [{ type: 'Ready', status: 'True' }] },
    };
    // spec.taints a string: the shape that stopped registry.snapshots() (and placement everywhere).
    const badNode = {
      metadata: { name: 'hostile-bad-node', resourceVersion: '3', labels: { 'nvidia.com/gpu.product': corner.product } },
      spec: { taints: 'NoSchedule' },
      status: { allocatable: { 'nvidia.com/gpu': '8' }, conditions: [{ type: 'Ready', status: 'True' }] },
    };
    listener.behave({
      nodeList: (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '2' }, items: [goodNode] }));
      },
      nodeWatchEvents: () => [{ type: 'ADDED', object: badNode }],
    });
    const name = `hi-bad-${corner.id}`;
    // Cheaper than A: were the bad node readable, it would look like the best place.
    await hostileProvider(name, listener, '0.10');
    const gp = await pollUntil(
      `${name} InventoryValid=False`,
      () => readProvider(name),
      (p) => condition(p, 'InventoryValid')?.status === 'False',
      30_000,
      250,
    );
    expect(condition(gp, 'InventoryValid')).toMatchObject({ reason: 'MalformedObjects' });
    expect(condition(gp, 'InventoryValid')?.message).toMatch(/node hostile-bad-node \(spec\.taints is not a list\)/);

    const job = uniqueName('mal');
    await createJob(cornerJob(corner, ns, job));
    try {
      const placed = await waitJob(ns, job, `Scheduled on ${A}`, (j) => j.status?.attempts?.[0]?.provider !== undefined, 60_000);
      expect(placed.status?.attempts?.[0]?.provider).toBe(A);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`flotilla_provider_malformed_objects_total\\{[^}]*provider="${name}"[^}]*\\} 1`));
    } finally {
      await deleteJob(ns, job);
    }
  });

  it('a 5,000-character DisruptionTarget message: the job recovers normally, the message cut to its field', async () => {
    const job = uniqueName('longmsg');
    await createJob(cornerJob(corner, ns, job));
    try {
      const running = await waitJob(
        ns,
        job,
        `Running on ${A} with a checkpoint`,
        (j) => j.status?.phase === 'Running' && j.status.attempts?.[0]?.provider === A && Boolean(j.status.attempts[0].checkpointCID),
        60_000,
      );
      const [pod] = await jobPods(corner, A, running.metadata.uid ?? '');
      if (!pod) throw new Error('no pod on A');
      const message = `hostile: ${'m'.repeat(5_000 - 9)}`;
      const providerA = clusterClients('provider-a');
      await providerA.core.patchNamespacedPodStatus(
        {
          name: pod.metadata?.name ?? '',
          namespace: corner.lentNamespace,
          body: {
            status: { conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler', message, lastTransitionTime: new Date() }] },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      const done = await waitJob(ns, job, `resumed on ${B}`, (j) => j.status?.attempts?.[1]?.provider === B && j.status.phase === 'Running', 60_000);
      const first = done.status?.attempts?.[0];
      expect(first).toMatchObject({ index: 1, provider: A, reason: 'Preempted: DisruptionTarget' });
      expect(first?.message?.length).toBeLessThanOrEqual(4096);
      expect(first?.message).toMatch(/PreemptionByScheduler: hostile: m+…$/);
      expect(done.status?.conditions?.find((c) => c.type === 'Preempted')).toMatchObject({ status: 'False', reason: 'Recovered' });
    } finally {
      await deleteJob(ns, job);
    }
  });
});
