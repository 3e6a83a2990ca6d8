// A job container floods the checkpoint-report endpoint with its own valid token: 1,000 requests/s
// for 30 s (the figure; a bounded, paced loop over loopback). The report listener refuses
// what is over the job's allowance with 429 before any hub request, the leader renews its Lease
// through a client nothing else shares, and another job's reports still land.
import { request, Agent } from 'node:http';
import { CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { podEnv } from '../../federation/workload.ts';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, readAIJob, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { freePorts, getJson, smallJob } from './support.ts';

const PER_SECOND = 1000;
const SECONDS = 30;
const LEASE_DURATION_MS = 4000; // test/support/operator.ts's FLOTILLA_LEASE_DURATION_MS
const PER_JOB = { qps: 2, burst: 10 }; // the operator's defaults (operator/config.ts)

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const leases = hub.kc.makeApiClient(CoordinationV1Api);
let ns = '';
let operator: OperatorProcess;
let httpPort = 0;

const longJob = (name: string) =>
  smallJob(name, ns, 3600, { podAnnotations: { 'sim.flotilla.dev/run-seconds': '3600', 'sim.flotilla.dev/checkpoint-seconds': '1' } });
const lastCheckpoint = (j: AIJob | undefined) => j?.status?.attempts?.at(-1)?.checkpointCID;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-flood');
  const [reportPort, http] = (await freePorts(2)) as [number, number];
  httpPort = http;
  operator = startOperator(ns, {
    FLOTILLA_HTTP_PORT: String(httpPort),
    FLOTILLA_REPORT_PORT: String(reportPort),
    FLOTILLA_REPORT_URL: `http://127.0.0.1:${reportPort}`,
    FLOTILLA_REPORT_SECRET: `flood-test-${ns}-secret`,
    FLOTILLA_IDENTITY: `${ns}-leader`,
  });
  for (const name of ['flooder', 'steady'])
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, body: longJob(name) });
  for (const name of ['flooder', 'steady']) await waitForAIJob(ns, name, (j) => lastCheckpoint(j) !== undefined, 90_000);
}, 150_000);

afterAll(async () => {
  for (const name of ['flooder', 'steady']) {
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name }).catch(() => undefined);
  }
  await pollUntil(
    'the jobs gone',
    async () => Promise.all(['flooder', 'steady'].map((n) => readAIJob(ns, n))),
    (js) => js.every((j) => j === undefined),
    60_000,
    250,
  ).catch(() => undefined);
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

/** Sends `perSecond` × `seconds` POSTs, paced, at most 256 open at once (a request due while 256 are open is skipped and counted). */
async function flood(url: string, token: string, body: string): Promise<{ statuses: Map<number, number>; sent: number; skipped: number; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const statuses = new Map<number, number>();
  const total = PER_SECOND * SECONDS;
  let due = 0;
  let sent = 0;
  let skipped = 0;
  let open = 0;
  const started = performance.now();
  const answered = (code: number) => {
    statuses.set(code, (statuses.get(code) ?? 0) + 1);
    open -= 1;
  };
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const target = Math.min(total, Math.floor(((performance.now() - started) / 1000) * PER_SECOND));
      for (; due < target; due++) {
        if (open >= 256) {
          skipped += 1;
          continue;
        }
        open += 1;
        sent += 1;
        const send = (retry: boolean) => {
          const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
            res.resume();
            res.on('end', () => answered(res.statusCode ?? 0));
          });
          // A kept-alive socket the server closed as it was reused: send again once (Node's advice).
          req.on('error', (err: NodeJS.ErrnoException) => (retry && req.reusedSocket && err.code === 'ECONNRESET' ? send(false) : answered(-1)));
          req.end(body);
        };
        send(true);
      }
      if (due >= total && open === 0) {
        clearInterval(tick);
        resolve();
      }
    }, 10);
  });
  agent.destroy();
  return { statuses, sent, skipped, seconds: (performance.now() - started) / 1000 };
}

