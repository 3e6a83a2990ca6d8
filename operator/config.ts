// Operator configuration from the environment (the Helm chart sets these; `make run` sets the
// kubeconfig). Every client rate limit is explicit here: the hub's and each provider's.
import { hostname } from 'node:os';
import type { RateLimit } from './runtime/token-bucket.ts';
import type { LeaseTiming } from './runtime/leader-election.ts';

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
  readonly identity: string;
  readonly lease: LeaseTiming;
  readonly hubRateLimit: RateLimit;
  readonly providerRateLimit: RateLimit;
  readonly workers: number;
}

function int(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${key} must be a positive number, got "${raw}"`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  return {
    ...(env.FLOTILLA_KUBECONFIG ? { kubeconfig: env.FLOTILLA_KUBECONFIG } : {}),
    hubId: env.FLOTILLA_HUB_ID ?? 'hub',
    ...(env.FLOTILLA_WATCH_NAMESPACE ? { watchNamespace: env.FLOTILLA_WATCH_NAMESPACE } : {}),
    namespace: env.FLOTILLA_NAMESPACE ?? 'flotilla-system',
    leaseName: env.FLOTILLA_LEASE_NAME ?? 'flotilla-operator',
    identity: env.FLOTILLA_IDENTITY ?? `${hostname()}-${process.pid}`,
    lease: {
      leaseDurationMs: int(env, 'FLOTILLA_LEASE_DURATION_MS', 15_000),
      renewDeadlineMs: int(env, 'FLOTILLA_RENEW_DEADLINE_MS', 10_000),
      retryPeriodMs: int(env, 'FLOTILLA_LEASE_RETRY_MS', 2_000),
    },
    hubRateLimit: { qps: int(env, 'FLOTILLA_HUB_QPS', 50), burst: int(env, 'FLOTILLA_HUB_BURST', 100) },
    providerRateLimit: { qps: int(env, 'FLOTILLA_PROVIDER_QPS', 20), burst: int(env, 'FLOTILLA_PROVIDER_BURST', 40) },
    workers: int(env, 'FLOTILLA_WORKERS', 4),
  };
}
