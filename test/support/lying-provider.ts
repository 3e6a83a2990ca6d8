// A lying provider for the verified-compute tests and benchmark (issue 19): a provider controls its
// own cluster, so it can end a Flotilla pod as Succeeded with any output it likes, without running
// it. This is that provider — a process holding the cluster's admin kubeconfig (the one its hub
// Secret carries on the local federation) that watches the GPUProvider's lent namespace and, for a
// share of the jobs it is given, skips the work: as soon as a replica pod is bound and Running it
// adds a plausible but wrong output object to the provider-side Kubo and writes the pod status the
// simulated executor would have written at the end of the run (federation/workload.ts), with the
// wrong CID in the termination message. The executor waits out the run time first, so the lie wins.
//
// The decision is keyed on the job's uid (sha256(seed:uid) against the share), so every replica and
// every attempt of one job at this provider agree, and a rerun with the same seed lies about the same
// jobs. Pods of other providers are never touched: the liar acts only in its own cluster.
import { createHash, randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { create as createKubo } from 'kubo-rpc-client';
import { WORKLOAD_NAMESPACE } from '../../federation/register.ts';
import { canonicalJson, isDeterministic, outputObject, simulatedRunOf, terminatedStatus, terminationMessage, workOf } from '../../federation/workload.ts';
import { GPUPROVIDER, GROUP, LABEL_ATTEMPT, LABEL_JOB_UID, VERSION } from '../../operator/api/group.ts';
import type { GPUProvider } from '../../operator/api/types.ts';
import { ResilientInformer } from '../../operator/runtime/resilient-informer.ts';
import { clusterClients, federation } from './federation.ts';

export interface LiarOptions {
  /** The GPUProvider (hub object) that lies: its kubeconfig Secret names the cluster, spec.namespace the pods. */
  readonly provider: string;
  /** Share of jobs lied about, 0..1. */
  readonly share: number;
  /** Seeds the per-job draw; random when absent (the handle says which). */
  readonly seed?: string;
  /** The provider-side Kubo RPC API the lies are added to; the federation's by default (the executor's kuboApi). */
  readonly kuboApi?: string;
}

export interface Lie {
  readonly jobUid: string;
  readonly pod: string;
  readonly attempt: number;
  readonly outputCID: string;
  readonly at: Date;
}

export interface LiarStats {
  /** Uids of the jobs lied about (once each, however many replicas and attempts). */
  readonly liesTold: string[];
  /** Uids of every Flotilla job whose pod the liar saw. */
  readonly jobsSeen: string[];
  /** Every pod ended with a lie. */
  readonly lies: Lie[];
}

export interface Liar {
  readonly provider: string;
  readonly seed: string;
  readonly stats: LiarStats;
  /** Whether the liar lies about the job with this uid (the same draw it makes for pods). */
  liesAbout(jobUid: string): boolean;
  stop(): void;
}

/** The per-job draw: the first 48 bits of sha256(seed:uid) as a fraction of 2^48, below the share. */
export function drawsLie(seed: string, jobUid: string, share: number): boolean {
  const h = createHash('sha256').update(`${seed}:${jobUid}`).digest();
  return h.readUIntBE(0, 6) / 2 ** 48 < share;
}

/** An output text that reads like the real one but is not: every digit moved on by one, or a made-up line. */
export function fabricatedOutput(real: string, jobUid: string): string {
  const shifted = real.replace(/[0-9]/g, (d) => String((Number(d) + 1) % 10));
  return shifted !== real ? shifted : `${real}${real ? ' ' : ''}result=${createHash('sha256').update(jobUid).digest('hex').slice(0, 12)}`;
}

/** The bytes the liar adds: the same shape as an honest output object (federation/workload.ts), with a fabricated result. */
export function lyingOutputObject(pod: V1Pod, provider: string, jobUid: string): string {
  const run = simulatedRunOf(pod);
  const output = fabricatedOutput(run?.output ?? '', jobUid);
  return isDeterministic(pod) ? canonicalJson(workOf(pod, { output })) : outputObject(pod, provider, { output });
}

/** The GPUProvider's cluster (an admin kubeconfig from its hub Secret) and lent namespace. */
async function providerCluster(provider: string): Promise<{ kc: KubeConfig; namespace: string }> {
  const hub = clusterClients('hub');
  const gp = (await hub.kc
    .makeApiClient(CustomObjectsApi)
    .getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: provider })) as GPUProvider;
  const ref = gp.spec.kubeconfigSecretRef;
  const secret = await hub.core.readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
  const data = secret.data?.[ref.key ?? 'kubeconfig'];
  if (!data) throw new Error(`GPUProvider ${provider}: Secret ${ref.namespace}/${ref.name} holds no kubeconfig`);
  const kc = new KubeConfig();
  kc.loadFromString(Buffer.from(data, 'base64').toString('utf8'));
  return { kc, namespace: gp.spec.namespace ?? WORKLOAD_NAMESPACE };
}

