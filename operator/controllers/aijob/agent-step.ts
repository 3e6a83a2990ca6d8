// The job agent on a lent pod (docs/agent.md): what makes an unmodified training container resumable
// and its output content-addressed. Pure: the containers and volumes buildPod adds.
//
//   initContainers: … input fetch …, flotilla-restore (only when resuming): the last checkpoint
//                   from IPFS into spec.checkpoint.path, before anything else reads it;
//                   flotilla-agent (restartPolicy Always: a native sidecar, started before main and
//                   stopped after it): adds each complete checkpoint to the provider's IPFS node and
//                   reports it; on SIGTERM flushes the last one and adds spec.output.path, writing
//                   {outputCID, checkpointCID, checkpointTime} as its own termination message.
//   volumes:        flotilla-output, flotilla-checkpoint (emptyDir), mounted at the job's paths in
//                   main and in the agent, so the agent sees what main writes.
//
// The agent is injected only where it has somewhere to add: the GPUProvider's spec.ipfsApi, else
// the operator's FLOTILLA_AGENT_IPFS_API. A container that writes the termination message itself
// keeps working: main's message wins over the agent's (observe.ts).
import type { V1Container, V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { AIJob } from '../../api/types.ts';

export const AGENT_CONTAINER = 'flotilla-agent';
export const RESTORE_CONTAINER = 'flotilla-restore';
export const OUTPUT_VOLUME = 'flotilla-output';
export const CHECKPOINT_VOLUME = 'flotilla-checkpoint';
/** The agent's entry point in the operator image (WORKDIR /app). */
export const AGENT_COMMAND = ['node', 'operator/agent/main.ts'] as const;

/** Where the agent runs from and adds to; undefined = no agent on this pod. */
export interface AgentTarget {
  readonly image: string;
  readonly ipfsApi: string;
  /** A Secret in the provider namespace whose key `authorization` the agent sends to ipfsApi (the Kubo API's own auth). */
  readonly ipfsApiAuthSecret?: string;
}

/** The key of the provider-side Secret that holds the agent's Authorization header. */
export const IPFS_API_AUTH_KEY = 'authorization';

export interface AgentStep {
  /** Appended after the input-fetch init containers: restore (when resuming), then the sidecar. */
  readonly initContainers: V1Container[];
  readonly volumes: V1Volume[];
  /** For the main container: the output and checkpoint directories it writes. */
  readonly mounts: V1VolumeMount[];
}

const NONE: AgentStep = { initContainers: [], volumes: [], mounts: [] };

/**
 * Small and bounded: the agent streams files to Kubo, it never holds a checkpoint in memory. Its
 * CPU request is what the provider's scheduler adds to the pod's; the GPU is main's.
 */
const AGENT_RESOURCES = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } };

/** The FLOTILLA_* variables of main the agent needs too (flotillaEnv), plus its own. */
const SHARED_ENV = new Set([
  'FLOTILLA_JOB_UID',
  'FLOTILLA_JOB_NAME',
  'FLOTILLA_ATTEMPT',
  'FLOTILLA_REPLICA',
  'FLOTILLA_OUTPUT_PATH',
  'FLOTILLA_CHECKPOINT_PATH',
  'FLOTILLA_RESUME_FROM_CID',
  'FLOTILLA_REPORT_URL',
  'FLOTILLA_REPORT_TOKEN',
]);

export function agentStep(job: AIJob, mainEnv: readonly V1EnvVar[], target: AgentTarget | undefined, security: V1Container['securityContext']): AgentStep {
  if (!target) return NONE;
  const checkpoint = job.spec.checkpoint;
  const output = { name: OUTPUT_VOLUME, mountPath: job.spec.output.path };
  const ckpt = checkpoint ? { name: CHECKPOINT_VOLUME, mountPath: checkpoint.path } : undefined;
  const env: V1EnvVar[] = [
    ...mainEnv.filter((e) => SHARED_ENV.has(e.name) && e.value !== undefined).map((e) => ({ name: e.name, value: e.value as string })),
    { name: 'FLOTILLA_IPFS_API', value: target.ipfsApi },
    // From a Secret the provider keeps in its own namespace: the main container never gets it, so a
    // job cannot use (or shut down, or unpin from) the provider's IPFS node by itself.
    ...(target.ipfsApiAuthSecret
      ? [{ name: 'FLOTILLA_IPFS_API_AUTH', valueFrom: { secretKeyRef: { name: target.ipfsApiAuthSecret, key: IPFS_API_AUTH_KEY } } }]
      : []),
    ...(checkpoint?.marker ? [{ name: 'FLOTILLA_CHECKPOINT_MARKER', value: checkpoint.marker }] : []),
  ];
  const container = (name: string, mode: 'restore' | 'run', mounts: V1VolumeMount[]): V1Container => ({
    name,
    image: target.image,
    command: [...AGENT_COMMAND, mode],
    env,
    resources: AGENT_RESOURCES,
    // The sidecar's message is its report (File: a crashed agent's log lines are no report); a failed
    // restore's log tail says why the pod never started.
    ...(mode === 'restore' ? { terminationMessagePolicy: 'FallbackToLogsOnError' } : {}),
    ...(security ? { securityContext: security } : {}),
    volumeMounts: mounts,
  });
  const resuming = ckpt && env.some((e) => e.name === 'FLOTILLA_RESUME_FROM_CID');
  return {
    initContainers: [
      ...(resuming ? [container(RESTORE_CONTAINER, 'restore', [ckpt])] : []),
      { ...container(AGENT_CONTAINER, 'run', [output, ...(ckpt ? [ckpt] : [])]), restartPolicy: 'Always' },
    ],
    volumes: [{ name: OUTPUT_VOLUME, emptyDir: {} }, ...(ckpt ? [{ name: CHECKPOINT_VOLUME, emptyDir: {} }] : [])],
    mounts: [output, ...(ckpt ? [ckpt] : [])],
  };
}
