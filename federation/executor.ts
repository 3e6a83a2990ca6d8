// The simulated-workload executor daemon: watches pods in every provider cluster and, for pods that
// opted in (federation/workload.ts), ends them the way the kubelet would once their simulated run
// time is over — writing successful outputs to the provider-side Kubo first.
//
// Run by the federation as `node federation/executor.ts <executor.json>`; it logs JSON lines.
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { ResilientInformer } from '../operator/runtime/resilient-informer.ts';
import { create as createKubo } from 'kubo-rpc-client';
import {
  checkerExitCode,
  checkerOf,
  checkpointReport,
  decide,
  noiseOf,
  outputObject,
  podEnv,
  terminatedStatus,
  terminationMessage,
  withNoise,
} from './workload.ts';
import type { SimulatedRun } from './workload.ts';

export interface ExecutorConfig {
  readonly providers: ReadonlyArray<{ readonly name: string; readonly kubeconfig: string }>;
  /** The provider-side Kubo RPC API that simulated containers write outputs to. */
  readonly kuboApi: string;
}

export type ExecutorLog = (msg: string, fields?: Record<string, unknown>) => void;

/** JSON lines on stdout: the daemon's log file. */
export const stdoutLog: ExecutorLog = (msg, fields = {}) =>
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), component: 'executor', msg, ...fields }) + '\n');

