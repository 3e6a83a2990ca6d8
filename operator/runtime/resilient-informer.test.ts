// ResilientInformer's bounded list and cache, against a real HTTP listener speaking the list/watch
// protocol (the provider-side stand-in), with client-node's own typed list and Watch.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1Node } from '@kubernetes/client-node';
import { ResilientInformer, TooManyObjects } from './resilient-informer.ts';
import type { InformerState } from './resilient-informer.ts';

let server: Server;
let kc: KubeConfig;
const requests: string[] = [];
let route: (url: URL, res: ServerResponse, req: IncomingMessage) => void = (_u, res) => res.end();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    route(new URL(req.url ?? '/', 'http://x'), res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kc = new KubeConfig();
  const server0 = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: server0, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  requests.length = 0;
});

const json = (res: ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const named = (name: string) => ({ metadata: { name, resourceVersion: '5' } });

/** Serves `total` nodes in pages of the requested limit (continue = next index), and a quiet watch. */
function pagedNodes(all: unknown[], watchEvents: unknown[] = []): typeof route {
  return (url, res) => {
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const e of watchEvents) res.write(`${JSON.stringify(e)}\n`);
      return; // held open
    }
    const from = Number(url.searchParams.get('continue') ?? '0');
    const limit = Number(url.searchParams.get('limit') ?? all.length);
    const next = from + limit < all.length ? String(from + limit) : undefined;
    json(res, {
      kind: 'NodeList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '7', ...(next ? { continue: next } : {}) },
      items: all.slice(from, from + limit),
    });
  };
}

function informer(opts: { pageSize?: number; maxObjects?: number; malformed?: string[]; states?: InformerState[]; trim?: (n: V1Node) => void }) {
  const core = kc.makeApiClient(CoreV1Api);
  return new ResilientInformer<V1Node>({
    kubeConfig: kc,
    path: '/api/v1/nodes',
    list: (page) => core.listNode({ ...(page.limit !== undefined ? { limit: page.limit } : {}), ...(page.continue ? { _continue: page.continue } : {}) }),
    ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
    ...(opts.maxObjects !== undefined ? { maxObjects: opts.maxObjects } : {}),
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    onMalformed: (_obj, problem) => opts.malformed?.push(problem),
    onState: (s) => opts.states?.push(s),
    ...(opts.trim ? { trim: opts.trim } : {}),
  });
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ResilientInformer bounded input', () => {
  it('lists in pages of pageSize with limit/continue and keeps every object', async () => {
    route = pagedNodes(Array.from({ length: 23 }, (_, i) => named(`n${String(i).padStart(2, '0')}`)));
    const inf = informer({ pageSize: 10 });
    inf.start();
    try {
      await until(() => inf.synced && requests.some((r) => r.includes('watch=true')));
      expect(inf.list()).toHaveLength(23);
      const lists = requests.filter((r) => !r.includes('watch=true'));
      expect(lists).toEqual(['/api/v1/nodes?limit=10', '/api/v1/nodes?continue=10&limit=10', '/api/v1/nodes?continue=20&limit=10']);
      expect(requests.some((r) => r.includes('watch=true') && r.includes('resourceVersion=7'))).toBe(true);
    } finally {
      inf.stop();
    }
  });

  it('fails with TooManyObjects when the list holds more than maxObjects, and caches nothing', async () => {
    route = pagedNodes(Array.from({ length: 50 }, (_, i) => named(`n${i}`)));
    const states: InformerState[] = [];
    const inf = informer({ pageSize: 10, maxObjects: 25, states });
    inf.start();
    try {
      await until(() => states.some((s) => s.error !== undefined));
      expect(states.find((s) => s.error)?.error).toBeInstanceOf(TooManyObjects);
      expect(inf.list()).toHaveLength(0);
      // It stopped reading at the first page past the limit.
      expect(requests.filter((r) => !r.includes('watch=true'))).toHaveLength(3);
    } finally {
      inf.stop();
    }
  });

  it('a provider that hands out continue tokens forever is stopped after the pages maxObjects can fill', async () => {
    route = (url, res) => json(res, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1', continue: 'again' }, items: [] });
    const states: InformerState[] = [];
    const inf = informer({ pageSize: 10, maxObjects: 30, states });
    inf.start();
    try {
      await until(() => states.some((s) => s.error !== undefined));
      expect(states.find((s) => s.error)?.error).toBeInstanceOf(TooManyObjects);
      expect(requests.filter((r) => !r.includes('watch=true')).length).toBe(4);
    } finally {
      inf.stop();
    }
  });

  it('a watch that keeps adding objects past maxObjects fails the informer instead of growing the cache', async () => {
    const adds = Array.from({ length: 40 }, (_, i) => ({ type: 'ADDED', object: named(`w${i}`) }));
    route = pagedNodes([named('a'), named('b')], adds);
    const states: InformerState[] = [];
    const inf = informer({ pageSize: 10, maxObjects: 10, states });
    inf.start();
    try {
      await until(() => states.some((s) => s.error instanceof TooManyObjects));
      expect(inf.list().length).toBeLessThanOrEqual(10);
    } finally {
      inf.stop();
    }
  });

  it('skips objects without a name (list and watch) instead of letting ListWatch throw on them', async () => {
    const malformed: string[] = [];
    route = pagedNodes(
      [named('a'), { metadata: {} }, { kind: 'Node' }],
      [
        { type: 'ADDED', object: { metadata: { name: 7 } } },
        { type: 'ADDED', object: named('b') },
      ],
    );
    const inf = informer({ malformed });
    inf.start();
    try {
      await until(() => inf.list().length === 2);
      expect(
        inf
          .list()
          .map((n) => n.metadata?.name)
          .sort(),
      ).toEqual(['a', 'b']);
      expect(malformed).toEqual(['metadata.name is not a non-empty string', 'it has no metadata', 'metadata.name is not a non-empty string']);
    } finally {
      inf.stop();
    }
  });

  it('caches objects without managedFields and without what trim drops (list and watch)', async () => {
    const heavy = (name: string) => ({
      metadata: { name, resourceVersion: '5', managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }] },
      status: { images: [{ names: ['registry.example/big:1'], sizeBytes: 1 }], nodeInfo: { kubeletVersion: 'v1.36.3' } },
    });
    route = pagedNodes([heavy('a')], [{ type: 'ADDED', object: heavy('b') }]);
    const inf = informer({
      trim: (n) => {
        if (n.status) delete n.status.images;
      },
    });
    inf.start();
    try {
      await until(() => inf.list().length === 2);
      for (const n of inf.list()) {
        expect(n.metadata?.managedFields).toBeUndefined();
        expect(n.status?.images).toBeUndefined();
        expect(n.status?.nodeInfo?.kubeletVersion).toBe('v1.36.3');
      }
    } finally {
      inf.stop();
    }
  });
});