test(`a container sending ${PER_SECOND} reports/s for ${SECONDS} s: refused past its allowance, the Lease kept, other jobs' reports land`, async () => {
  const flooder = (await readAIJob(ns, 'flooder')) as AIJob;
  const provider = flooder.status?.placement?.provider ?? '';
  const pods = await clusterClients(provider).core.listNamespacedPod({
    namespace: 'flotilla-workloads',
    labelSelector: `flotilla.dev/job-uid=${flooder.metadata.uid}`,
  });
  const pod = pods.items.find((p) => podEnv(p, 'FLOTILLA_REPLICA') === '0') ?? pods.items[0];
  // What the container has: its report URL and token, from its own environment.
  const url = podEnv(pod!, 'FLOTILLA_REPORT_URL') ?? '';
  const token = podEnv(pod!, 'FLOTILLA_REPORT_TOKEN') ?? '';
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/checkpoints$/);
  const body = JSON.stringify({
    namespace: ns,
    name: 'flooder',
    uid: flooder.metadata.uid,
    attempt: Number(podEnv(pod!, 'FLOTILLA_ATTEMPT')),
    cid: lastCheckpoint(flooder),
    time: new Date().toISOString(),
  });

  const leaseName = `flotilla-operator-${ns}`;
  const leaseSamples: Array<{ at: number; lease: V1Lease }> = [];
  const steadyCheckpoints = new Set<string>();
  const before = lastCheckpoint(await readAIJob(ns, 'steady'));
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [lease, steady] = await Promise.all([leases.readNamespacedLease({ name: leaseName, namespace: 'flotilla-system' }), readAIJob(ns, 'steady')]);
      leaseSamples.push({ at: Date.now(), lease });
      const cid = lastCheckpoint(steady);
      if (cid && cid !== before) steadyCheckpoints.add(cid);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const result = await flood(url, token, body);
  sampling = false;
  await sampler;

  const count = (code: number) => result.statuses.get(code) ?? 0;
  const passed = result.sent - count(429);
  console.log(
    `flood: ${result.sent} sent in ${result.seconds.toFixed(1)} s (${Math.round(result.sent / result.seconds)}/s), ${result.skipped} skipped at 256 open; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}; ${leaseSamples.length} lease samples; ${steadyCheckpoints.size} new checkpoints of the other job`,
  );
  // The flood happened, and all but the job's allowance was refused before reaching the hub.
  expect(result.sent).toBeGreaterThan((PER_SECOND * SECONDS) / 2);
  expect(count(-1)).toBe(0);
  expect(passed).toBeLessThanOrEqual(PER_JOB.burst + PER_JOB.qps * Math.ceil(result.seconds + 1));
  expect(count(429)).toBe(result.sent - passed);

  // The leader kept its Lease throughout: same holder, no transition, renewed within its duration at every sample.
  expect(leaseSamples.length).toBeGreaterThanOrEqual(10);
  const transitions = leaseSamples[0]?.lease.spec?.leaseTransitions;
  for (const { at, lease } of leaseSamples) {
    expect(lease.spec?.holderIdentity).toBe(`${ns}-leader`);
    expect(lease.spec?.leaseTransitions).toBe(transitions);
    expect(at - new Date(lease.spec?.renewTime ?? 0).getTime()).toBeLessThan(LEASE_DURATION_MS);
  }
  // And the renewals moved on all along (every 500 ms in these tests: many more than this).
  const renewals = new Set(leaseSamples.map((s) => new Date(s.lease.spec?.renewTime ?? 0).getTime()));
  expect(renewals.size).toBeGreaterThanOrEqual(10);
  expect(await getJson(`http://127.0.0.1:${httpPort}/readyz`)).toMatchObject({ status: 200, body: { role: 'leader' } });
  expect(operator.logs()).not.toContain('lost leadership');

  // The other job's reports kept landing during the flood.
  expect(steadyCheckpoints.size).toBeGreaterThanOrEqual(3);
}, 120_000);
