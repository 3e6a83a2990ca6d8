// Callbacks closed to request forgery, on the real operator process and the real hub: jobs whose
// spec.callbackURL points at loopback, the cloud metadata address, the federation's Kubo API, a
// decimal spelling of 127.0.0.1 and a host name that resolves to 127.0.0.1 finish, and their
// callbacks are refused (status.callbacks says Refused, an Event says why) while a loopback
// listener standing in for the internal target receives nothing. An allow-listed first hop that
// answers 302 to that listener is not followed (the Event carries the code, not the body). A
// control job to an allow-listed receiver is delivered, signed with the namespace's key, which the
// tenant reads from the namespace's Secret.
import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { NAMESPACE_KEY_SECRET } from '../../operator/callbacks/dispatcher.ts';
import { verify } from '../../operator/callbacks/signature.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, readAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { smallJob } from '../http/support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const SECRET_BODY = 'internal-detail-that-must-not-leak';
// Any of the federation's larger pools, so the nine one-second jobs run at once rather than in waves.
const GPU_PRODUCTS = ['NVIDIA-L4', 'NVIDIA-H100-80GB-HBM3', 'NVIDIA-A100-SXM4-40GB'];
let ns = '';
let operator: OperatorProcess | undefined;
const servers: Server[] = [];
type Hit = { url: string; headers: IncomingHttpHeaders; body: string };
/** Requests each listener received. */
const hits = { internal: [] as Hit[], redirector: [] as Hit[], receiver: [] as Hit[] };
const ports = { internal: 0, redirector: 0, receiver: 0 };

async function listen(name: keyof typeof hits, answer: (res: ServerResponse) => void): Promise<number> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      hits[name].push({ url: req.url ?? '', headers: req.headers, body });
      answer(res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as { port: number }).port;
}

/** A name other than "localhost" that the system resolver maps to loopback (/etc/hosts), so only the send-time DNS check can catch it. */
async function loopbackName(): Promise<string> {
  const names = readFileSync('/etc/hosts', 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
    .filter(([ip]) => ip?.startsWith('127.'))
    .flatMap(([, ...n]) => n)
    .filter((n) => n && n !== 'localhost' && !n.endsWith('.localhost'));
  for (const n of [...names, hostname()]) {
    if ((await lookup(n, { all: true }).catch(() => [])).some((a) => a.address.startsWith('127.'))) return n;
  }
  throw new Error('no name in /etc/hosts (other than localhost) resolves to 127.0.0.1 on this machine');
}

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-callbacks');
  ports.internal = await listen('internal', (res) => res.writeHead(200).end('internal'));
  ports.redirector = await listen('redirector', (res) => res.writeHead(302, { location: `http://127.0.0.1:${ports.internal}/followed` }).end(SECRET_BODY));
  ports.receiver = await listen('receiver', (res) => res.writeHead(204).end());
  operator = startOperator(ns, {
    FLOTILLA_CALLBACK_SECRET: 'whsec_' + Buffer.from('ssrf-suite-master').toString('base64'),
    // Loopback is refused; two exact ports are let through: the 302 first hop and the control receiver.
    FLOTILLA_CALLBACK_ALLOW_HOSTS: `127.0.0.1:${ports.redirector},127.0.0.1:${ports.receiver}`,
    // The hub's Kubo is one of Flotilla's own endpoints (and pins the jobs' outputs).
    FLOTILLA_KUBO_API: federation().kubo.hub.api,
  });
});

afterAll(async () => {
  await operator?.stop();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  await deleteNamespace(hub.core, ns);
});

const terminal = (j: AIJob | undefined) => j?.status?.callbacks?.some((c) => c.phase === 'Succeeded') === true;
const eventsOf = async (name: string) => (await hub.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` })).items;

describe('callbacks to internal targets are refused; redirects are not followed', () => {
  it('refuses each internal target, follows no redirect, and delivers only to the allow-listed receiver', async () => {
    const kubo = new URL(federation().kubo.hub.api);
    const name = await loopbackName();
    const cases: Array<{ job: string; url: string; outcome: string; why: RegExp }> = [
      { job: 'loopback', url: `http://127.0.0.1:${ports.internal}/hook`, outcome: 'Refused', why: /127\.0\.0\.1 is loopback/ },
      {
        job: 'metadata',
        url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        outcome: 'Refused',
        why: /169\.254\.169\.254 is link-local/,
      },
      { job: 'kubo', url: `http://${kubo.host}/api/v0/shutdown`, outcome: 'Refused', why: /the hub's Kubo API/ },
      { job: 'decimal', url: `http://2130706433:${ports.internal}/hook`, outcome: 'Refused', why: /127\.0\.0\.1 is loopback/ },
      { job: 'localhost', url: `http://localhost:${ports.internal}/hook`, outcome: 'Refused', why: /localhost is loopback/ },
      { job: 'dns-name', url: `http://${name}:${ports.internal}/hook`, outcome: 'Refused', why: new RegExp(`${name} resolves to 127\\.0\\.0\\.1, loopback`) },
      { job: 'credentials', url: `http://user:pw@127.0.0.1:${ports.receiver}/hook`, outcome: 'Refused', why: /must not carry credentials/ },
      { job: 'redirect', url: `http://127.0.0.1:${ports.redirector}/hook`, outcome: 'Failed', why: /HTTP 302 \(a redirect; redirects are not followed\)/ },
      { job: 'control', url: `http://127.0.0.1:${ports.receiver}/hook`, outcome: 'Delivered', why: /delivered to .*HTTP 204/ },
    ];
    for (const c of cases) {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        body: smallJob(c.job, ns, 1, { callbackURL: c.url, gpu: { products: GPU_PRODUCTS } }),
      });
    }
    for (const c of cases) {
      const job = (await pollUntil(`AIJob ${c.job}'s callback decided`, () => readAIJob(ns, c.job), terminal, 90_000, 500)) as AIJob;
      expect({ job: c.job, phase: job.status?.phase, outcome: job.status?.callbacks?.[0]?.outcome }).toEqual({
        job: c.job,
        phase: 'Succeeded',
        outcome: c.outcome,
      });
      const reason = { Refused: 'CallbackRefused', Failed: 'CallbackFailed', Delivered: 'CallbackDelivered' }[c.outcome];
      const event = await pollUntil(
        `the ${reason} Event of ${c.job}`,
        () => eventsOf(c.job),
        (es) => es.some((e) => e.reason === reason),
        15_000,
        250,
      );
      const message = event.find((e) => e.reason === reason)?.message ?? '';
      expect(message).toMatch(c.why);
      expect(message).not.toContain(SECRET_BODY);
    }
    // Nothing reached the internal listener (directly, by name, by decimal IP, or by the redirect);
    // the redirect's first hop was asked exactly once (3xx is final, not retried).
    expect(hits.internal).toEqual([]);
    expect(hits.redirector.map((h) => h.url)).toEqual(['/hook']);
    expect((await readAIJob(ns, 'redirect'))?.status?.callbacks?.[0]?.code).toBe(302);
    // The control: one signed POST, verifiable with the key the tenant reads from its namespace.
    expect(hits.receiver).toHaveLength(1);
    const secret = await hub.core.readNamespacedSecret({ name: NAMESPACE_KEY_SECRET, namespace: ns });
    const key = Buffer.from(secret.data?.key ?? '', 'base64').toString('utf8');
    const got = hits.receiver[0] as Hit;
    expect(verify(key, got.headers as Record<string, string>, got.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(JSON.parse(got.body)).toMatchObject({ type: 'aijob.succeeded', data: { namespace: ns, name: 'control', phase: 'Succeeded' } });
  }, 150_000);
});
