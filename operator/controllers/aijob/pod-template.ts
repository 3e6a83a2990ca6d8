// The pod Flotilla creates at a provider for one replica of one attempt. Everything the provider's
// own kube-scheduler needs to honour the placement is on the pod: the GPU resource and limits,
// node affinity on the product (and memory floor) as the provider's GFD labels say them, the
// toleration of the GPU taint, and the provider's low PriorityClass so its own work preempts ours.
// What makes the replicas one gang (hostnames, rendezvous env, /dev/shm) comes from gang.ts; env
// from hub Secrets and imagePullSecrets point at the attempt's copies (secret-copies.ts); the job
// agent that restores, adds and reports checkpoints and outputs comes from agent-step.ts.
import type { V1EnvVar, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { LABEL_ATTEMPT, LABEL_HUB, LABEL_JOB_UID } from '../../api/group.ts';
import type { AIJob } from '../../api/types.ts';
import { podName } from '../../core/lifecycle/plan.ts';
import type { PodCreation } from '../../core/lifecycle/types.ts';
import { DEFAULT_TOLERATIONS } from '../../core/placement/taints.ts';
import { CHECKPOINT_REPORT_PATH, reportToken } from './checkpoint-report.ts';
import { inputFetchStep } from '../../artifacts/input-fetch.ts';
import { DEFAULT_FETCH_IMAGE } from '../../config.ts';
import { podIdentity, rendezvousEnv, rendezvousService, shmVolume } from './gang.ts';
import { providerEnv, providerPullSecrets, secretCopies } from './secret-copies.ts';
import { agentStep } from './agent-step.ts';
import type { AgentTarget } from './agent-step.ts';
import type { CopyPayload } from './secret-copies.ts';

export const LABEL_REPLICA = 'flotilla.dev/replica';

/**
 * What every container of a lent pod runs with: no privilege escalation, no Linux capabilities.
 * With the pod's RuntimeDefault seccomp profile this passes Pod Security `baseline`, which the
 * provider chart enforces on the lent namespace (and most of `restricted`, which it warns on).
 */
export const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } as const;
export const ANNOTATION_JOB_NAMESPACE = 'flotilla.dev/job-namespace';
export const ANNOTATION_JOB_NAME = 'flotilla.dev/job-name';

/** Where replicas report checkpoints while they run (checkpoint-report.ts); absent = not offered. */
export interface ReportEndpoint {
  /** Base URL of the operator's HTTP listener as the provider's pods reach it. */
  readonly url: string;
  readonly secret: string;
}

/** Environment every replica gets (documented in docs/api.md): who it is and where its data goes. */
export function flotillaEnv(job: AIJob, attempt: number, replica: number, report?: ReportEndpoint): V1EnvVar[] {
  const resumeFrom = [...(job.status?.attempts ?? [])].reverse().find((a) => a.checkpointCID)?.checkpointCID;
  return [
    { name: 'FLOTILLA_JOB_UID', value: job.metadata.uid ?? '' },
    { name: 'FLOTILLA_JOB_NAME', value: `${job.metadata.namespace}/${job.metadata.name}` },
    { name: 'FLOTILLA_ATTEMPT', value: String(attempt) },
    { name: 'FLOTILLA_REPLICA', value: String(replica) },
    { name: 'FLOTILLA_REPLICAS', value: String(job.spec.replicas) },
    { name: 'FLOTILLA_OUTPUT_PATH', value: job.spec.output.path },
    ...(job.spec.checkpoint ? [{ name: 'FLOTILLA_CHECKPOINT_PATH', value: job.spec.checkpoint.path }] : []),
    ...(resumeFrom ? [{ name: 'FLOTILLA_RESUME_FROM_CID', value: resumeFrom }] : []),
    ...(report
      ? [
          { name: 'FLOTILLA_REPORT_URL', value: `${report.url.replace(/\/+$/, '')}${CHECKPOINT_REPORT_PATH}` },
          { name: 'FLOTILLA_REPORT_TOKEN', value: reportToken(report.secret, job.metadata.uid ?? '', attempt) },
        ]
      : []),
    ...(job.spec.inputs ?? []).map((i) => ({ name: `FLOTILLA_INPUT_${i.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CID`, value: i.cid })),
  ];
}

/** Where a pod fetches its inputs (GPUProvider spec.ipfsGateway, else the operator's default) and with which image. */
export interface InputSource {
  readonly ipfsGateway?: string;
  readonly inputFetchImage?: string;
  /** The job agent's image and IPFS API (agent-step.ts); absent: no agent. */
  readonly agent?: AgentTarget;
}

