// Operator configuration from the environment (the Helm chart sets these; `make run` sets the
// kubeconfig). Every client rate limit is explicit here: the hub's and each provider's.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RateLimit } from './runtime/token-bucket.ts';
import type { LeaseTiming } from './runtime/leader-election.ts';
import { flag, port, positiveInt, positiveNumber } from './runtime/env.ts';
import { loadChainConfig } from './payments/chain-config.ts';
import { parseRange } from './providers/address-policy.ts';
import type { NamedRange } from './providers/address-policy.ts';
import type { ChainConfig } from './payments/chain-config.ts';
import { parseAllowList, parseDenyList } from './callbacks/url-policy.ts';
import type { AllowEntry } from './callbacks/url-policy.ts';
import { loadVerificationConfig } from './verification/config.ts';
import type { VerificationConfig } from './verification/config.ts';

export interface OperatorConfig {
  /** Hub kubeconfig file; absent: in-cluster service account. */
  readonly kubeconfig?: string;
  /** Identifies this hub on every remote pod (label flotilla.dev/hub). */
  readonly hubId: string;
  /** Reconcile AIJobs in this namespace only (namespace-scoped operator); absent: all namespaces. */
  readonly watchNamespace?: string;
  /** Namespace of the leader-election Lease (and of provider kubeconfig Secrets by convention). */
  readonly namespace: string;
  readonly leaseName: string;
  /**
   * The name jobs are claimed under (annotation flotilla.dev/managed-by, core/lifecycle/claim.ts):
   * FLOTILLA_OPERATOR_NAME, by default the Lease's namespace/name — shared by an operator's replicas,
   * different for every other operator on the hub.
   */
  readonly owner: string;
  readonly identity: string;
  readonly lease: LeaseTiming;
  readonly hubRateLimit: RateLimit;
  readonly providerRateLimit: RateLimit;
  /** Events to the hub go through a client of their own with this limit, never ahead of status writes. */
  readonly eventRateLimit: RateLimit;
  readonly workers: number;
  /** Escrow, tokens, RPC and settlement key (operator/payments/chain-config.ts); absent: payments off. */
  readonly chain?: ChainConfig;
  /** Preemption signals judged against a clock: replicas Pending this long, a provider silent this long. */
  readonly lifecycle: { readonly bindTimeoutMs: number; readonly unreachableGraceMs: number; readonly maxReclaimGraceMs: number };
  /** How often the leader deletes its orphaned pods at providers (FLOTILLA_ORPHAN_SWEEP_MS; controllers/orphan-sweep.ts). */
  readonly orphanSweepMs: number;
  /** How often a quiet provider's API server is probed, and how long the probe may take (FLOTILLA_PROVIDER_HEARTBEAT_MS, both). */
  readonly providerHeartbeatMs: number;
  /** After taking the lease, how long placement waits for every provider's caches to list (FLOTILLA_PROVIDER_WARMUP_MS). */
  readonly providerWarmupMs: number;
  /**
   * What a provider kubeconfig may say (docs/security.md). allowInsecure: FLOTILLA_ALLOW_INSECURE_PROVIDERS=1,
   * local development only (plain http, insecure-skip-tls-verify, loopback servers); hubRanges:
   * FLOTILLA_HUB_SERVICE_CIDR and FLOTILLA_HUB_POD_CIDR (comma-separated), never a provider's server.
   */
  readonly providerKubeconfigPolicy: { readonly allowInsecure: boolean; readonly hubRanges: readonly NamedRange[] };
  /** Largest provider response and watch event (FLOTILLA_PROVIDER_MAX_RESPONSE_BYTES, FLOTILLA_PROVIDER_MAX_WATCH_EVENT_BYTES). */
  readonly providerResponseLimits: { readonly maxResponseBytes: number; readonly maxWatchEventBytes: number };
  /** List page size and most objects per provider collection (FLOTILLA_PROVIDER_LIST_PAGE_SIZE, FLOTILLA_PROVIDER_MAX_OBJECTS). */
  readonly providerInputLimits: { readonly pageSize: number; readonly maxObjects: number };
  /**
   * Live checkpoint reports: the URL replicas reach this operator's report listener at, and the HMAC
   * secret of their per-attempt tokens (FLOTILLA_REPORT_SECRET_FILE, or FLOTILLA_REPORT_SECRET).
   * Both are needed; without them replicas report checkpoints only in their termination message.
   */
  readonly checkpointReports?: { readonly url: string; readonly secret: string };
  /** Probes, /metrics and the read-only API (operator/http); absent port: not served; absent host: every interface. */
  readonly http: { readonly host?: string; readonly port?: number };
  /**
   * The checkpoint-report listener (served only with checkpointReports): its own port, so a network
   * policy can open it to provider pods alone, and each job's reports limited to `perJob`.
   */
  readonly reportListener: { readonly host?: string; readonly port?: number; readonly perJob: RateLimit };
  /** Admission webhooks over HTTPS; served only with a certificate and key. */
  readonly webhook: { readonly host?: string; readonly port: number; readonly certFile?: string; readonly keyFile?: string };
  /**
   * Master secret the per-namespace callback signing keys derive from (FLOTILLA_CALLBACK_SECRET_FILE
   * or FLOTILLA_CALLBACK_SECRET); absent: generated once into a Secret of the operator's namespace.
   */
  readonly callbackSecret?: string;
  /** Where callbacks may go (operator/callbacks/url-policy.ts): FLOTILLA_CALLBACK_ALLOW_HOSTS; never the hub's ranges (FLOTILLA_HUB_SERVICE_CIDR, FLOTILLA_HUB_POD_CIDR). */
  readonly callbacks: { readonly allow: readonly AllowEntry[]; readonly deny: readonly string[] };
  /** Export traces over OTLP/HTTP: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. */
  readonly otlpTraces: boolean;
  /** IPFS: the hub's Kubo, pinning, receipts and the inputs' fetch step (docs/artifacts.md). */
  readonly artifacts: ArtifactsConfig;
  /** Re-execution of runs before payment (docs/verification.md). */
  readonly verification: VerificationConfig;
}

