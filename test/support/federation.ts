// What integration tests need to talk to the running local federation.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, SchedulingV1Api, Watch } from '@kubernetes/client-node';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { readEndpoints } from '../../federation/federation.ts';
import type { FederationEndpoints } from '../../federation/federation.ts';
import type { AIJob } from '../../operator/api/types.ts';

export function federation(): FederationEndpoints {
  const ep = readEndpoints();
  if (!ep) throw new Error('no local federation is running (the integration globalSetup starts one)');
  return ep;
}

export interface ClusterClients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly scheduling: SchedulingV1Api;
}

export function clusterClients(name: string): ClusterClients {
  const ep = federation();
  const cluster = name === 'hub' ? ep.hub : ep.providers.find((p) => p.name === name);
  if (!cluster) throw new Error(`no cluster named ${name} in the federation`);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), scheduling: kc.makeApiClient(SchedulingV1Api) };
}

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

export async function createNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads `read()` until `done` holds on what it returned; throws naming `what` and the last value seen.
 * The one poll loop of the integration tests.
 */
export async function pollUntil<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(intervalMs);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
}

/** Polls a pod until `done` holds. */
export async function waitForPod(core: CoreV1Api, namespace: string, name: string, done: (pod: V1Pod) => boolean, timeoutMs = 60_000): Promise<V1Pod> {
  const pod = await pollUntil(
    `pod ${namespace}/${name} reaching the expected state`,
    () =>
      core.readNamespacedPod({ name, namespace }).then(
        (p) => p,
        () => undefined,
      ),
    (p) => p !== undefined && done(p),
    timeoutMs,
  );
  return pod as V1Pod;
}

export async function waitForEvent(core: CoreV1Api, namespace: string, match: (e: CoreV1Event) => boolean, timeoutMs = 60_000): Promise<CoreV1Event> {
  const found = await pollUntil(
    `a matching event in ${namespace}`,
    async () => (await core.listNamespacedEvent({ namespace })).items.find(match),
    (e) => e !== undefined,
    timeoutMs,
    250,
  );
  return found as CoreV1Event;
}

/** Records every version of one pod seen by a watch, including the final DELETED one. */
export async function recordPodHistory(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<{ history: Array<{ type: string; pod: V1Pod }>; stop: () => void }> {
  const history: Array<{ type: string; pod: V1Pod }> = [];
  const req = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, pod: V1Pod) => history.push({ type, pod }),
    () => undefined,
  );
  return { history, stop: () => req.abort() };
}

export function gpuPod(
  name: string,
  opts: { gpus: number; product?: string; node?: string; priorityClassName?: string; annotations?: Record<string, string> },
): V1Pod {
  return {
    metadata: { name, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: {
      containers: [
        { name: 'main', image: 'registry.example/trainer@sha256:' + 'a'.repeat(64), resources: { limits: { 'nvidia.com/gpu': String(opts.gpus) } } },
      ],
      nodeSelector: {
        ...(opts.product ? { 'nvidia.com/gpu.product': opts.product } : {}),
        ...(opts.node ? { 'kubernetes.io/hostname': opts.node } : {}),
      },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      ...(opts.priorityClassName ? { priorityClassName: opts.priorityClassName } : {}),
      terminationGracePeriodSeconds: 5,
    },
  };
}

/** Reads an AIJob (raw JSON) from the hub, or undefined when it does not exist. */
export async function readAIJob(namespace: string, name: string): Promise<AIJob | undefined> {
  const api = clusterClients('hub').kc.makeApiClient(CustomObjectsApi);
  try {
    return (await api.getNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace, name })) as AIJob;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** Polls an AIJob until `done` holds (undefined: it does not exist). */
export function waitForAIJob(namespace: string, name: string, done: (job: AIJob | undefined) => boolean, timeoutMs = 60_000): Promise<AIJob | undefined> {
  return pollUntil(`AIJob ${namespace}/${name} reaching the expected state`, () => readAIJob(namespace, name), done, timeoutMs, 250);
}
