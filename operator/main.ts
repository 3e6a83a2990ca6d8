// The Flotilla operator process: the only place adapters are built.
//
//   hub client (rate-limited) → leader election (Lease) → when leading: provider connections and
//   the GPUProvider controller, then the AIJob controller. Losing the lease exits the process (a
//   Deployment restarts it as a standby) rather than act on stale authority. SIGTERM stops the
//   controllers and releases the lease so a successor takes over at once.
//
// Out of cluster: FLOTILLA_KUBECONFIG=<hub kubeconfig> node operator/main.ts (see `make run`).
import { KubeConfig } from '@kubernetes/client-node';
import { ArtifactsController } from './artifacts/controller.ts';
import { KuboNode } from './artifacts/kubo.ts';
import { loadReceiptSigner } from './artifacts/signer.ts';
import { CallbackDispatcher } from './callbacks/dispatcher.ts';
import { operatorCallbackPolicy } from './callbacks/operator-policy.ts';
import { loadConfig } from './config.ts';
import { checkpointReportRouter } from './controllers/aijob/checkpoint-report.ts';
import { AIJobController } from './controllers/aijob/controller.ts';
import { startProviderConnections } from './controllers/gpuprovider-controller.ts';
import { ReputationWriter } from './controllers/reputation-writer.ts';
import { OrphanSweep } from './controllers/orphan-sweep.ts';
import { errorMessage, jsonLogger } from './log.ts';
import { startPayments } from './payments/start.ts';
import { resolveToken } from './payments/chain-config.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { KeyedRateLimiter } from './runtime/keyed-rate-limiter.ts';
import { installLeaseGuard } from './runtime/lease-guard.ts';
import { ProviderFences } from './providers/fence.ts';
import { fenceKey } from './core/fence.ts';
import { RateLimitedKubeConfig } from './runtime/rate-limited-kubeconfig.ts';
import { KubeApiAuth } from './http/auth.ts';
import { HubView } from './http/hub-view.ts';
import { Readiness } from './http/readiness.ts';
import { ProviderLogSource } from './http/provider-logs.ts';
import { startOperatorHttp } from './http/start.ts';
import { JobObserver } from './telemetry/job-observer.ts';
import { setJobPhaseSource, setLeader, setProviderSource } from './telemetry/metrics.ts';
import { startTelemetry } from './telemetry/telemetry.ts';
import { operatorUsername } from './http/whoami.ts';
import { callbackUrlProblem } from './callbacks/url-policy.ts';
import { SpecGate } from './controllers/aijob/spec-gate.ts';
import { claimVerdict } from './core/lifecycle/claim.ts';
import { admissionLimits } from './http/admission-limits.ts';
import { NamespaceCache } from './hub/namespace-cache.ts';
import type { SharedJobInformer } from './hub/aijob-store.ts';

const log = jsonLogger('operator');
/** Read + replace per retry period, with room for a retry: far above need, and shared with nothing. */
const LEASE_RATE_LIMIT = { qps: 10, burst: 20 };
const AUTH_RATE_LIMIT = { qps: 20, burst: 40 };
const REPORTS_RATE_LIMIT = { qps: 20, burst: 40 };

