// Drains a node before a pool gives it up, as `kubectl drain` does: cordon it, evict every pod that
// a controller would not put straight back (DaemonSet and static pods stay), and wait until the
// evicted pods are gone. Flotilla sees its lent pods evicted as a preemption and resumes each job
// elsewhere from its last checkpoint; the grace period lets the job agent flush that checkpoint.
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';

export interface DrainOptions {
  /** How long to wait for the evicted pods to go (their grace periods included). */
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  readonly log?: (line: string) => void;
}

/** Pods a drain leaves in place: a DaemonSet would recreate them at once, a static pod is the kubelet's. */
export function staysOnDrain(pod: V1Pod): boolean {
  const ownedByDaemonSet = pod.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet') ?? false;
  const mirror = pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
  const finished = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  return ownedByDaemonSet || mirror || finished;
}

const statusCode = (err: unknown) => (err as { code?: number }).code;

/** Cordons `node`, evicts its pods and resolves once they are gone; a node already gone is drained. */
export async function drainNode(kubeconfig: string, node: string, opts: DrainOptions = {}): Promise<{ evicted: string[] }> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const intervalMs = opts.intervalMs ?? 500;
  const log = opts.log ?? (() => undefined);
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  } catch (err) {
    if (statusCode(err) === 404) return { evicted: [] };
    throw err;
  }
  const onNode = async () => (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.filter((p) => !staysOnDrain(p));
  const evicted = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await onNode();
    if (pods.length === 0) return { evicted: [...evicted].sort() };
    if (Date.now() >= deadline)
      throw new Error(
        `draining node ${node}: ${pods.length} pod(s) still there after ${timeoutMs / 1000}s: ${pods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(', ')}`,
      );
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '';
      const namespace = pod.metadata?.namespace ?? '';
      const key = `${namespace}/${name}`;
      if (evicted.has(key) || pod.metadata?.deletionTimestamp) continue;
      try {
        await core.createNamespacedPodEviction({ name, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } } });
        evicted.add(key);
        log(`evicted ${key} from ${node}`);
      } catch (err) {
        // 429: a PodDisruptionBudget says not now — try again next round, as kubectl drain does. 404: already gone.
        if (statusCode(err) !== 429 && statusCode(err) !== 404) throw err;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
