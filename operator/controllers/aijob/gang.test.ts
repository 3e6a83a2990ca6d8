// The gang contract: names that pass the apiserver's rules, the rendezvous environment torchrun
// reads, the Service that makes replica 0 findable, and /dev/shm — on the pods buildPod makes.
import type { AIJob } from '../../api/types.ts';
import type { PodCreation } from '../../core/lifecycle/types.ts';
import { DEFAULT_MASTER_PORT, masterAddress, podIdentity, rendezvousEnv, serviceName, shmSize } from './gang.ts';
import { buildPod, buildService } from './pod-template.ts';

const UID = '0a1b2c3d-0000-4000-8000-000000000001';
const job = (spec: Record<string, unknown> = {}, name = 'pretrain'): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name, namespace: 'team', uid: UID },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 2,
      resources: { gpus: 8 },
      output: { path: '/out', pin: false },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
  }) as unknown as AIJob;
const creation = (attempt: number, replicas: number[]): PodCreation => ({
  provider: 'provider-a',
  attempt,
  replicas,
  placement: { provider: 'provider-a', product: 'NVIDIA-H100-80GB-HBM3', resourceName: 'nvidia.com/gpu', nodeSelector: [] },
});
const envOf = (vars: ReadonlyArray<{ name: string; value?: string }>) => Object.fromEntries(vars.map((e) => [e.name, e.value]));
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

describe('serviceName', () => {
  it.each([
    ['an ordinary name', 'pretrain', 1, 'pretrain-0a1b2c3d-a1'],
    ['a name starting with a digit (a Service name must start with a letter)', '7b-finetune', 2, 'j-7b-finetune-0a1b2c3d-a2'],
    ['a name with dots (AIJob names are DNS subdomains)', 'llama.v2', 3, 'llama-v2-0a1b2c3d-a3'],
    ['the longest AIJob name, at the last attempt', 'x'.repeat(48), 101, `${'x'.repeat(48)}-0a1b2c3d-a101`],
    ['the longest name starting with a digit', `1${'y'.repeat(47)}`, 101, `j-1${'y'.repeat(46)}-0a1b2c3d-a101`],
  ])('is a DNS-1035 label for %s', (_what, name, attempt, expected) => {
    const got = serviceName({ name, uid: UID }, attempt);
    expect(got).toBe(expected);
    expect(got).toMatch(DNS_1035_LABEL);
    expect(got.length).toBeLessThanOrEqual(63);
  });
  it('differs per attempt and per job uid', () => {
    expect(serviceName({ name: 'a', uid: UID }, 1)).not.toBe(serviceName({ name: 'a', uid: UID }, 2));
    expect(serviceName({ name: 'a', uid: UID }, 1)).not.toBe(serviceName({ name: 'a', uid: 'ffffffff-0000' }, 1));
  });
});

describe('rendezvous environment', () => {
  it("gives every replica of a 2×8 gang replica 0's name, its own rank and torchrun's PET_* names", () => {
    const envs = [0, 1].map((r) => envOf(rendezvousEnv(job(), 4, r)));
    for (const [rank, env] of envs.entries()) {
      expect(env).toEqual({
        MASTER_ADDR: 'r0.pretrain-0a1b2c3d-a4',
        MASTER_PORT: '29500',
        WORLD_SIZE: '2',
        RANK: String(rank),
        NNODES: '2',
        NODE_RANK: String(rank),
        NPROC_PER_NODE: '8',
        PET_NNODES: '2',
        PET_NODE_RANK: String(rank),
        PET_NPROC_PER_NODE: '8',
        PET_MASTER_ADDR: 'r0.pretrain-0a1b2c3d-a4',
        PET_MASTER_PORT: '29500',
      });
    }
  });
  it('points a single replica at itself (no Service, no hostname)', () => {
    const single = job({ replicas: 1, resources: { gpus: 4 } });
    expect(envOf(rendezvousEnv(single, 1, 0))).toMatchObject({ MASTER_ADDR: '127.0.0.1', PET_NNODES: '1', PET_NODE_RANK: '0', PET_NPROC_PER_NODE: '4' });
    expect(podIdentity(single, 1, 0)).toBeUndefined();
    expect(buildService(single, 1, 'w', 'hub')).toBeUndefined();
  });
  it("leaves a variable the job sets to the job; its MASTER_PORT becomes the gang's port", () => {
    const own = job({
      env: [
        { name: 'MASTER_PORT', value: '23456' },
        { name: 'NPROC_PER_NODE', value: '1' },
      ],
    });
    const env = rendezvousEnv(own, 1, 1);
    expect(env.map((e) => e.name)).not.toContain('MASTER_PORT');
    expect(env.map((e) => e.name)).not.toContain('NPROC_PER_NODE');
    expect(envOf(env)).toMatchObject({ PET_MASTER_PORT: '23456', PET_NPROC_PER_NODE: '8' });
    expect(buildService(own, 1, 'w', 'hub')?.spec?.ports?.[0]?.port).toBe(23456);
  });
  it('ignores a MASTER_PORT that is no port', () => {
    expect(envOf(rendezvousEnv(job({ env: [{ name: 'MASTER_PORT', value: '99999' }] }), 1, 0)).PET_MASTER_PORT).toBe(String(DEFAULT_MASTER_PORT));
  });
});

