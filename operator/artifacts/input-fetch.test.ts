import type { AIJob } from '../api/types.ts';
import type { PodCreation } from '../core/lifecycle/types.ts';
import { buildPod } from '../controllers/aijob/pod-template.ts';
import { DEFAULT_FETCH_IMAGE } from '../config.ts';
import { FETCH_SCRIPT, INPUT_FETCH_CONTAINER, inputFetchStep } from './input-fetch.ts';

const DATA = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const SCRIPT = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';
const inputs = [
  { name: 'dataset', cid: DATA, mountPath: '/data' },
  { name: 'script', cid: SCRIPT, mountPath: '/src/train.py' },
];

const job = (withInputs: boolean): AIJob => ({
  apiVersion: 'flotilla.dev/v1alpha1',
  kind: 'AIJob',
  metadata: { namespace: 'ns', name: 'j', uid: '12345678-aaaa' },
  spec: {
    image: 'img',
    replicas: 1,
    priority: 0,
    resources: { gpus: 1 },
    output: { path: '/out', pin: true },
    recovery: { maxRestarts: 3, strategy: 'Failover' },
    ...(withInputs ? { inputs } : {}),
  },
});
const creation = {
  provider: 'p',
  attempt: 1,
  replicas: [0],
  placement: { provider: 'p', nodes: ['n'], product: 'X', resourceName: 'nvidia.com/gpu', nodeSelector: [] },
} as unknown as PodCreation;

describe('inputFetchStep', () => {
  it('fetches every CID from the gateway in one init container, passing them as arguments, not shell text', () => {
    const step = inputFetchStep(inputs, 'http://gw.provider:8080/', 'fetch:1');
    expect(step.initContainers).toEqual([
      expect.objectContaining({
        name: INPUT_FETCH_CONTAINER,
        image: 'fetch:1',
        command: ['sh', '-c', FETCH_SCRIPT, 'fetch-inputs', 'http://gw.provider:8080/', DATA, SCRIPT],
      }),
    ]);
    expect(step.mounts).toEqual([
      { name: 'flotilla-input-0', mountPath: '/data', subPath: DATA, readOnly: true },
      { name: 'flotilla-input-1', mountPath: '/src/train.py', subPath: SCRIPT, readOnly: true },
    ]);
    expect(step.volumes.map((v) => v.name)).toEqual(['flotilla-input-archives', 'flotilla-input-0', 'flotilla-input-1']);
  });

  it('fails the pod with a clear message when no gateway is configured, rather than run without inputs', () => {
    const [init] = inputFetchStep(inputs, undefined, 'fetch:1').initContainers;
    expect(init?.command?.[2]).toMatch(/no IPFS gateway is configured: set spec.ipfsGateway on the GPUProvider or FLOTILLA_IPFS_GATEWAY/);
  });

  it('adds nothing to a job without inputs', () =>
    expect(inputFetchStep(undefined, 'http://gw', 'x')).toEqual({ initContainers: [], volumes: [], mounts: [] }));
});

describe('buildPod with inputs', () => {
  it('carries the fetch step, the volumes and the read-only mounts; the default image when none is given', () => {
    const pod = buildPod(job(true), creation, 0, { namespace: 'w', priorityClassName: 'low', ipfsGateway: 'http://gw:8080' }, 'hub');
    expect(pod.spec?.initContainers?.[0]?.image).toBe(DEFAULT_FETCH_IMAGE);
    expect(pod.spec?.initContainers?.[0]?.command?.slice(4)).toEqual(['http://gw:8080', DATA, SCRIPT]);
    // The inputs' three volumes, then /dev/shm (gang.ts), which every pod has.
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual(['flotilla-input-archives', 'flotilla-input-0', 'flotilla-input-1', 'flotilla-dshm']);
    expect(pod.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/data', '/src/train.py', '/dev/shm']);
  });
  it('has no fetch step nor input volume for a job without inputs', () => {
    const pod = buildPod(job(false), creation, 0, { namespace: 'w', priorityClassName: 'low' }, 'hub');
    expect(pod.spec?.initContainers).toBeUndefined();
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual(['flotilla-dshm']);
    expect(pod.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/dev/shm']);
  });
});
