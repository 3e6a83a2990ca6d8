// Starts the operator's listeners from its config (called by main.ts before leader election).
// A port that cannot be bound is logged, not fatal: the process keeps reconciling, and in a cluster
// the failing probes make the problem visible.
import { CoreV1Api } from '@kubernetes/client-node';
import type { Router } from 'express';
import type { Server } from 'node:http';
import type { OperatorConfig } from '../config.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { RateLimitedKubeConfig } from '../runtime/rate-limited-kubeconfig.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { SecretLookup } from './admission-policy.ts';
import type { ApiAuth } from './auth.ts';
import type { LogSource } from './pod-logs.ts';
import type { HubView } from './hub-view.ts';
import type { Readiness } from './readiness.ts';
import { boundPort, closeServer, createHttpApp, createReportApp, createWebhookApp, startHttpServer, startWebhookServer } from './server.ts';
import type { WebhookServer } from './server.ts';
import type { WebhookDeps } from './webhooks.ts';

export interface OperatorHttpOptions {
  readonly config: OperatorConfig;
  readonly hub: RateLimitedKubeConfig;
  readonly view: HubView;
  readonly readiness: Readiness;
  readonly telemetry: Telemetry;
  readonly log: Logger;
  /** Who may read the API: TokenReview + SubjectAccessReview through `auth`'s own client (main.ts). */
  readonly auth: ApiAuth;
  /** Where the API reads replicas' logs: the provider connections, once this replica leads (main.ts). */
  readonly logs?: LogSource;
  /** The checkpoint report router, served on the report listener (config.reportListener). */
  readonly reports?: Router;
  /** What the AIJob webhooks judge with: runnability limits, the namespace cache, payments, the operator's name to claim new jobs for (main.ts). */
  readonly admission?: Pick<WebhookDeps, 'limits' | 'paymentsRequired' | 'callbackUrlProblem' | 'namespaceAnnotations' | 'operatorUsername' | 'claimAs'>;
}

export interface OperatorHttp {
  readonly httpPort?: number;
  readonly webhookPort?: number;
  readonly reportPort?: number;
  close(): Promise<void>;
}

/** Payment tokens the webhook accepts: every configured symbol and address; undefined when payments are off. */
export function acceptedTokens(config: OperatorConfig): string[] | undefined {
  const tokens = config.chain?.tokens;
  return tokens ? tokens.flatMap((t) => [t.symbol, t.address]) : undefined;
}

export function secretLookup(core: CoreV1Api): (namespace: string, name: string) => Promise<SecretLookup> {
  return async (namespace, name) => {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      return { found: true, keys: Object.keys(secret.data ?? {}).sort() };
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return { found: false, why: 'NotFound' };
      if (code === 403) return { found: false, why: 'Forbidden' };
      return { found: false, why: 'Error', detail: errorMessage(err) };
    }
  };
}

export async function startOperatorHttp(opts: OperatorHttpOptions): Promise<OperatorHttp> {
  const { config, log } = opts;
  let http: Server | undefined;
  let webhook: WebhookServer | undefined;
  let reports: Server | undefined;
  if (config.http.port !== undefined) {
    const app = createHttpApp({
      readiness: opts.readiness,
      hub: opts.view,
      auth: opts.auth,
      serveMetrics: opts.telemetry.serveMetrics,
      ...(opts.logs ? { logs: { source: opts.logs } } : {}),
      ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}),
    });
    try {
      http = await startHttpServer(app, { port: config.http.port, ...(config.http.host ? { host: config.http.host } : {}) });
      log('info', 'serving probes, metrics and API', { port: boundPort(http), host: config.http.host ?? '*' });
    } catch (err) {
      log('error', 'could not serve probes, metrics and API', { port: config.http.port, error: errorMessage(err) });
    }
  }
  const listener = config.reportListener;
  if (opts.reports && listener.port !== undefined) {
    try {
      reports = await startHttpServer(createReportApp(opts.reports), { port: listener.port, ...(listener.host ? { host: listener.host } : {}) });
      log('info', 'serving checkpoint reports', { port: boundPort(reports), host: listener.host ?? '*', perJob: listener.perJob });
    } catch (err) {
      log('error', 'could not serve checkpoint reports', { port: listener.port, error: errorMessage(err) });
      opts.readiness.require('reports', () => `the checkpoint report listener could not start: ${errorMessage(err)}`);
    }
  }
  const { certFile, keyFile } = config.webhook;
  if (certFile && keyFile) {
    const tokens = acceptedTokens(config);
    const core = opts.hub.makeApiClient(CoreV1Api);
    const app = createWebhookApp({
      hub: opts.view,
      ...(tokens ? { paymentTokens: tokens } : {}),
      operatorNamespace: config.namespace,
      lookupSecret: secretLookup(core),
      namespaceAnnotations: async (name) => (await core.readNamespace({ name })).metadata?.annotations ?? {},
      ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}),
      ...opts.admission,
      log,
    });
    try {
      webhook = await startWebhookServer(
        app,
        { certFile, keyFile },
        { port: config.webhook.port, ...(config.webhook.host ? { host: config.webhook.host } : {}) },
      );
      log('info', 'serving admission webhooks', { port: webhook.port, certFile, paymentTokens: tokens ?? 'any' });
    } catch (err) {
      log('error', 'could not serve admission webhooks', { port: config.webhook.port, error: errorMessage(err) });
      opts.readiness.require('webhooks', () => `the webhook server could not start: ${errorMessage(err)}`);
    }
  }
  return {
    ...(http ? { httpPort: boundPort(http) } : {}),
    ...(webhook ? { webhookPort: webhook.port } : {}),
    ...(reports ? { reportPort: boundPort(reports) } : {}),
    close: async () => {
      await Promise.all([http ? closeServer(http) : undefined, reports ? closeServer(reports) : undefined, webhook?.close()]);
    },
  };
}
