// The operator's HTTP surface, three listeners:
//
//   FLOTILLA_HTTP_PORT (HTTP, default 8080)            FLOTILLA_WEBHOOK_PORT (HTTPS, default 9443)
//     GET /healthz   the process is up                   POST /validate/aijobs
//     GET /readyz    caches synced; role leader|standby  POST /validate/gpuproviders
//     GET /metrics   Prometheus text (OpenTelemetry)     GET  /healthz
//     GET /api/v1/…  read-only JSON (api.ts) and replicas' logs (pod-logs.ts), bearer token + SubjectAccessReview (auth.ts)
//
//   FLOTILLA_REPORT_PORT (HTTP, default 8081; only with checkpoint reports configured)
//     POST /v1/checkpoints   replicas' live checkpoint reports, rate limited per job
//
// Reports have a listener of their own: provider pods reach it from outside the hub, so a network
// policy can open it (and only it) to them, and a flood there shares no socket queue with the
// probes. Probes and /metrics stay unauthenticated (kubelets and Prometheus scrape them; they
// carry counts, not tenants' data); the API is authenticated. Unset hosts bind loopback only.
//
// The webhook listener starts only when a certificate and key are configured; the files are
// re-read when they change (cert-manager rotates them in place), without a restart.
import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Express, Router } from 'express';
import { apiRouter } from './api.ts';
import type { ApiLogs } from './api.ts';
import type { ApiAuth } from './auth.ts';
import type { HubReader } from './hub-view.ts';
import type { Readiness } from './readiness.ts';
import { webhookRouter } from './webhooks.ts';
import type { WebhookDeps } from './webhooks.ts';

export interface HttpAppOptions {
  readonly readiness: Readiness;
  readonly hub: HubReader;
  /** Who may read the API (auth.ts). */
  readonly auth: ApiAuth;
  readonly watchNamespace?: string;
  /** Where GET /api/v1/jobs/:ns/:name/logs reads replicas' logs (the leader's provider connections). */
  readonly logs?: ApiLogs;
  readonly serveMetrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** The plain-HTTP app: probes, metrics and the read-only API. */
export function createHttpApp(opts: HttpAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const report = opts.readiness.report();
    res.status(report.ready ? 200 : 503).json(report);
  });
  if (opts.serveMetrics) {
    const serve = opts.serveMetrics;
    app.get('/metrics', (req, res) => serve(req, res));
  }
  app.use(apiRouter(opts.hub, opts.auth, opts.watchNamespace, opts.logs));
  app.use(notFound);
  return app;
}

const notFound = (_req: unknown, res: { status(code: number): { json(body: unknown): void } }) => {
  res.status(404).json({ error: 'not found' });
};

/** The report listener's app: the checkpoint report router and nothing else. */
export function createReportApp(reports: Router): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(reports);
  app.use(notFound);
  return app;
}

/** The HTTPS app: admission webhooks (and a /healthz for the webhook Service). */
export function createWebhookApp(deps: WebhookDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '4mb' }));
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.use(webhookRouter(deps));
  return app;
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ListenOptions {
  readonly host?: string;
  readonly port: number;
}

async function listen<S extends Server | HttpsServer>(server: S, opts: ListenOptions): Promise<S> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export const boundPort = (server: Server | HttpsServer) => (server.address() as AddressInfo).port;

export async function startHttpServer(app: Express, opts: ListenOptions): Promise<Server> {
  return listen(createHttpServer(app), opts);
}

export interface WebhookServer {
  readonly server: HttpsServer;
  readonly port: number;
  close(): Promise<void>;
}

/** HTTPS with the configured certificate; reloads it when either file's mtime changes. */
export async function startWebhookServer(app: Express, tls: TlsFiles, opts: ListenOptions & { reloadEveryMs?: number }): Promise<WebhookServer> {
  const read = () => ({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) });
  const stamp = () => `${statSync(tls.certFile).mtimeMs}/${statSync(tls.keyFile).mtimeMs}`;
  let last = stamp();
  const server = await listen(createHttpsServer({ ...read(), minVersion: 'TLSv1.2' }, app), opts);
  const timer = setInterval(() => {
    try {
      const now = stamp();
      if (now === last) return;
      server.setSecureContext(read());
      last = now;
    } catch {
      /* mid-rotation: try again next tick */
    }
  }, opts.reloadEveryMs ?? 30_000);
  timer.unref();
  return {
    server,
    port: boundPort(server),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
