// What a gang of replicas needs to run as one distributed job at a provider, with no
// Flotilla-specific code in the container: a headless Service per attempt and a stable hostname per
// replica (so every replica resolves every other, and replica 0 by a name known before any pod
// exists), the rendezvous environment of torch.distributed / torchrun, and a memory-backed /dev/shm
// (a container's default is 64 MiB, too small for PyTorch's DataLoader workers).
//
//   replicas = 1   no Service, no hostname; MASTER_ADDR=127.0.0.1 (torchrun's own default)
//   replicas > 1   Service <job>-<uid8>-a<attempt> (headless, selects the attempt's pods, publishes
//                  them before they are Ready); pod hostname r<replica>, subdomain = the Service;
//                  MASTER_ADDR=r0.<service> (resolved through the namespace's DNS search path)
//
// The hostname is r<replica>, not the pod name: a pod name may hold dots (AIJob names are DNS
// subdomains) and reach 67 characters, while a hostname is one DNS label of at most 63. It only
// has to be unique within its Service, which belongs to one attempt.
//
// Pure: pod-template.ts puts the env, hostname and volume on the pod; the controller creates and
// deletes the Service (controller.ts) and the orphan sweep removes any it left (orphan-sweep.ts).
import type { V1EnvVar, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { AIJob } from '../../api/types.ts';
import { compareQuantities } from '../../core/quantity.ts';

/** torchrun's default; a job changes it by setting MASTER_PORT in spec.env. */
export const DEFAULT_MASTER_PORT = 29500;
/** /dev/shm of each replica when spec.resources.shmSize is unset (capped at spec.resources.memory). */
export const DEFAULT_SHM_SIZE = '8Gi';
export const SHM_VOLUME = 'flotilla-dshm';

type GangJob = Pick<AIJob, 'metadata' | 'spec'>;

/** Whether the attempt gets a Service: a single replica has no peer to find. */
export const needsService = (job: GangJob): boolean => job.spec.replicas > 1;

/**
 * The attempt's Service name: a DNS-1035 label (starts with a letter, at most 63 characters),
 * unique per job uid and attempt like the pod names.
 */
export function serviceName(job: { name: string; uid: string }, attempt: number): string {
  const suffix = `-${job.uid.slice(0, 8)}-a${attempt}`;
  let base = job.name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(base)) base = `j-${base}`;
  return `${base.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

export const replicaHostname = (replica: number): string => `r${replica}`;

const identity = (job: GangJob) => ({ name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' });

/** The port replica 0 listens on: the job's own MASTER_PORT when it sets a valid one. */
export function masterPort(job: GangJob): number {
  const own = Number((job.spec.env ?? []).find((e) => e.name === 'MASTER_PORT')?.value);
  return Number.isInteger(own) && own >= 1 && own <= 65535 ? own : DEFAULT_MASTER_PORT;
}

/** Where every replica finds replica 0. */
export function masterAddress(job: GangJob, attempt: number): string {
  return needsService(job) ? `${replicaHostname(0)}.${serviceName(identity(job), attempt)}` : '127.0.0.1';
}

/**
 * The rendezvous environment of one replica. WORLD_SIZE and RANK count replicas (one process per
 * replica, for `python train.py` with init_process_group("env://")); torchrun reads the PET_*
 * names and sets WORLD_SIZE/RANK of its own workers to processes (NNODES × NPROC_PER_NODE). A
 * name the job sets itself in spec.env is left to the job.
 */
export function rendezvousEnv(job: GangJob, attempt: number, replica: number): V1EnvVar[] {
  const own = new Set((job.spec.env ?? []).map((e) => e.name));
  const addr = masterAddress(job, attempt);
  const port = String(masterPort(job));
  const nodes = String(job.spec.replicas);
  const rank = String(replica);
  const perNode = String(job.spec.resources.gpus);
  const env: Array<[string, string]> = [
    ['MASTER_ADDR', addr],
    ['MASTER_PORT', port],
    ['WORLD_SIZE', nodes],
    ['RANK', rank],
    ['NNODES', nodes],
    ['NODE_RANK', rank],
    ['NPROC_PER_NODE', perNode],
    ['PET_NNODES', nodes],
    ['PET_NODE_RANK', rank],
    ['PET_NPROC_PER_NODE', perNode],
    ['PET_MASTER_ADDR', addr],
    ['PET_MASTER_PORT', port],
  ];
  return env.filter(([name]) => !own.has(name)).map(([name, value]) => ({ name, value }));
}

/** hostname and subdomain of a replica's pod; none for a single replica. */
export function podIdentity(job: GangJob, attempt: number, replica: number): { hostname: string; subdomain: string } | undefined {
  return needsService(job) ? { hostname: replicaHostname(replica), subdomain: serviceName(identity(job), attempt) } : undefined;
}

/**
 * The attempt's headless Service, or undefined for a single replica. `meta` carries the labels and
 * annotations of the attempt's pods without the replica label; the selector is the job uid, the
 * attempt and the hub, so it selects exactly the attempt's pods.
 */
export function rendezvousService(
  job: GangJob,
  attempt: number,
  namespace: string,
  meta: { labels: Record<string, string>; annotations: Record<string, string>; selector: Record<string, string> },
): V1Service | undefined {
  if (!needsService(job)) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(identity(job), attempt), namespace, labels: { ...meta.labels }, annotations: { ...meta.annotations } },
    spec: {
      clusterIP: 'None',
      selector: { ...meta.selector },
      // Peers must resolve each other while starting (no readiness probe gates a training pod).
      publishNotReadyAddresses: true,
      ports: [{ name: 'rendezvous', port: masterPort(job), targetPort: masterPort(job), protocol: 'TCP' }],
    },
  };
}

/**
 * The memory-backed /dev/shm: spec.resources.shmSize, else DEFAULT_SHM_SIZE or the replica's
 * memory when that is less (shm pages count against the container's memory limit).
 */
export function shmSize(job: GangJob): string {
  const { shmSize: own, memory } = job.spec.resources;
  if (own !== undefined) return String(own);
  if (memory !== undefined && compareQuantities(String(memory), DEFAULT_SHM_SIZE) < 0) return String(memory);
  return DEFAULT_SHM_SIZE;
}

export function shmVolume(job: GangJob): { volume: V1Volume; mount: V1VolumeMount } {
  return {
    volume: { name: SHM_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: shmSize(job) } },
    mount: { name: SHM_VOLUME, mountPath: '/dev/shm' },
  };
}