/** Labels every object of an attempt carries (its pods add the replica), and the job it belongs to. */
function attemptMeta(
  job: AIJob,
  attempt: number,
  hubId: string,
): { labels: Record<string, string>; annotations: Record<string, string>; selector: Record<string, string> } {
  const selector = { [LABEL_JOB_UID]: job.metadata.uid ?? '', [LABEL_ATTEMPT]: String(attempt), [LABEL_HUB]: hubId };
  return {
    selector,
    labels: { ...selector, 'app.kubernetes.io/managed-by': 'flotilla' },
    annotations: { [ANNOTATION_JOB_NAMESPACE]: job.metadata.namespace ?? '', [ANNOTATION_JOB_NAME]: job.metadata.name ?? '' },
  };
}

/** The attempt's headless rendezvous Service at the provider (gang.ts); undefined for a single replica. */
export function buildService(job: AIJob, attempt: number, namespace: string, hubId: string): V1Service | undefined {
  return rendezvousService(job, attempt, namespace, attemptMeta(job, attempt, hubId));
}

/** The attempt's copies of the hub Secrets its spec references (secret-copies.ts); empty when none. */
export function buildSecretCopies(job: AIJob, attempt: number, namespace: string, hubId: string, payload: CopyPayload): V1Secret[] {
  return secretCopies(job, attempt, namespace, payload, attemptMeta(job, attempt, hubId));
}

export function buildPod(
  job: AIJob,
  creation: PodCreation,
  replica: number,
  target: { namespace: string; priorityClassName: string } & InputSource,
  hubId: string,
  report?: ReportEndpoint,
): V1Pod {
  const uid = job.metadata.uid ?? '';
  const gpus = String(job.spec.resources.gpus);
  const cpuMem = {
    ...(job.spec.resources.cpu !== undefined ? { cpu: String(job.spec.resources.cpu) } : {}),
    ...(job.spec.resources.memory !== undefined ? { memory: String(job.spec.resources.memory) } : {}),
  };
  // Inputs: an init container fetches each CID into a volume the main container mounts read-only.
  const inputs = inputFetchStep(job.spec.inputs, target.ipfsGateway, target.inputFetchImage ?? DEFAULT_FETCH_IMAGE);
  const shm = shmVolume(job);
  const meta = attemptMeta(job, creation.attempt, hubId);
  const pullSecrets = providerPullSecrets(job, creation.attempt);
  const env = [...providerEnv(job, creation.attempt), ...rendezvousEnv(job, creation.attempt, replica), ...flotillaEnv(job, creation.attempt, replica, report)];
  const agent = agentStep(job, env, target.agent, containerSecurity());
  const initContainers = [
    ...inputs.initContainers.map((c) => ({ ...c, securityContext: { ...c.securityContext, ...containerSecurity() } })),
    ...agent.initContainers,
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName({ name: job.metadata.name ?? '', uid }, creation.attempt, replica),
      namespace: target.namespace,
      labels: { ...meta.labels, [LABEL_REPLICA]: String(replica) },
      annotations: { ...(job.spec.podAnnotations ?? {}), ...meta.annotations },
    },
    spec: {
      restartPolicy: 'Never',
      ...podIdentity(job, creation.attempt, replica),
      priorityClassName: target.priorityClassName,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(pullSecrets ? { imagePullSecrets: pullSecrets } : {}),
      terminationGracePeriodSeconds: 30,
      tolerations: DEFAULT_TOLERATIONS.map((t) => ({ ...t })),
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: creation.placement.nodeSelector.map((r) => ({ key: r.key, operator: r.operator, values: [...r.values] })) },
            ],
          },
        },
      },
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      ...(initContainers.length > 0 ? { initContainers } : {}),
      volumes: [...inputs.volumes, ...agent.volumes, shm.volume],
      containers: [
        {
          name: 'main',
          image: job.spec.image,
          ...(job.spec.command ? { command: [...job.spec.command] } : {}),
          ...(job.spec.args ? { args: [...job.spec.args] } : {}),
          env,
          resources: { limits: { [creation.placement.resourceName]: gpus, ...cpuMem }, requests: { [creation.placement.resourceName]: gpus, ...cpuMem } },
          // Outputs come back through the termination message; fall back to the log tail on crashes.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: containerSecurity(),
          volumeMounts: [...inputs.mounts, ...agent.mounts, shm.mount],
        },
      ],
    },
  };
}

function containerSecurity(): { allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } } {
  return { allowPrivilegeEscalation: CONTAINER_SECURITY.allowPrivilegeEscalation, capabilities: { drop: [...CONTAINER_SECURITY.capabilities.drop] } };
}