class ProviderExecutor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Replica 0's checkpoint ticker per pod, and its newest checkpoint (for the termination message). */
  private readonly checkpointers = new Map<string, NodeJS.Timeout>();
  private readonly checkpoints = new Map<string, { cid: string; time: Date }>();
  private readonly finishing = new Set<string>();
  private readonly core: CoreV1Api;
  private readonly provider: string;
  private readonly kubo: ReturnType<typeof createKubo>;
  /** The operator's own informer: restarted with backoff when the watch fails. */
  private readonly informer: ResilientInformer<V1Pod>;
  private readonly log: ExecutorLog;

  constructor(provider: string, kc: KubeConfig, kubo: ReturnType<typeof createKubo>, log: ExecutorLog) {
    this.provider = provider;
    this.kubo = kubo;
    this.log = log;
    this.core = kc.makeApiClient(CoreV1Api);
    this.informer = new ResilientInformer<V1Pod>({
      kubeConfig: kc,
      path: '/api/v1/pods',
      list: () => this.core.listPodForAllNamespaces(),
      onEvent: (type, pod) => (type === 'delete' ? this.forget(pod) : this.consider(pod)),
      onState: (state) => {
        if (state.error) this.log('pod watch failed; restarting', { provider: this.provider, error: String(state.error), restarts: state.restarts });
      },
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    for (const t of this.checkpointers.values()) clearInterval(t);
  }

  private key(pod: V1Pod): string {
    return `${pod.metadata?.namespace}/${pod.metadata?.name}/${pod.metadata?.uid}`;
  }

  private forget(pod: V1Pod): void {
    const key = this.key(pod);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.stopCheckpoints(key);
  }

  private stopCheckpoints(key: string): void {
    clearInterval(this.checkpointers.get(key));
    this.checkpointers.delete(key);
    this.checkpoints.delete(key);
  }

  /**
   * Replica 0 of a running pod that asked for checkpoints: every interval, add a checkpoint to the
   * provider-side Kubo and report it to the operator. The ticker lives in this process, so like a
   * real container it keeps going while the provider's API server is down.
   */
  private startCheckpoints(pod: V1Pod, everyMs: number): void {
    const key = this.key(pod);
    if (this.checkpointers.has(key) || podEnv(pod, 'FLOTILLA_REPLICA') !== '0') return;
    let n = 0;
    this.checkpointers.set(
      key,
      setInterval(() => void this.checkpoint(pod, key, ++n), everyMs),
    );
  }

  private async checkpoint(pod: V1Pod, key: string, n: number): Promise<void> {
    const time = new Date();
    try {
      const added = await this.kubo.add(
        JSON.stringify({
          checkpoint: n,
          pod: pod.metadata?.name,
          attempt: podEnv(pod, 'FLOTILLA_ATTEMPT'),
          resumedFrom: podEnv(pod, 'FLOTILLA_RESUME_FROM_CID') ?? null,
          time,
        }),
        { cidVersion: 1 },
      );
      const cid = added.cid.toString();
      if (!this.checkpointers.has(key)) return;
      this.checkpoints.set(key, { cid, time });
      const report = checkpointReport(pod, cid, time);
      if (!report) return;
      const res = await fetch(report.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${report.token}` },
        body: JSON.stringify(report.body),
        signal: AbortSignal.timeout(5_000),
      });
      this.log('checkpoint reported', { provider: this.provider, pod: pod.metadata?.name, n, cid, status: res.status });
    } catch (err) {
      this.log('checkpoint failed; the next one will be reported', { provider: this.provider, pod: pod.metadata?.name, n, error: String(err) });
    }
  }

  private consider(pod: V1Pod): void {
    const key = this.key(pod);
    const decision = decide(pod, new Date());
    if (decision.kind === 'ignore') return this.forget(pod);
    if (decision.kind === 'wait' && decision.run.checkpointMs !== undefined) this.startCheckpoints(pod, decision.run.checkpointMs);
    if (decision.kind === 'wait') {
      if (!this.timers.has(key)) {
        this.timers.set(
          key,
          setTimeout(() => {
            this.timers.delete(key);
            const latest = this.informer.get(pod.metadata?.name ?? '', pod.metadata?.namespace);
            if (latest) this.consider(latest);
          }, decision.ms + 10),
        );
      }
      return;
    }
    if (this.finishing.has(key)) return;
    this.finishing.add(key);
    void this.finish(pod, decision.run, decision.startedAt).finally(() => this.finishing.delete(key));
  }

  /** A checker pod's verdict (workload.ts checkerOf): its run, ending with the checker's exit code. */
  private async judged(pod: V1Pod, run: SimulatedRun): Promise<SimulatedRun> {
    const checker = checkerOf(pod);
    if (!checker || run.outcome !== 'Succeeded') return run;
    const read = async (cid: string) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of this.kubo.cat(cid, { timeout: 10_000 })) chunks.push(chunk);
      return Buffer.concat(chunks).toString('utf8');
    };
    let code: 0 | 1 | 2;
    try {
      code = checkerExitCode(await read(checker.original), await read(checker.reference), checker.tolerance);
    } catch {
      code = 2; // cannot read an output: no verdict
    }
    return code === 0 ? run : { ...run, outcome: 'Failed', exitCode: code };
  }

  private async finish(pod: V1Pod, asked: SimulatedRun, startedAt: Date): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    try {
      const run = await this.judged(pod, asked);
      let message: string;
      if (run.outcome === 'Succeeded') {
        const noisy = { ...run, output: withNoise(run.output, noiseOf(pod), Math.random) };
        const added = await this.kubo.add(outputObject(pod, this.provider, noisy), { cidVersion: 1 });
        const last = this.checkpoints.get(this.key(pod));
        message = terminationMessage({
          outputCID: added.cid.toString(),
          ...(last ? { checkpointCID: last.cid, checkpointTime: last.time.toISOString() } : {}),
        });
      } else {
        message = terminationMessage({ error: `simulated failure (exit code ${run.exitCode})` });
      }
      const body = terminatedStatus(pod, run, startedAt, new Date(), message);
      await this.core.patchNamespacedPodStatus({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
      this.log('pod finished', { provider: this.provider, pod: `${namespace}/${name}`, outcome: run.outcome, message });
    } catch (err) {
      // Kubo or the apiserver hiccuped: try again shortly; the decision is re-derived from the pod.
      this.log('finishing pod failed; will retry', { provider: this.provider, pod: `${namespace}/${name}`, error: String(err) });
      setTimeout(() => {
        const latest = this.informer.get(name, namespace);
        if (latest) this.consider(latest);
      }, 1_000);
    }
  }
}

/** Starts executing every provider's pods; `log` gets each line (an in-process executor may keep them quiet). */
export function runExecutor(config: ExecutorConfig, log: ExecutorLog = stdoutLog): () => void {
  const kubo = createKubo({ url: config.kuboApi });
  const executors = config.providers.map((p) => {
    const kc = new KubeConfig();
    kc.loadFromFile(p.kubeconfig);
    const executor = new ProviderExecutor(p.name, kc, kubo, log);
    executor.start();
    return executor;
  });
  log('executor started', { providers: config.providers.map((p) => p.name), kubo: config.kuboApi });
  return () => executors.forEach((e) => e.stop());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const configFile = process.argv[2];
  if (!configFile) {
    process.stderr.write('usage: node federation/executor.ts <executor.json>\n');
    process.exit(2);
  }
  const stop = runExecutor(JSON.parse(readFileSync(configFile, 'utf8')) as ExecutorConfig);
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => {
      stop();
      process.exit(0);
    });
}
