// Stopping a followed log must not take the operator down: client-node's Log leaves the piped
// response without an error listener, and the abort that stops it errors that stream. A loopback
// HTTP server plays the provider's apiserver with a log that never ends (as KWOK's does).
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { followLog } from './provider-logs.ts';

let server: Server;
let closed: Promise<void>;
const requests: string[] = [];

beforeAll(async () => {
  let onClose: () => void = () => undefined;
  closed = new Promise((resolve) => (onClose = resolve));
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('line 1\n');
    const timer = setInterval(() => res.write('tick\n'), 20);
    req.on('close', () => {
      clearInterval(timer);
      onClose();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  const port = (server.address() as AddressInfo).port;
  kc.loadFromOptions({
    clusters: [{ name: 'p', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'p', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

it('streams the log and stops it without an unhandled error, closing the connection', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString('utf8')));
    const stop = await followLog(kubeConfig(), 'lent', 'job-a1-r0', out, { limitBytes: 1024, tailLines: 5 });
    await new Promise((r) => setTimeout(r, 150));
    stop();
    await closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(uncaught).toEqual([]);
    expect(text.startsWith('line 1\ntick\n')).toBe(true);
    const url = new URL(requests[0] ?? '', 'http://x');
    expect(url.pathname).toBe('/api/v1/namespaces/lent/pods/job-a1-r0/log');
    expect(Object.fromEntries(['container', 'follow', 'limitBytes', 'tailLines'].map((k) => [k, url.searchParams.get(k)]))).toEqual({
      container: 'main',
      follow: 'true',
      limitBytes: '1024',
      tailLines: '5',
    });
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
