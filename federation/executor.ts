// The simulated-workload executor daemon: watches pods in every provider cluster and, for pods that
// opted in (federation/workload.ts), ends them the way the kubelet would once their simulated run
// time is over — writing successful outputs to the provider-side Kubo first. Pods that opted into
// real-process mode (sim.flotilla.dev/exec) get their containers run as processes on this machine
// instead (process-plan.ts, process-runner.ts), their files under <execRoot>, and a KWOK `Logs`
// object for each (process-logs.ts) so the provider serves their output as the pod's log.
//
// Run by the federation as `node federation/executor.ts <executor.json>`; it logs JSON lines.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { ResilientInformer } from '../operator/runtime/resilient-informer.ts';
import { defaultStateDir, repoRoot } from './paths.ts';
import { KWOK_LOGS, podLogsObject } from './process-logs.ts';
import { attemptKey, deletionGraceSeconds, execAction, isExecPod, podLayout } from './process-plan.ts';
import type { PodLayout } from './process-plan.ts';
import { envSources, needsPort, sourceKey } from './process-rewrite.ts';
import type { EnvSource } from './process-rewrite.ts';
import { AttemptPorts, PodRun } from './process-runner.ts';
import type { RunContext } from './process-runner.ts';
import { execStatus, lostStatus } from './process-status.ts';
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
  /** Where exec-mode pods get their host directories (default: <state dir>/exec). */
  readonly execRoot?: string;
  /** The cwd of exec-mode processes (default: the repository root). */
  readonly workDir?: string;
}

/** What every provider's exec-mode pods share: where they live and the attempts' rendezvous ports. */
interface ExecSettings {
  readonly execRoot: string;
  readonly workDir: string;
  readonly ports: AttemptPorts;
}

