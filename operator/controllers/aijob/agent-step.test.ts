// The job agent on the pods buildPod makes: only where it has an IPFS API to add to; restore before
// the sidecar, the sidecar before main; the job's paths shared through volumes; and which
// termination message is the replica's report.
import type { V1Pod } from '@kubernetes/client-node';
import type { AIJob, AIJobStatus } from '../../api/types.ts';
import type { PodCreation } from '../../core/lifecycle/types.ts';
import { AGENT_COMMAND, AGENT_CONTAINER, CHECKPOINT_VOLUME, OUTPUT_VOLUME, RESTORE_CONTAINER } from './agent-step.ts';
import { observePod, reportMessage } from './observe.ts';
import { buildPod } from './pod-template.ts';

const UID = '0a1b2c3d-0000-4000-8000-000000000001';
const CKPT = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const job = (spec: Record<string, unknown> = {}, status: AIJobStatus = {}): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'pretrain', namespace: 'team', uid: UID },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 2,
      resources: { gpus: 1 },
      output: { path: '/out', pin: true },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
    status,
  }) as unknown as AIJob;
const creation: PodCreation = {
  provider: 'provider-a',
  attempt: 2,
  replicas: [0, 1],
  placement: { provider: 'provider-a', product: 'NVIDIA-L4', resourceName: 'nvidia.com/gpu', nodeSelector: [] },
};
const AGENT = { image: 'ghcr.io/flotilla/operator:0.1.0', ipfsApi: 'http://kubo.provider:5001' };
const target = (agent?: typeof AGENT & { ipfsApiAuthSecret?: string }) => ({ namespace: 'lent', priorityClassName: 'low', ...(agent ? { agent } : {}) });
const report = { url: 'http://hub:8081', secret: 's3cret' };
const envOf = (vars: ReadonlyArray<{ name: string; value?: string }> | undefined) => Object.fromEntries((vars ?? []).map((e) => [e.name, e.value]));

