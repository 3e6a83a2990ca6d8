// The logs endpoint's bounds over real HTTP (express on loopback), with the provider side an
// in-memory LogProvider: what is passed to the provider, the follow deadline and cap, the shared
// rate limit, a look-alike pod, a standby. Authorization and the real provider's answers are
// test/http/logs.test.ts.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import express from 'express';
import type { AIJob } from '../api/types.ts';
import { DEFAULT_POD_LOG_LIMITS, podLogHandler } from './pod-logs.ts';
import type { LogProvider, LogSource, PodLogLimits } from './pod-logs.ts';

const JOB = {
  apiVersion: 'flotilla.dev/v1alpha1',
  kind: 'AIJob',
  metadata: { name: 'train', namespace: 'team-a', uid: 'u-1' },
  spec: { image: 'x', replicas: 1, resources: { gpus: 1 } },
  status: { phase: 'Running', attempts: [{ index: 0, provider: 'p', pods: [{ replica: 0, name: 'train-a0-r0', uid: 'pod-uid' }] }] },
} as unknown as AIJob;

class MemoryProvider implements LogProvider {
  readonly namespace = 'flotilla-workloads';
  readonly asked: Array<{ pod: string; limitBytes: number; tailLines?: number; follow: boolean }> = [];
  readonly open = new Set<Writable>();
  stopped = 0;
  uid = 'pod-uid';
  fail?: { code: number; body: string };
  /** A provider that ignores limitBytes: sends this many bytes whatever it was asked. */
  flood?: number;
  cachedPod(name: string) {
    return { metadata: { name, uid: this.uid } };
  }
  async read(pod: string, opts: { limitBytes: number; tailLines?: number }) {
    this.asked.push({ pod, ...opts, follow: false });
    if (this.fail) throw this.fail;
    if (this.flood) return 'x'.repeat(this.flood);
    return 'epoch 1 loss 0.5\nepoch 2 loss 0.25\n';
  }
  async follow(pod: string, opts: { limitBytes: number; tailLines?: number }, out: Writable) {
    this.asked.push({ pod, ...opts, follow: true });
    if (this.fail) throw this.fail;
    if (this.flood) for (let i = 0; i < this.flood; i += 1000) out.write('y'.repeat(1000));
    out.write('step 1\n');
    this.open.add(out);
    return () => {
      this.stopped += 1;
      this.open.delete(out);
    };
  }
}

let server: Server;
let base = '';
let provider: MemoryProvider;
let source: { active: boolean; provider: (n: string) => LogProvider | undefined };

async function serve(limits: Partial<PodLogLimits> = {}): Promise<void> {
  provider = new MemoryProvider();
  source = { active: true, provider: (n) => (n === 'p' ? provider : undefined) };
  const handler = podLogHandler({ source: source as LogSource, limits: { ...DEFAULT_POD_LOG_LIMITS, ...limits }, mask: (s) => s });
  const app = express();
  app.get('/logs', (req, res) => void handler(JOB, req, res));
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('podLogHandler', () => {
  it("reads the recorded pod's log with the byte bound, and names pod and bounds in headers", async () => {
    await serve();
    const res = await fetch(`${base}/logs?limitBytes=999999999&tailLines=10`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('epoch 1 loss 0.5\nepoch 2 loss 0.25\n');
    expect(res.headers.get('x-flotilla-log-pod')).toBe('p/train-a0-r0');
    expect(provider.asked).toEqual([{ pod: 'train-a0-r0', limitBytes: 8 * 1024 * 1024, tailLines: 10, follow: false }]);
  });

  it('holds limitBytes itself when the provider ignores it, read or followed, and stops the stream at the cap', async () => {
    await serve();
    provider.flood = 50_000;
    const read = await fetch(`${base}/logs?limitBytes=1000`);
    expect((await read.text()).length).toBe(1000);
    const followed = await fetch(`${base}/logs?limitBytes=1000&follow=true`);
    expect(followed.status).toBe(200);
    expect(await followed.text()).toBe('y'.repeat(1000));
    expect(provider.stopped).toBe(1);
  });

  it('cuts a followed log at the deadline and stops the provider stream', async () => {
    await serve({ maxFollowMs: 300 });
    const started = Date.now();
    const res = await fetch(`${base}/logs?follow=true`);
    expect(res.headers.get('x-flotilla-log-limits')).toBe(`limitBytes=${1024 * 1024}; followSeconds=0`);
    expect(await res.text()).toBe('step 1\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(provider.stopped).toBe(1);
  });

  it('follows at most maxFollows logs at once (429), and frees the slot when the caller goes away', async () => {
    await serve({ maxFollows: 1 });
    const controller = new AbortController();
    const first = await fetch(`${base}/logs?follow=true`, { signal: controller.signal });
    expect(first.status).toBe(200);
    const second = await fetch(`${base}/logs?follow=true`);
    expect(second.status).toBe(429);
    expect(await second.json()).toEqual({ error: '1 logs are being followed already; retry later' });
    controller.abort();
    await first.text().catch(() => undefined);
    for (let i = 0; i < 50 && provider.stopped === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(provider.stopped).toBe(1);
    const third = await fetch(`${base}/logs?follow=true&limitBytes=10`);
    expect(third.status).toBe(200);
  });

  it('refuses past the shared rate limit with Retry-After', async () => {
    await serve({ rate: { qps: 0.1, burst: 2 } });
    expect((await fetch(`${base}/logs`)).status).toBe(200);
    expect((await fetch(`${base}/logs`)).status).toBe(200);
    const third = await fetch(`${base}/logs`);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(provider.asked).toHaveLength(2);
  });

  it('does not read a pod whose uid is not the one the operator created', async () => {
    await serve();
    provider.uid = 'someone-elses';
    const res = await fetch(`${base}/logs`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain('is not the pod the operator created');
    expect(provider.asked).toEqual([]);
  });

  it("503 on a standby; the provider's refusal of a follow keeps its status (nothing was streamed yet)", async () => {
    await serve();
    source.active = false;
    expect((await fetch(`${base}/logs`)).status).toBe(503);
    source.active = true;
    provider.fail = { code: 500, body: '{"message":"dial tcp 127.0.0.1:10250: connect: connection refused"}' };
    const res = await fetch(`${base}/logs?follow=true`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toBe(
      'provider p could not serve the log of replica 0, attempt 0 (pod train-a0-r0 at provider p) (HTTP 500): dial tcp 127.0.0.1:10250: connect: connection refused',
    );
  });
});
