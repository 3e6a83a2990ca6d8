// Builds the payment controllers (funding gate, metering + settlement) over one informer on AIJobs
// and one chain client. Called from operator/main.ts once leading.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AIJobStore, jobKey } from '../hub/aijob-store.ts';
import type { SharedJobInformer } from '../hub/aijob-store.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { VerificationAsk } from '../core/verification/verdict.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { readKeyFile } from './chain-config.ts';
import type { ChainConfig } from './chain-config.ts';
import { EscrowClient } from './escrow-client.ts';
import { FundingController } from './funding-controller.ts';
import { JobStatusWriter } from './job-status.ts';
import { SettlementController } from './settlement-controller.ts';

export interface PaymentsOptions {
  readonly hub: KubeConfig;
  /** Absent: payments off (jobs with spec.payment are told so; cost is still metered). */
  readonly chain?: ChainConfig;
  readonly watchNamespace?: string;
  /** The process's one AIJob informer (HubView), read instead of a watch of payments' own. */
  readonly sharedJobs?: SharedJobInformer;
  /** Token units slashed from a proven liar's bond (docs/verification.md). */
  readonly slashAmount?: string;
  /** The hub's verification floor: the funding gate makes a verifying job's deposit outlast its window. */
  readonly verificationFloor?: VerificationAsk;
  /** This operator's name: only jobs it claimed are funded and settled here (core/lifecycle/claim.ts). */
  readonly owner?: string;
  readonly workers?: number;
  readonly log: Logger;
}

export interface Payments {
  readonly funding: FundingController;
  readonly settlement: SettlementController;
  readonly store: AIJobStore;
  stop(): void;
}

export function startPayments(opts: PaymentsOptions): Payments {
  const { log } = opts;
  const key = opts.chain?.settlementKeyFile ? readKeyFile(opts.chain.settlementKeyFile) : undefined;
  const chain = opts.chain ? new EscrowClient(opts.chain, key ? { key } : {}) : undefined;
  const onError = (name: string) => (k: string, err: unknown, retryInMs: number) =>
    log('warn', `${name} reconcile failed; retrying`, { job: k, error: errorMessage(err), retryInMs });
  const fundingQueue = new WorkQueue({ workers: opts.workers ?? 2, onError: onError('funding') });
  // Settlement reconciles only read and queue: the batcher sends. More workers let a batch fill up.
  const settlementQueue = new WorkQueue({ workers: Math.max(4, opts.workers ?? 8), onError: onError('settlement') });
  const store: AIJobStore = new AIJobStore(opts.hub, {
    component: 'flotilla-payments',
    ...(opts.watchNamespace ? { namespace: opts.watchNamespace } : {}),
    ...(opts.owner ? { owner: opts.owner, claimedOnly: true } : {}),
    ...(opts.sharedJobs ? { shared: opts.sharedJobs } : {}),
    onEvent: (_type, job) => {
      const k = jobKey(job.metadata.namespace ?? '', job.metadata.name ?? '');
      if (funding.wants(job)) fundingQueue.add(k);
      settlementQueue.add(k);
    },
    onState: (state) => {
      if (state.error) log('warn', 'payments: hub AIJob watch failed; restarting with backoff', { error: errorMessage(state.error), restarts: state.restarts });
    },
  });
  const writer = new JobStatusWriter(opts.hub, store);
  const get = (k: string) => store.get(k);
  const core = opts.hub.makeApiClient(CoreV1Api);
  const namespaceAnnotations = async (name: string) => (await core.readNamespace({ name })).metadata?.annotations ?? {};
  const funding = new FundingController({
    writer,
    get,
    log,
    namespaceAnnotations,
    ...(chain ? { chain } : {}),
    ...(opts.chain ? { config: opts.chain } : {}),
    ...(opts.verificationFloor ? { verificationFloor: opts.verificationFloor } : {}),
  });
  const settlement = new SettlementController({
    hub: opts.hub,
    writer,
    get,
    log,
    wake: (k) => settlementQueue.add(k),
    ...(chain ? { chain } : {}),
    ...(opts.chain ? { config: opts.chain } : {}),
    ...(opts.slashAmount ? { slashAmount: opts.slashAmount } : {}),
  });
  store.start();
  fundingQueue.start((k) => funding.reconcile(k));
  settlementQueue.start((k) => settlement.reconcile(k));
  log('info', 'payments started', {
    chain: opts.chain
      ? {
          rpc: opts.chain.rpcUrl,
          escrow: opts.chain.escrowAddress,
          tokens: opts.chain.tokens.map((t) => t.symbol),
          confirmations: opts.chain.confirmations,
          settler: chain?.address ?? null,
        }
      : null,
  });
  return {
    funding,
    settlement,
    store,
    stop() {
      store.stop();
      fundingQueue.shutdown();
      settlementQueue.shutdown();
      settlement.stop();
      chain?.destroy();
    },
  };
}