describe('the job agent on a lent pod', () => {
  it('is absent where no IPFS API is known: the pod is exactly what it was', () => {
    const pod = buildPod(job({ checkpoint: { path: '/ckpt', every: '1m' } }), creation, 0, target(), 'hub-1', report);
    expect(pod.spec?.initContainers).toBeUndefined();
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual(['flotilla-dshm']);
    expect(pod.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/dev/shm']);
  });

  it('runs as a native sidecar sharing the output and checkpoint directories with main, with the env it needs', () => {
    const withCkpt = job({ checkpoint: { path: '/ckpt', every: '1m', marker: 'COMPLETE' } });
    const pod = buildPod(withCkpt, creation, 0, target(AGENT), 'hub-1', report);
    const init = pod.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual([AGENT_CONTAINER]);
    const agent = init[0];
    expect(agent).toMatchObject({ image: AGENT.image, command: [...AGENT_COMMAND, 'run'], restartPolicy: 'Always' });
    expect(agent?.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(agent?.volumeMounts).toEqual([
      { name: OUTPUT_VOLUME, mountPath: '/out' },
      { name: CHECKPOINT_VOLUME, mountPath: '/ckpt' },
    ]);
    const main = pod.spec?.containers[0];
    expect(main?.volumeMounts).toEqual(expect.arrayContaining([...(agent?.volumeMounts ?? [])]));
    expect(pod.spec?.volumes).toEqual(
      expect.arrayContaining([
        { name: OUTPUT_VOLUME, emptyDir: {} },
        { name: CHECKPOINT_VOLUME, emptyDir: {} },
      ]),
    );
    const env = envOf(agent?.env);
    const mainEnv = envOf(main?.env);
    expect(env).toEqual({
      FLOTILLA_JOB_UID: UID,
      FLOTILLA_JOB_NAME: 'team/pretrain',
      FLOTILLA_ATTEMPT: '2',
      FLOTILLA_REPLICA: '0',
      FLOTILLA_OUTPUT_PATH: '/out',
      FLOTILLA_CHECKPOINT_PATH: '/ckpt',
      FLOTILLA_REPORT_URL: mainEnv.FLOTILLA_REPORT_URL,
      FLOTILLA_REPORT_TOKEN: mainEnv.FLOTILLA_REPORT_TOKEN,
      FLOTILLA_IPFS_API: AGENT.ipfsApi,
      FLOTILLA_CHECKPOINT_MARKER: 'COMPLETE',
    });
    expect(env.FLOTILLA_REPORT_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    // The tenant's own env (it may hold secrets' copies, rendezvous) stays main's.
    expect(Object.keys(env).every((k) => k.startsWith('FLOTILLA_'))).toBe(true);
  });

  it("gives only the agent the provider's Kubo credential, from the provider's own Secret", () => {
    const pod = buildPod(
      job({ checkpoint: { path: '/ckpt', every: '1m' } }),
      creation,
      0,
      target({ ...AGENT, ipfsApiAuthSecret: 'kubo-agent' }),
      'hub-1',
      report,
    );
    const auth = { name: 'FLOTILLA_IPFS_API_AUTH', valueFrom: { secretKeyRef: { name: 'kubo-agent', key: 'authorization' } } };
    expect(pod.spec?.initContainers?.[0]?.env).toContainEqual(auth);
    expect(pod.spec?.containers[0]?.env?.some((e) => e.name === 'FLOTILLA_IPFS_API_AUTH' || e.valueFrom?.secretKeyRef?.name === 'kubo-agent')).toBe(false);
    expect(buildPod(job(), creation, 0, target(AGENT), 'hub-1').spec?.initContainers?.[0]?.env?.some((e) => e.name === 'FLOTILLA_IPFS_API_AUTH')).toBe(false);
  });

  it('restores the checkpoint the job resumes from before the sidecar and main start', () => {
    const resumed = job({ checkpoint: { path: '/ckpt', every: '1m' } }, { attempts: [{ index: 1, provider: 'p', checkpointCID: CKPT }] } as AIJobStatus);
    const pod = buildPod(resumed, creation, 1, target(AGENT), 'hub-1', report);
    const init = pod.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual([RESTORE_CONTAINER, AGENT_CONTAINER]);
    expect(init[0]?.restartPolicy).toBeUndefined();
    expect(init[0]?.command).toEqual([...AGENT_COMMAND, 'restore']);
    expect(init[0]?.volumeMounts).toEqual([{ name: CHECKPOINT_VOLUME, mountPath: '/ckpt' }]);
    expect(envOf(init[0]?.env).FLOTILLA_RESUME_FROM_CID).toBe(CKPT);
  });

  it('without spec.checkpoint shares only the output and restores nothing', () => {
    const pod = buildPod(job(), creation, 0, target(AGENT), 'hub-1');
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual([AGENT_CONTAINER]);
    expect(pod.spec?.initContainers?.[0]?.volumeMounts).toEqual([{ name: OUTPUT_VOLUME, mountPath: '/out' }]);
    expect(envOf(pod.spec?.initContainers?.[0]?.env).FLOTILLA_CHECKPOINT_PATH).toBeUndefined();
  });

  it('comes after the input fetch, which still runs first', () => {
    const withInputs = job({ inputs: [{ name: 'data', cid: CKPT, mountPath: '/data' }] });
    const pod = buildPod(withInputs, creation, 0, { ...target(AGENT), ipfsGateway: 'http://gw:8080' }, 'hub-1');
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['flotilla-inputs', AGENT_CONTAINER]);
  });
});

describe("the replica's report", () => {
  const OUT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
  const agentMsg = JSON.stringify({ outputCID: OUT, checkpointCID: CKPT, checkpointTime: '2026-12-05T09:00:00Z' });

  it.each([
    ['main wrote JSON: main wins', '{"outputCID":"x"}', agentMsg, '{"outputCID":"x"}'],
    ['main wrote nothing: the agent speaks', undefined, agentMsg, agentMsg],
    ["main's message is its log tail (FallbackToLogsOnError): the agent's checkpoint is not hidden", 'Traceback…\nKilled', agentMsg, agentMsg],
    ['no agent: main as it was, so an unusable message is still named', 'not json', undefined, 'not json'],
    ['nothing at all', '  ', undefined, undefined],
  ])('%s', (_what, main, agent, expected) => {
    expect(reportMessage(main, agent)).toBe(expected);
  });

  it('observePod reads the sidecar status the kubelet writes', () => {
    const pod: V1Pod = {
      metadata: { name: 'p', uid: 'u', labels: { 'flotilla.dev/attempt': '2', 'flotilla.dev/replica': '0' } },
      spec: { nodeName: 'n', containers: [] },
      status: {
        phase: 'Succeeded',
        containerStatuses: [
          { name: 'main', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ],
        initContainerStatuses: [
          { name: AGENT_CONTAINER, image: 'a', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, message: agentMsg } } },
        ],
      },
    };
    expect(observePod('provider-a', pod)?.exit).toEqual({ code: 0, reason: 'Completed', message: agentMsg });
    expect(observePod('provider-a', pod)?.restoreFailed).toBeUndefined();
  });

  it('observePod says when flotilla-restore failed, with its message', () => {
    const pod: V1Pod = {
      metadata: { name: 'p', uid: 'u', labels: { 'flotilla.dev/attempt': '2', 'flotilla.dev/replica': '1' } },
      spec: { nodeName: 'n', containers: [] },
      status: {
        phase: 'Failed',
        initContainerStatuses: [
          {
            name: RESTORE_CONTAINER,
            image: 'a',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 1, message: 'restore failed: Kubo unreachable\n' } },
          },
        ],
      },
    };
    expect(observePod('provider-a', pod)?.restoreFailed).toBe('restore failed: Kubo unreachable');
  });
});