export interface ArtifactsConfig {
  /** Kubo RPC API of the hub's IPFS node; absent: nothing is pinned and no receipt is written. */
  readonly kuboApi?: string;
  /** Gateway pods fetch inputs from when their GPUProvider names no spec.ipfsGateway. */
  readonly ipfsGateway?: string;
  /** Image of the init container that fetches inputs (needs sh, curl and tar). */
  readonly fetchImage: string;
  /** Kubo RPC API the job agent adds to when the pod's GPUProvider names no spec.ipfsApi; absent with none: no agent. */
  readonly agentIpfsApi?: string;
  /** Secret (in each provider's namespace) with the agent's Authorization header, for GPUProviders that name no spec.ipfsApi. */
  readonly agentIpfsApiAuthSecret?: string;
  /** Image of the job agent (the operator's own image: the agent is operator/agent/main.ts). */
  readonly agentImage: string;
  readonly pinTimeoutMs: number;
  readonly pinConcurrency: number;
  readonly pinTries: number;
  /** Receipt signing key (hex), or a file holding it (a mounted Secret). */
  readonly receiptKey?: string;
  readonly receiptKeyFile?: string;
}

export const DEFAULT_FETCH_IMAGE = 'docker.io/curlimages/curl:8.11.1';

/** The operator image of this release (package.json's version: config.test.ts): the job agent runs from it; the chart sets the exact reference. */
export const DEFAULT_AGENT_IMAGE = 'ghcr.io/flotilla/operator:0.1.0';

/**
 * A bind address: unset → loopback only (out of cluster nothing else should reach the operator),
 * "*" → every interface (the chart sets it: probes and Services reach the pod's IP), else as given.
 */
function bindHost(env: NodeJS.ProcessEnv, key: string): { host?: string } {
  const raw = env[key];
  if (raw === '*') return {};
  return { host: raw || '127.0.0.1' };
}

function callbackSecret(env: NodeJS.ProcessEnv): string | undefined {
  if (env.FLOTILLA_CALLBACK_SECRET_FILE) return readFileSync(env.FLOTILLA_CALLBACK_SECRET_FILE, 'utf8').trim();
  return env.FLOTILLA_CALLBACK_SECRET || undefined;
}