/** Starts lying for `provider` on `share` of its jobs; resolves once its first list of the pods is in. */
export async function startLiar(opts: LiarOptions): Promise<Liar> {
  if (!(opts.share >= 0 && opts.share <= 1)) throw new Error(`share must be within 0..1, got ${opts.share}`);
  const seed = opts.seed ?? randomBytes(8).toString('hex');
  const { kc, namespace } = await providerCluster(opts.provider);
  const core = kc.makeApiClient(CoreV1Api);
  const kubo = createKubo({ url: opts.kuboApi ?? federation().kubo.provider.api });
  const liesTold = new Set<string>();
  const jobsSeen = new Set<string>();
  const lies: Lie[] = [];
  const stats: LiarStats = {
    get liesTold() {
      return [...liesTold];
    },
    get jobsSeen() {
      return [...jobsSeen];
    },
    get lies() {
      return [...lies];
    },
  };
  /** Pod uids ended (or being ended) with a lie: one lie per pod. */
  const handled = new Set<string>();
  const liesAbout = (uid: string) => drawsLie(seed, uid, opts.share);

  const lie = async (pod: V1Pod, jobUid: string): Promise<void> => {
    const run = simulatedRunOf(pod);
    if (!run) return;
    const name = pod.metadata?.name ?? '';
    const added = await kubo.add(lyingOutputObject(pod, opts.provider, jobUid), { cidVersion: 1 });
    const outputCID = added.cid.toString();
    const started = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? pod.status?.startTime;
    const now = new Date();
    const body = terminatedStatus(
      pod,
      { ...run, outcome: 'Succeeded', exitCode: 0 },
      started ? new Date(started) : now,
      now,
      terminationMessage({ outputCID }),
    );
    await core.patchNamespacedPodStatus({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    liesTold.add(jobUid);
    lies.push({ jobUid, pod: name, attempt: Number(pod.metadata?.labels?.[LABEL_ATTEMPT]), outputCID, at: now });
  };

  const consider = (pod: V1Pod): void => {
    const jobUid = pod.metadata?.labels?.[LABEL_JOB_UID];
    const podUid = pod.metadata?.uid ?? '';
    if (!jobUid) return;
    jobsSeen.add(jobUid);
    if (!liesAbout(jobUid) || handled.has(podUid) || !simulatedRunOf(pod)) return;
    if (pod.metadata?.deletionTimestamp || !pod.spec?.nodeName || pod.status?.phase !== 'Running') return;
    handled.add(podUid);
    void lie(pod, jobUid).catch((err: unknown) => {
      // Kubo or the API server hiccuped: the next event of the pod (or the executor) decides again.
      handled.delete(podUid);
      process.stderr.write(`liar ${opts.provider}: lying about ${pod.metadata?.name} failed: ${String(err)}\n`);
    });
  };

  let listed!: () => void;
  const ready = new Promise<void>((resolve) => (listed = resolve));
  const informer = new ResilientInformer<V1Pod>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${namespace}/pods`,
    list: () => core.listNamespacedPod({ namespace, labelSelector: LABEL_JOB_UID }),
    labelSelector: LABEL_JOB_UID,
    onEvent: (type, pod) => {
      if (type !== 'delete') consider(pod);
    },
    onState: (state) => {
      if (state.listed) listed();
    },
  });
  informer.start();
  await ready;
  return { provider: opts.provider, seed, stats, liesAbout, stop: () => informer.stop() };
}