function hubKubeConfig(path: string | undefined, limit: { qps: number; burst: number }): RateLimitedKubeConfig {
  const source = new KubeConfig();
  if (path) source.loadFromFile(path);
  else source.loadFromCluster();
  return RateLimitedKubeConfig.fromKubeConfig(source, limit);
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Pins and receipts on the hub's Kubo (docs/artifacts.md); off without FLOTILLA_KUBO_API. */
function startArtifacts(config: ReturnType<typeof loadConfig>, hub: KubeConfig, sharedJobs: SharedJobInformer): ArtifactsController | undefined {
  const a = config.artifacts;
  if (!a.kuboApi) {
    log('warn', 'FLOTILLA_KUBO_API is not set: outputs are not pinned and no receipts are written');
    return undefined;
  }
  const signer = loadReceiptSigner({ ...(a.receiptKey ? { key: a.receiptKey } : {}), ...(a.receiptKeyFile ? { keyFile: a.receiptKeyFile } : {}) });
  const controller = new ArtifactsController({
    hub,
    kubo: new KuboNode(a.kuboApi),
    log,
    workers: config.workers,
    pinner: { timeoutMs: a.pinTimeoutMs, concurrency: a.pinConcurrency, tries: a.pinTries },
    ...(signer ? { signer } : {}),
    ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}),
    sharedJobs,
    owner: config.owner,
  });
  controller.start();
  return controller;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const hub = hubKubeConfig(config.kubeconfig, config.hubRateLimit);
  hub.clusterName = 'hub';
  log('info', 'starting', {
    identity: config.identity,
    hub: hub.getCurrentCluster()?.server,
    hubRateLimit: config.hubRateLimit,
    providerRateLimit: config.providerRateLimit,
  });
  if (config.providerKubeconfigPolicy.allowInsecure) {
    log(
      'warn',
      'FLOTILLA_ALLOW_INSECURE_PROVIDERS is set: provider kubeconfigs may use plain http, insecure-skip-tls-verify and loopback servers (local development only)',
    );
  }

  // The Lease is renewed through a client of its own: its rate limiter and connection pool are
  // shared with nothing, so no burst of controller writes or checkpoint reports delays a renewal.
  const leaseHub = hubKubeConfig(config.kubeconfig, LEASE_RATE_LIMIT);
  leaseHub.clusterName = 'hub-lease';
  const elector = new LeaderElector(leaseHub, { namespace: config.namespace, name: config.leaseName, identity: config.identity, timing: config.lease });
  // Every side effect checks the lease is still ours (a leader frozen past its lease must not act).
  installLeaseGuard(() => elector.holds());
  let stopControllers: (() => void) | undefined;

  // Before the election, so probes, /metrics, the API and the webhooks answer on a standby too.
  const telemetry = startTelemetry({ serviceInstance: config.identity, otlp: config.otlpTraces });
  const view = new HubView(hub, {
    ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
    onState: (informer, state) => {
      if (state.error !== undefined) log('warn', 'hub view watch failed; restarting with backoff', { informer, error: errorMessage(state.error) });
    },
  });
  const jobMetrics = new JobObserver({ leading: () => elector.leading, tracer: telemetry.tracer });
  view.onJob((type, job) => jobMetrics.observe(type, job));
  setJobPhaseSource(() => jobMetrics.phaseCounts());
  const readiness = new Readiness();
  readiness.require('hub view', () => (view.synced ? undefined : view.notSynced().join('; ')));
  view.start();
  // Namespaces' placement policy: judged by the webhooks, re-checked by the AIJob controller.
  const namespaces = new NamespaceCache(hub, {
    onState: (state) => {
      if (state.error !== undefined) log('warn', 'hub namespace watch failed; restarting with backoff', { error: errorMessage(state.error) });
    },
  });
  readiness.require('namespaces', () => (namespaces.synced ? undefined : 'the hub namespace cache has not synced'));
  namespaces.start();
  const limits = admissionLimits(process.env, config.chain?.tokens);
  const admissionCallbackPolicy = operatorCallbackPolicy(config);
  // Who this operator is to the hub: only it may remove Flotilla's finalizers (http/finalizer-guard.ts).
  const self: { username?: string } = {};
  void operatorUsername(hub).then(
    (name) => {
      if (name) self.username = name;
      log('info', 'operator identity', { username: name ?? 'unknown: finalizer removal is not guarded' });
    },
    (err: unknown) =>
      log('warn', "could not learn the operator's own username (SelfSubjectReview); finalizer removal is not guarded", { error: errorMessage(err) }),
  );
  const admission = {
    limits,
    paymentsRequired: Boolean(config.chain),
    namespaceAnnotations: (name: string) => namespaces.annotationsOrRead(name),
    // The same policy the dispatcher applies at send time (own listeners and report URL included).
    callbackUrlProblem: (url: string) => callbackUrlProblem(url, admissionCallbackPolicy),
    operatorUsername: () => self.username,
    // New AIJobs arrive claimed for this operator, with its finalizer (http/admission-defaults.ts).
    claimAs: config.owner,
    // …and a paid one with the settlement finalizer, when this operator can settle (a chain and a
    // settlement key): without the key nothing would ever release it from an unfunded job.
    settles: Boolean(config.chain?.settlementKeyFile),
  };
  // The API's TokenReviews and SubjectAccessReviews, and the checkpoint reports' AIJob writes, each
  // through a client of their own: what callers send spends those budgets, never the controllers'.
  const authHub = hubKubeConfig(config.kubeconfig, AUTH_RATE_LIMIT);
  authHub.clusterName = 'hub-auth';
  // Any replica takes checkpoint reports (they write the AIJob directly), so a standby helps too.
  const reportsHub = config.checkpointReports ? hubKubeConfig(config.kubeconfig, REPORTS_RATE_LIMIT) : undefined;
  if (reportsHub) reportsHub.clusterName = 'hub-reports';
  const reports =
    config.checkpointReports && reportsHub
      ? checkpointReportRouter({ hub: reportsHub, secret: config.checkpointReports.secret, log, perJob: new KeyedRateLimiter(config.reportListener.perJob) })
      : undefined;
  // Replicas' logs come from the provider connections, which only the leader holds (attached below).
  const podLogs = new ProviderLogSource();
  const http = await startOperatorHttp({
    config,
    hub,
    view,
    readiness,
    telemetry,
    log,
    auth: new KubeApiAuth(authHub),
    logs: podLogs,
    ...(reports ? { reports } : {}),
    admission,
  });

  const shutdown = async (signal: string) => {
    log('info', 'shutting down', { signal });
    stopControllers?.();
    readiness.clearLeaderChecks();
    await http.close();
    view.stop();
    namespaces.stop();
    await telemetry.shutdown();
    await elector.release().catch((err: unknown) => log('warn', 'could not release the lease', { error: errorMessage(err) }));
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await elector.run({
    onStartedLeading: async (fencingToken) => {
      log('info', 'leading', { lease: `${config.namespace}/${config.leaseName}`, fencingToken });
      readiness.role = 'leader';
      readiness.leader = config.identity;
      // Not ready as the leader until the AIJob controller runs with a synced cache: registered now,
      // before the providers' warm-up, so no probe sees a leader that has not started it yet.
      readiness.requireWhileLeading('aijobs', () => "the AIJob controller has not started yet (waiting for the GPUProviders' caches)");
      setLeader(true);
      // The provider fence of this term (providers/fence.ts): raised at each provider as soon as it
      // is connected (below), and before the first create there in any case; each GPUProvider's
      // Fenced condition says how it stands.
      const fence = new ProviderFences({
        stamp: { key: fenceKey(config.hubId, config.namespace, config.leaseName), epoch: fencingToken },
        confirmLeading: () => elector.confirmHolds(),
        log,
        // A fence settles only once placing started (below), after `providers` exists.
        onSettled: (provider) => providers.refresh(provider),
      });
      const providers = startProviderConnections({
        fence: (provider) => fence.report(provider),
        hub,
        rateLimit: config.providerRateLimit,
        heartbeat: { everyMs: config.providerHeartbeatMs, timeoutMs: config.providerHeartbeatMs },
        log,
        kubeconfigPolicy: config.providerKubeconfigPolicy,
        responseLimits: config.providerResponseLimits,
        inputLimits: config.providerInputLimits,
      });
      // Name each provider's client in the API request metrics before its first request.
      providers.registry.subscribe((event) => {
        const kc = event.kind === 'provider' ? providers.registry.entry(event.provider)?.connection?.kubeConfig : undefined;
        if (kc) kc.clusterName = event.provider;
      });
      setProviderSource(() => providers.registry.capacity());
      podLogs.attach(providers.registry);
      readiness.requireWhileLeading('gpuproviders', () => (providers.synced ? undefined : 'the GPUProvider controller has not listed GPUProviders yet'));
      // Place nothing before the GPUProviders are known: an empty registry would say "no provider".
      await waitUntil(() => providers.synced, 30_000);
      // And, bounded, until every provider's caches listed: placing on the first one to answer
      // would send a restart's backlog to whichever cluster happened to be quickest. A provider
      // that does not answer within the warm-up is placed around, as at any other time.
      const warmupStarted = Date.now();
      await waitUntil(() => providers.notCaughtUp().length === 0, config.providerWarmupMs);
      const behind = providers.notCaughtUp();
      log(behind.length === 0 ? 'info' : 'warn', behind.length === 0 ? 'every provider in view; placing' : 'placing without providers not in view yet', {
        waitedMs: Date.now() - warmupStarted,
        ...(behind.length > 0 ? { providers: behind } : {}),
      });
      const raiseFence = (provider: string) => {
        const client = providers.registry.get(provider);
        if (client) fence.ensure(provider, client).catch((err: unknown) => log('warn', 'could not raise the fence', { provider, error: errorMessage(err) }));
      };
      providers.registry.subscribe((event) => {
        if (event.kind === 'provider') raiseFence(event.provider);
      });
      for (const provider of providers.registry.names()) raiseFence(provider);
      const reputation = new ReputationWriter(hub);
      const jobs = new AIJobController({
        hub,
        // One AIJob watch and cache for the whole process: the view's (it runs on standbys too).
        sharedJobs: view,
        registry: providers.registry,
        fence,
        hubId: config.hubId,
        owner: config.owner,
        workers: config.workers,
        log,
        timing: config.lifecycle,
        events: hubKubeConfig(config.kubeconfig, config.eventRateLimit),
        onAttemptClosed: (outcome) => reputation.record(outcome),
        onViolation: (violation) => reputation.recordViolation(violation.provider),
        verification: { hubFloor: config.verification.hubFloor, draw: config.verification.draw },
        onProvenMismatch: (liar) => reputation.recordProvenMismatch(liar.provider),
        // A hub that settles on chain places no job before the funding controller said Funded=True.
        paymentsRequired: Boolean(config.chain),
        // status.cost in the decimals of the job's token (the lifecycle writes it as attempts close).
        tokenDecimals: (token: string) => (config.chain ? resolveToken(config.chain.tokens, token)?.decimals : undefined),
        // Runnable spec and namespace policy, re-checked before acting (a webhook may have been down).
        specGate: new SpecGate({ namespaces, limits, log }),
        // The scheduler's per-namespace GPU quota (flotilla.dev/gpu-quota; an unusable policy places nothing there anyway).
        quotaOf: (namespace: string) => namespaces.policy(namespace)?.gpuQuota,
        // Succeeded waits for OutputPinned only when something pins (the artifacts controller below).
        pinsOutputs: Boolean(config.artifacts.kuboApi),
        inputFetchImage: config.artifacts.fetchImage,
        agent: {
          image: config.artifacts.agentImage,
          ...(config.artifacts.agentIpfsApi ? { ipfsApi: config.artifacts.agentIpfsApi } : {}),
          ...(config.artifacts.agentIpfsApiAuthSecret ? { ipfsApiAuthSecret: config.artifacts.agentIpfsApiAuthSecret } : {}),
        },
        // Closing attempts keep their replicas' log tails on the hub's Kubo (off without one, like pins).
        ...(config.artifacts.kuboApi ? { logTails: new KuboNode(config.artifacts.kuboApi) } : {}),
        ...(config.artifacts.ipfsGateway ? { ipfsGateway: config.artifacts.ipfsGateway } : {}),
        ...(config.checkpointReports ? { checkpointReports: config.checkpointReports } : {}),
        ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}),
      });
      jobs.queue.observe(
        telemetry.reconcileObserver('aijob', (key) => {
          const job = jobs.store.get(key);
          return job
            ? {
                job: { namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' },
                ...(job.status?.placement?.provider ? { provider: job.status.placement.provider } : {}),
                ...(job.status?.phase ? { phase: job.status.phase } : {}),
              }
            : undefined;
        }),
      );
      readiness.requireWhileLeading('aijobs', () => (jobs.store.informer.synced ? undefined : "the AIJob controller's cache is not synced"));
      void jobs.start();
      const callbacks = new CallbackDispatcher({
        hub,
        getJob: (key) => view.job(key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)),
        log,
        namespace: config.namespace,
        policy: operatorCallbackPolicy(config, [http.httpPort, http.webhookPort, http.reportPort]),
        ...(config.callbackSecret ? { secret: config.callbackSecret } : {}),
      });
      callbacks.start();
      // Only the jobs this operator runs: another operator on the hub calls back for its own.
      view.onJob((type, job) => {
        if (type !== 'delete' && claimVerdict(job, config.owner) === 'mine') callbacks.observe(job);
      });
      for (const job of view.jobs()) callbacks.observe(job);
      const payments = startPayments({
        hub,
        log,
        ...(config.chain ? { chain: config.chain } : {}),
        ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}),
        sharedJobs: view,
        owner: config.owner,
        slashAmount: config.verification.slashAmount,
        verificationFloor: config.verification.hubFloor,
      });
      const artifacts = startArtifacts(config, hub, view);
      // This hub's pods whose job is gone (finalizer stripped) or whose attempt closed (docs/security.md).
      const orphans = new OrphanSweep({
        registry: providers.registry,
        providers: () => providers.registry.names(),
        hubId: config.hubId,
        intervalMs: config.orphanSweepMs,
        log,
        jobs: {
          list: () => jobs.store.list(),
          get synced() {
            return jobs.store.informer.synced;
          },
        },
        ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
      });
      orphans.start();
      stopControllers = () => {
        orphans.stop();
        artifacts?.stop();
        callbacks.stop();
        payments.stop();
        jobs.stop();
        providers.stop();
      };
    },
    onStoppedLeading: (reason) => {
      log('error', 'lost leadership; exiting', { reason });
      stopControllers?.();
      process.exit(1);
    },
    onNewLeader: (identity) => {
      readiness.role = 'standby';
      readiness.leader = identity;
      log('info', 'standing by', { leader: identity });
    },
    onError: (err) => log('warn', 'leader election round failed', { error: errorMessage(err) }),
  });
}

main().catch((err: unknown) => {
  log('error', 'fatal', { error: errorMessage(err) });
  process.exit(1);
});
