// A plain local HTTP listener that stands in for a hostile provider's API server: it records every
// request it gets (so a test can prove none reached it), and answers the few paths the operator's
// provider connection uses with whatever the test wants the provider to send. Nothing here fakes
// the hub: the operator under test runs against the federation's real hub.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as yaml from 'js-yaml';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization?: string;
}

export interface HostileBehaviour {
  /** Writes the node list (the whole response). Default: an empty NodeList. */
  nodeList?(res: ServerResponse): void;
  /** Watch events for nodes, written once when a node watch connects (then held open). */
  nodeWatchEvents?(): unknown[];
}

export interface HostileServer {
  readonly url: string;
  readonly requests: readonly SeenRequest[];
  behave(b: HostileBehaviour): void;
  /** An allow-list-clean kubeconfig for this listener, with one change to its parsed document. */
  kubeconfig(change?: (doc: KubeconfigDoc) => void): string;
  close(): Promise<void>;
}

export interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  [key: string]: unknown;
}

const json = (res: ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

export async function startHostileServer(): Promise<HostileServer> {
  const requests: SeenRequest[] = [];
  let behaviour: HostileBehaviour = {};
  const open = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    res.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true';
    if (url.pathname === '/version') return json(res, { major: '1', minor: '36', gitVersion: 'v1.36.0-hostile' });
    if (url.pathname === '/api/v1/nodes' && !watch) {
      if (behaviour.nodeList) return behaviour.nodeList(res);
      return json(res, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    }
    if (watch) {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (url.pathname === '/api/v1/nodes') for (const e of behaviour.nodeWatchEvents?.() ?? []) res.write(`${JSON.stringify(e)}\n`);
      open.add(res);
      res.on('close', () => open.delete(res));
      return undefined;
    }
    if (/^\/api\/v1\/namespaces\/[^/]+\/pods$/.test(url.pathname))
      return json(res, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    if (/^\/api\/v1\/namespaces\/[^/]+$/.test(url.pathname))
      return json(res, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: url.pathname.split('/').pop() } });
    res.writeHead(404, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ kind: 'Status', status: 'Failure', code: 404, message: 'not here' }));
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    behave: (b) => {
      behaviour = b;
    },
    kubeconfig: (change) => {
      const doc: KubeconfigDoc = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'hostile', cluster: { server: url } }],
        users: [{ name: 'hostile', user: { token: 'hostile-token' } }],
        contexts: [{ name: 'hostile', context: { cluster: 'hostile', user: 'hostile' } }],
        'current-context': 'hostile',
      };
      change?.(doc);
      return yaml.dump(doc);
    },
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