function hubRanges(env: NodeJS.ProcessEnv): NamedRange[] {
  const out: NamedRange[] = [];
  for (const [key, what] of [
    ['FLOTILLA_HUB_SERVICE_CIDR', 'service'],
    ['FLOTILLA_HUB_POD_CIDR', 'pod'],
  ] as const) {
    for (const text of (env[key] ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')) {
      try {
        out.push({ range: parseRange(text), what: `inside the hub's ${what} range (${key})` });
      } catch (err) {
        throw new Error(`${key}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return out;
}

function reportConfig(env: NodeJS.ProcessEnv): { checkpointReports?: { url: string; secret: string } } {
  const url = env.FLOTILLA_REPORT_URL;
  const secret = env.FLOTILLA_REPORT_SECRET_FILE ? readFileSync(env.FLOTILLA_REPORT_SECRET_FILE, 'utf8').trim() : env.FLOTILLA_REPORT_SECRET;
  if (!url && !secret) return {};
  if (!url || !secret) throw new Error('FLOTILLA_REPORT_URL and FLOTILLA_REPORT_SECRET(_FILE) go together: set both or neither');
  if (secret.length < 16) throw new Error('FLOTILLA_REPORT_SECRET must be at least 16 characters');
  return { checkpointReports: { url, secret } };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  return {
    ...(env.FLOTILLA_KUBECONFIG ? { kubeconfig: env.FLOTILLA_KUBECONFIG } : {}),
    hubId: env.FLOTILLA_HUB_ID ?? 'hub',
    ...(env.FLOTILLA_WATCH_NAMESPACE ? { watchNamespace: env.FLOTILLA_WATCH_NAMESPACE } : {}),
    namespace: env.FLOTILLA_NAMESPACE ?? 'flotilla-system',
    leaseName: env.FLOTILLA_LEASE_NAME ?? 'flotilla-operator',
    owner: env.FLOTILLA_OPERATOR_NAME || `${env.FLOTILLA_NAMESPACE ?? 'flotilla-system'}/${env.FLOTILLA_LEASE_NAME ?? 'flotilla-operator'}`,
    identity: env.FLOTILLA_IDENTITY ?? `${hostname()}-${process.pid}`,
    lease: {
      leaseDurationMs: positiveInt(env, 'FLOTILLA_LEASE_DURATION_MS', 15_000),
      renewDeadlineMs: positiveInt(env, 'FLOTILLA_RENEW_DEADLINE_MS', 10_000),
      retryPeriodMs: positiveInt(env, 'FLOTILLA_LEASE_RETRY_MS', 2_000),
    },
    hubRateLimit: { qps: positiveNumber(env, 'FLOTILLA_HUB_QPS', 100), burst: positiveInt(env, 'FLOTILLA_HUB_BURST', 200) },
    providerRateLimit: { qps: positiveNumber(env, 'FLOTILLA_PROVIDER_QPS', 20), burst: positiveInt(env, 'FLOTILLA_PROVIDER_BURST', 40) },
    eventRateLimit: { qps: positiveNumber(env, 'FLOTILLA_EVENT_QPS', 20), burst: positiveInt(env, 'FLOTILLA_EVENT_BURST', 50) },
    workers: positiveInt(env, 'FLOTILLA_WORKERS', 64),
    ...((chain) => (chain ? { chain } : {}))(loadChainConfig(env)),
    lifecycle: {
      bindTimeoutMs: positiveInt(env, 'FLOTILLA_BIND_TIMEOUT_MS', 5 * 60_000),
      unreachableGraceMs: positiveInt(env, 'FLOTILLA_PROVIDER_GRACE_MS', 60_000),
      // A provider's reclaim-deadline annotation is clamped to this after the drain began.
      maxReclaimGraceMs: positiveInt(env, 'FLOTILLA_MAX_RECLAIM_GRACE_MS', 10 * 60_000),
    },
    orphanSweepMs: positiveInt(env, 'FLOTILLA_ORPHAN_SWEEP_MS', 15_000),
    providerHeartbeatMs: positiveInt(env, 'FLOTILLA_PROVIDER_HEARTBEAT_MS', 5_000),
    providerWarmupMs: positiveInt(env, 'FLOTILLA_PROVIDER_WARMUP_MS', 10_000),
    providerKubeconfigPolicy: { allowInsecure: flag(env, 'FLOTILLA_ALLOW_INSECURE_PROVIDERS'), hubRanges: hubRanges(env) },
    providerResponseLimits: {
      maxResponseBytes: positiveInt(env, 'FLOTILLA_PROVIDER_MAX_RESPONSE_BYTES', 64 * 1024 * 1024),
      maxWatchEventBytes: positiveInt(env, 'FLOTILLA_PROVIDER_MAX_WATCH_EVENT_BYTES', 4 * 1024 * 1024),
    },
    providerInputLimits: {
      pageSize: positiveInt(env, 'FLOTILLA_PROVIDER_LIST_PAGE_SIZE', 500),
      maxObjects: positiveInt(env, 'FLOTILLA_PROVIDER_MAX_OBJECTS', 20_000),
    },
    ...reportConfig(env),
    http: { ...bindHost(env, 'FLOTILLA_HTTP_HOST'), ...((p) => (p === undefined ? {} : { port: p }))(port(env, 'FLOTILLA_HTTP_PORT', 8080)) },
    reportListener: {
      ...bindHost(env, 'FLOTILLA_REPORT_HOST'),
      ...((p) => (p === undefined ? {} : { port: p }))(port(env, 'FLOTILLA_REPORT_PORT', 8081)),
      perJob: { qps: positiveNumber(env, 'FLOTILLA_REPORT_JOB_QPS', 2), burst: positiveInt(env, 'FLOTILLA_REPORT_JOB_BURST', 10) },
    },
    webhook: {
      ...(env.FLOTILLA_WEBHOOK_HOST ? { host: env.FLOTILLA_WEBHOOK_HOST } : {}),
      port: port(env, 'FLOTILLA_WEBHOOK_PORT', 9443) ?? 9443,
      ...(env.FLOTILLA_WEBHOOK_CERT_FILE ? { certFile: env.FLOTILLA_WEBHOOK_CERT_FILE } : {}),
      ...(env.FLOTILLA_WEBHOOK_KEY_FILE ? { keyFile: env.FLOTILLA_WEBHOOK_KEY_FILE } : {}),
    },
    ...((secret) => (secret ? { callbackSecret: secret } : {}))(callbackSecret(env)),
    callbacks: {
      allow: parseAllowList(env.FLOTILLA_CALLBACK_ALLOW_HOSTS),
      deny: parseDenyList([env.FLOTILLA_HUB_SERVICE_CIDR, env.FLOTILLA_HUB_POD_CIDR].filter(Boolean).join(',')),
    },
    otlpTraces: Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
    verification: loadVerificationConfig(env),
    artifacts: {
      ...(env.FLOTILLA_KUBO_API ? { kuboApi: env.FLOTILLA_KUBO_API } : {}),
      ...(env.FLOTILLA_IPFS_GATEWAY ? { ipfsGateway: env.FLOTILLA_IPFS_GATEWAY } : {}),
      fetchImage: env.FLOTILLA_INPUT_FETCH_IMAGE || DEFAULT_FETCH_IMAGE,
      ...(env.FLOTILLA_AGENT_IPFS_API ? { agentIpfsApi: env.FLOTILLA_AGENT_IPFS_API } : {}),
      ...(env.FLOTILLA_AGENT_IPFS_API_AUTH_SECRET ? { agentIpfsApiAuthSecret: env.FLOTILLA_AGENT_IPFS_API_AUTH_SECRET } : {}),
      agentImage: env.FLOTILLA_AGENT_IMAGE || DEFAULT_AGENT_IMAGE,
      pinTimeoutMs: positiveInt(env, 'FLOTILLA_PIN_TIMEOUT_MS', 300_000),
      pinConcurrency: positiveInt(env, 'FLOTILLA_PIN_CONCURRENCY', 4),
      pinTries: positiveInt(env, 'FLOTILLA_PIN_TRIES', 3),
      ...(env.FLOTILLA_RECEIPT_KEY ? { receiptKey: env.FLOTILLA_RECEIPT_KEY } : {}),
      ...(env.FLOTILLA_RECEIPT_KEY_FILE ? { receiptKeyFile: env.FLOTILLA_RECEIPT_KEY_FILE } : {}),
    },
  };
}