/** How long processes get to exit when the executor itself stops (its daemon is SIGKILLed after 5 s). */
const EXECUTOR_STOP_GRACE_MS = 3_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The field manager of the Logs objects the executor applies. */
const FIELD_MANAGER = 'flotilla-executor';
const LOGS_RESOURCE = { group: KWOK_LOGS.group, version: KWOK_LOGS.version, plural: KWOK_LOGS.plural };
/** Tries at publishing a pod's Logs object before its processes start without it (no `kubectl logs` then). */
const LOGS_PUBLISH_TRIES = 3;

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
  private readonly custom: CustomObjectsApi;
  private readonly provider: string;
  private readonly kubo: ReturnType<typeof createKubo>;
  /** The operator's own informer: restarted with backoff when the watch fails. */
  private readonly informer: ResilientInformer<V1Pod>;
  private readonly log: ExecutorLog;
  private readonly exec: ExecSettings;
  /** Exec-mode pods this process started (kept until the pod is deleted), or found started by an earlier one ('lost'). */
  private readonly execRuns = new Map<string, PodRun | 'lost'>();
  private stopped = false;

  constructor(provider: string, kc: KubeConfig, kubo: ReturnType<typeof createKubo>, log: ExecutorLog, exec: ExecSettings) {
    this.provider = provider;
    this.kubo = kubo;
    this.log = log;
    this.exec = exec;
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.informer = new ResilientInformer<V1Pod>({
      kubeConfig: kc,
      path: '/api/v1/pods',
      list: () => this.core.listPodForAllNamespaces(),
      onEvent: (type, pod) => (isExecPod(pod) ? this.considerExec(pod, type === 'delete') : type === 'delete' ? this.forget(pod) : this.consider(pod)),
      onState: (state) => {
        if (state.error) this.log('pod watch failed; restarting', { provider: this.provider, error: String(state.error), restarts: state.restarts });
      },
    });
  }

  start(): void {
    this.informer.start();
  }

  /** Stops watching; the processes of exec-mode pods get SIGTERM and, after a short wait, SIGKILL. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.informer.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    for (const t of this.checkpointers.values()) clearInterval(t);
    await Promise.all([...this.execRuns.values()].map((run) => (run === 'lost' ? undefined : run.kill(EXECUTOR_STOP_GRACE_MS))));
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

  /**
   * An exec-mode pod (process-plan.ts): started once when Running, its processes stopped with their
   * grace when it is being deleted or gone — even when the pod object is already gone (KWOK deletes
   * a pod the moment it carries a deletionTimestamp), so the grace comes from the last object seen.
   */
  private considerExec(pod: V1Pod, deleted: boolean): void {
    if (this.stopped) return;
    const key = this.key(pod);
    const run = this.execRuns.get(key);
    const podName = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (deleted) {
      this.execRuns.delete(key);
      void this.withdrawLogs(pod);
    }
    const action = deleted ? 'stop' : execAction(pod, run !== undefined);
    if (action === 'stop' && run && run !== 'lost') {
      const graceSeconds = deletionGraceSeconds(pod);
      if (!run.stopRequested) this.log('exec pod stopping', { provider: this.provider, pod: podName, why: deleted ? 'deleted' : 'deleting', graceSeconds });
      void run.stop(graceSeconds);
    }
    if (action !== 'start') return;
    const layout = podLayout(this.exec.execRoot, this.provider, pod);
    if (PodRun.startedBefore(layout)) {
      // An earlier executor process started it and took its processes down with it.
      this.execRuns.set(key, 'lost');
      this.log('exec pod lost its processes with an earlier executor', { provider: this.provider, pod: podName, dir: layout.dir });
      void this.writeExecStatus(pod, lostStatus(pod, new Date(pod.status?.startTime ?? Date.now()), new Date()), 'Failed');
      return;
    }
    const started = new PodRun(pod, layout, this.log, { provider: this.provider, pod: podName });
    this.execRuns.set(key, started);
    this.log('exec pod starting', { provider: this.provider, pod: podName, dir: layout.dir });
    void started
      .run(async () => {
        // The host files exist by now; the processes start once this returns.
        await this.publishLogs(pod, layout);
        return this.runContext(pod);
      })
      .then(
        (exits) => {
          if (!exits || this.execRuns.get(key) !== started) return; // stopped: a pod going away gets no status
          const body = execStatus(pod, exits, new Date());
          return this.writeExecStatus(pod, body, String(body.status.phase));
        },
        (err: unknown) => this.log('exec pod failed to run', { provider: this.provider, pod: podName, error: String(err) }),
      );
  }

  /**
   * Applies the pod's KWOK Logs object (process-logs.ts), so the provider serves its containers'
   * output from the first line. Server-side apply: a namesake's leftover object (its pod deleted,
   * the garbage collector not there yet) is taken over, not a conflict. Not fatal: after a few tries
   * the pod runs without it.
   */
  private async publishLogs(pod: V1Pod, layout: PodLayout): Promise<void> {
    const body = podLogsObject(pod, layout);
    const { name, namespace } = body.metadata;
    for (let tries = 1; !this.stopped; tries++) {
      try {
        await this.custom.patchNamespacedCustomObject(
          { ...LOGS_RESOURCE, namespace, name, body, fieldManager: FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        );
        return;
      } catch (err) {
        if (tries >= LOGS_PUBLISH_TRIES) {
          this.log('pod logs not published; the provider will not serve them', { provider: this.provider, pod: `${namespace}/${name}`, error: String(err) });
          return;
        }
        await sleep(500);
      }
    }
  }

  /**
   * Deletes the Logs object of a pod that is gone — only if that pod owns it (a namesake may own it
   * by now), and only that version of it (the uid precondition). Missing is fine: the garbage
   * collector got there first, or the pod never started.
   */
  private async withdrawLogs(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    try {
      const logs = (await this.custom.getNamespacedCustomObject({ ...LOGS_RESOURCE, namespace, name })) as {
        metadata?: { uid?: string; ownerReferences?: Array<{ uid?: string }> };
      };
      const uid = logs.metadata?.uid;
      if (!uid || !logs.metadata?.ownerReferences?.some((o) => o.uid === pod.metadata?.uid)) return;
      await this.custom.deleteNamespacedCustomObject({ ...LOGS_RESOURCE, namespace, name, body: { preconditions: { uid } } });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404 || code === 409) return;
      this.log('deleting pod logs failed; the garbage collector removes them', { provider: this.provider, pod: `${namespace}/${name}`, error: String(err) });
    }
  }

  /** The env sources the pod reads (from the provider, with the executor's kubeconfig) and its attempt's port. */
  private async runContext(pod: V1Pod): Promise<RunContext> {
    const namespace = pod.metadata?.namespace ?? '';
    const sources = new Map<string, string>();
    await Promise.all(
      envSources(pod).map(async (s) => {
        const value = await this.readEnvSource(namespace, s);
        if (value !== undefined) sources.set(sourceKey(s), value);
      }),
    );
    let masterPort: number | undefined;
    if (needsPort(pod)) {
      try {
        masterPort = await this.exec.ports.portFor(attemptKey(this.provider, pod));
      } catch (err) {
        this.log('no rendezvous port; MASTER_PORT stays as the pod says', { provider: this.provider, pod: pod.metadata?.name, error: String(err) });
      }
    }
    return {
      hostEnv: process.env,
      sources,
      execPath: process.execPath,
      workDir: this.exec.workDir,
      ...(masterPort !== undefined ? { masterPort } : {}),
    };
  }

  private async readEnvSource(namespace: string, s: EnvSource): Promise<string | undefined> {
    try {
      if (s.kind === 'secret') {
        const data = (await this.core.readNamespacedSecret({ name: s.name, namespace })).data?.[s.key];
        return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
      }
      return (await this.core.readNamespacedConfigMap({ name: s.name, namespace })).data?.[s.key];
    } catch (err) {
      this.log('env source unreadable; its variables are left out', { provider: this.provider, namespace, source: sourceKey(s), error: String(err) });
      return undefined;
    }
  }

  /** Patches the status the pod's processes ended with; retries while the apiserver hiccups, gives up once the pod is gone. */
  private async writeExecStatus(pod: V1Pod, body: { status: Record<string, unknown> }, outcome: string): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    const key = this.key(pod);
    while (!this.stopped && this.execRuns.has(key)) {
      try {
        await this.core.patchNamespacedPodStatus({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
        this.log('pod finished', { provider: this.provider, pod: `${namespace}/${name}`, outcome, mode: 'exec' });
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) return; // deleted meanwhile: nothing to report to
        if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
          this.log('pod status rejected; not retried', { provider: this.provider, pod: `${namespace}/${name}`, code, error: String(err) });
          return;
        }
        this.log('writing pod status failed; will retry', { provider: this.provider, pod: `${namespace}/${name}`, error: String(err) });
        await sleep(1_000);
      }
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

/**
 * Starts executing every provider's pods; `log` gets each line (an in-process executor may keep them
 * quiet). The returned stop resolves once the processes of exec-mode pods are gone.
 */
export function runExecutor(config: ExecutorConfig, log: ExecutorLog = stdoutLog): () => Promise<void> {
  const kubo = createKubo({ url: config.kuboApi });
  const exec: ExecSettings = { execRoot: config.execRoot ?? join(defaultStateDir(), 'exec'), workDir: config.workDir ?? repoRoot, ports: new AttemptPorts() };
  const executors = config.providers.map((p) => {
    const kc = new KubeConfig();
    kc.loadFromFile(p.kubeconfig);
    const executor = new ProviderExecutor(p.name, kc, kubo, log, exec);
    executor.start();
    return executor;
  });
  log('executor started', { providers: config.providers.map((p) => p.name), kubo: config.kuboApi, execRoot: exec.execRoot });
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= Promise.all(executors.map((e) => e.stop())).then(() => undefined));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const configFile = process.argv[2];
  if (!configFile) {
    process.stderr.write('usage: node federation/executor.ts <executor.json>\n');
    process.exit(2);
  }
  // executor.json lives in the state dir; one written before exec mode existed names no execRoot.
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as ExecutorConfig;
  const stop = runExecutor({ execRoot: join(dirname(configFile), 'exec'), ...config });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop().finally(() => process.exit(0)));
}