describe("the attempt's Service and the replicas' pods", () => {
  const service = buildService(job(), 2, 'flotilla-workloads', 'hub-1');
  const pods = [0, 1].map((r) => buildPod(job(), creation(2, [0, 1]), r, { namespace: 'flotilla-workloads', priorityClassName: 'low' }, 'hub-1'));

  it("is headless, publishes starting pods and selects exactly the attempt's pods", () => {
    expect(service?.metadata).toMatchObject({
      name: 'pretrain-0a1b2c3d-a2',
      namespace: 'flotilla-workloads',
      labels: { 'flotilla.dev/job-uid': UID, 'flotilla.dev/attempt': '2', 'flotilla.dev/hub': 'hub-1' },
      annotations: { 'flotilla.dev/job-namespace': 'team', 'flotilla.dev/job-name': 'pretrain' },
    });
    expect(service?.spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { 'flotilla.dev/job-uid': UID, 'flotilla.dev/attempt': '2', 'flotilla.dev/hub': 'hub-1' },
    });
    for (const pod of pods) {
      for (const [k, v] of Object.entries(service?.spec?.selector ?? {})) expect(pod.metadata?.labels?.[k]).toBe(v);
    }
  });
  it('gives each pod a hostname under the Service, which MASTER_ADDR names for replica 0', () => {
    expect(pods.map((p) => [p.spec?.hostname, p.spec?.subdomain])).toEqual([
      ['r0', 'pretrain-0a1b2c3d-a2'],
      ['r1', 'pretrain-0a1b2c3d-a2'],
    ]);
    const addr = envOf(pods[1]?.spec?.containers[0]?.env ?? []).MASTER_ADDR;
    expect(addr).toBe(`${pods[0]?.spec?.hostname}.${pods[0]?.spec?.subdomain}`);
    expect(addr).toBe(masterAddress(job(), 2));
  });
  it("keeps the job's own env first and the FLOTILLA_* variables after the rendezvous ones", () => {
    const pod = buildPod(job({ env: [{ name: 'HF_HOME', value: '/cache' }] }), creation(1, [0]), 0, { namespace: 'w', priorityClassName: 'low' }, 'hub');
    const names = pod.spec?.containers[0]?.env?.map((e) => e.name) ?? [];
    expect(names[0]).toBe('HF_HOME');
    expect(names.indexOf('PET_MASTER_PORT')).toBeLessThan(names.indexOf('FLOTILLA_JOB_UID'));
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('/dev/shm', () => {
  it.each([
    ['8Gi by default', {}, '8Gi'],
    ["the replica's memory when that is less than 8Gi", { memory: '4Gi' }, '4Gi'],
    ['8Gi when the replica has more memory', { memory: '64Gi' }, '8Gi'],
    ['spec.resources.shmSize when set', { memory: '64Gi', shmSize: '32Gi' }, '32Gi'],
  ])('is %s', (_what, resources, expected) => {
    const j = job({ resources: { gpus: 1, ...resources } });
    expect(shmSize(j)).toBe(expected);
    const pod = buildPod(j, creation(1, [0]), 0, { namespace: 'w', priorityClassName: 'low' }, 'hub');
    expect(pod.spec?.volumes).toContainEqual({ name: 'flotilla-dshm', emptyDir: { medium: 'Memory', sizeLimit: expected } });
    expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual({ name: 'flotilla-dshm', mountPath: '/dev/shm' });
  });
});
