// The Flotilla operator process: the only place adapters are built.
//
//   hub client (rate-limited) → leader election (Lease) → when leading: provider connections and
//   the GPUProvider controller, then the AIJob controller. Losing the lease exits the process (a
//   Deployment restarts it as a standby) rather than act on stale authority. SIGTERM stops the
//   controllers and releases the lease so a successor takes over at once.
//
// Out of cluster: FLOTILLA_KUBECONFIG=<hub kubeconfig> node operator/main.ts (see `make run`).
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from './config.ts';
import { AIJobController } from './controllers/aijob/controller.ts';
import { startProviderConnections } from './controllers/gpuprovider-controller.ts';
import { errorMessage, jsonLogger } from './log.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { RateLimitedKubeConfig } from './runtime/rate-limited-kubeconfig.ts';

const log = jsonLogger('operator');

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

async function main(): Promise<void> {
  const config = loadConfig();
  const hub = hubKubeConfig(config.kubeconfig, config.hubRateLimit);
  log('info', 'starting', { identity: config.identity, hub: hub.getCurrentCluster()?.server, hubRateLimit: config.hubRateLimit, providerRateLimit: config.providerRateLimit });

  const elector = new LeaderElector(hub, { namespace: config.namespace, name: config.leaseName, identity: config.identity, timing: config.lease });
  let stopControllers: (() => void) | undefined;

  const shutdown = async (signal: string) => {
    log('info', 'shutting down', { signal });
    stopControllers?.();
    await elector.release().catch((err: unknown) => log('warn', 'could not release the lease', { error: errorMessage(err) }));
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await elector.run({
    onStartedLeading: async (fencingToken) => {
      log('info', 'leading', { lease: `${config.namespace}/${config.leaseName}`, fencingToken });
      const providers = startProviderConnections({ hub, rateLimit: config.providerRateLimit, log });
      // Place nothing before the GPUProviders are known: an empty registry would say "no provider".
      await waitUntil(() => providers.synced, 30_000);
      const jobs = new AIJobController({ hub, registry: providers.registry, hubId: config.hubId, workers: config.workers, log, ...(config.watchNamespace ? { watchNamespace: config.watchNamespace } : {}) });
      void jobs.start();
      stopControllers = () => { jobs.stop(); providers.stop(); };
    },
    onStoppedLeading: (reason) => {
      log('error', 'lost leadership; exiting', { reason });
      stopControllers?.();
      process.exit(1);
    },
    onNewLeader: (identity) => log('info', 'standing by', { leader: identity }),
    onError: (err) => log('warn', 'leader election round failed', { error: errorMessage(err) }),
  });
}

main().catch((err: unknown) => {
  log('error', 'fatal', { error: errorMessage(err) });
  process.exit(1);
});
