import type { V1Pod } from '@kubernetes/client-node';
import { canonicalJson, checkerExitCode, checkerOf, decide, outputObject, simulatedRunOf, terminatedStatus, withNoise, SIM } from './workload.ts';

const started = new Date('2026-11-23T10:00:00Z');
const pod = (annotations: Record<string, string>, over: { phase?: string; node?: string; deleting?: boolean } = {}): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u', annotations, ...(over.deleting ? { deletionTimestamp: started } : {}) },
  spec: { nodeName: over.node ?? 'n1', containers: [{ name: 'main', image: 'img' }] },
  status: {
    phase: over.phase ?? 'Running',
    startTime: started,
    containerStatuses: [{ name: 'main', image: 'img', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: started } } }],
  },
});
const at = (ms: number) => new Date(started.getTime() + ms);

describe('simulatedRunOf', () => {
  const cases: Array<[string, Record<string, string>, ReturnType<typeof simulatedRunOf>]> = [
    ['a pod without the run-seconds annotation is not simulated', {}, undefined],
    ['a negative run time is ignored', { [SIM.runSeconds]: '-1' }, undefined],
    ['a non-numeric run time is ignored', { [SIM.runSeconds]: 'soon' }, undefined],
    ['success is the default outcome with exit code 0', { [SIM.runSeconds]: '2.5' }, { runMs: 2500, outcome: 'Succeeded', exitCode: 0, output: '' }],
    ['a failure defaults to exit code 1', { [SIM.runSeconds]: '1', [SIM.outcome]: 'Failed' }, { runMs: 1000, outcome: 'Failed', exitCode: 1, output: '' }],
    [
      'a failure keeps a positive exit code',
      { [SIM.runSeconds]: '1', [SIM.outcome]: 'Failed', [SIM.exitCode]: '137' },
      { runMs: 1000, outcome: 'Failed', exitCode: 137, output: '' },
    ],
    [
      'a failure with exit code 0 still fails with 1',
      { [SIM.runSeconds]: '1', [SIM.outcome]: 'Failed', [SIM.exitCode]: '0' },
      { runMs: 1000, outcome: 'Failed', exitCode: 1, output: '' },
    ],
  ];
  it.each(cases)('%s', (_name, annotations, expected) => expect(simulatedRunOf(pod(annotations))).toEqual(expected));
});

describe('decide', () => {
  const opted = { [SIM.runSeconds]: '5' };
  const cases: Array<{ name: string; pod: V1Pod; now: Date; kind: string; waitMs?: number }> = [
    { name: 'ignores pods that did not opt in', pod: pod({}), now: at(10_000), kind: 'ignore' },
    { name: 'ignores pods that are not Running yet', pod: pod(opted, { phase: 'Pending' }), now: at(10_000), kind: 'ignore' },
    { name: 'ignores pods being deleted (the preemption path belongs to Kubernetes)', pod: pod(opted, { deleting: true }), now: at(10_000), kind: 'ignore' },
    { name: 'waits for the rest of the run', pod: pod(opted), now: at(2_000), kind: 'wait', waitMs: 3_000 },
    { name: 'finishes once the run time has passed since the container started', pod: pod(opted), now: at(5_000), kind: 'finish' },
  ];
  it.each(cases)('$name', ({ pod: p, now, kind, waitMs }) => {
    const d = decide(p, now);
    expect(d.kind).toBe(kind);
    if (d.kind === 'wait') expect(d.ms).toBe(waitMs);
  });
});

describe('terminatedStatus', () => {
  it('writes the kubelet-shaped terminated state with the termination message on every container', () => {
    const run = simulatedRunOf(pod({ [SIM.runSeconds]: '1' }));
    if (!run) throw new Error('expected a run');
    const body = terminatedStatus(pod({}), run, started, at(1000), '{"outputCID":"bafy"}');
    expect(body.status).toMatchObject({
      phase: 'Succeeded',
      containerStatuses: [{ name: 'main', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"outputCID":"bafy"}' } } }],
    });
    expect(body.status.conditions).toEqual([
      expect.objectContaining({ type: 'Ready', status: 'False' }),
      expect.objectContaining({ type: 'ContainersReady', status: 'False' }),
    ]);
  });
});

describe('outputObject', () => {
  // Two pods of the same work as pod-template.ts builds them, on different providers, jobs and attempts.
  const workPod = (over: {
    name: string;
    uid: string;
    node: string;
    attempt: string;
    args?: string[];
    deterministic?: boolean;
    env?: Record<string, string>;
  }): V1Pod => ({
    metadata: {
      name: over.name,
      namespace: 'flotilla-workloads',
      uid: over.uid,
      annotations: { [SIM.runSeconds]: '3', [SIM.output]: 'loss=0.41', ...(over.deterministic === false ? {} : { [SIM.deterministic]: 'true' }) },
    },
    spec: {
      nodeName: over.node,
      containers: [
        {
          name: 'main',
          image: 'img@sha256:' + 'c'.repeat(64),
          command: ['python', 'train.py'],
          args: over.args ?? ['--epochs', '3'],
          env: [
            { name: 'LR', value: '0.001' },
            { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: `${over.name}-env`, key: 'HF_TOKEN' } } },
            { name: 'MASTER_ADDR', value: `r0.${over.name}-a${over.attempt}` },
            { name: 'MASTER_PORT', value: '29500' },
            { name: 'RANK', value: '0' },
            { name: 'FLOTILLA_JOB_UID', value: over.uid },
            { name: 'FLOTILLA_JOB_NAME', value: `ns/${over.name}` },
            { name: 'FLOTILLA_ATTEMPT', value: over.attempt },
            { name: 'FLOTILLA_REPORT_TOKEN', value: `token-${over.uid}` },
            { name: 'FLOTILLA_INPUT_DATASET_CID', value: 'bafkreidataset' },
            ...Object.entries(over.env ?? {}).map(([name, value]) => ({ name, value })),
          ],
        },
      ],
    },
  });
  const run = (p: V1Pod) => {
    const r = simulatedRunOf(p);
    if (!r) throw new Error('expected a run');
    return r;
  };
  const one = workPod({ name: 'job-a-1234abcd-a1-r0', uid: 'uid-a', node: 'provider-a-gpu-0', attempt: '1' });
  const other = workPod({ name: 'job-b-5678ef01-a2-r0', uid: 'uid-b', node: 'provider-b-gpu-3', attempt: '2' });

  it('gives the same bytes for the same work on two providers, jobs and attempts', () => {
    expect(outputObject(one, 'provider-a', run(one))).toBe(outputObject(other, 'provider-b', run(other)));
  });

  it('holds the work and nothing of the run: image, command, args, literal env without Flotilla and rendezvous names, input CIDs, output', () => {
    expect(JSON.parse(outputObject(one, 'provider-a', run(one)))).toEqual({
      args: ['--epochs', '3'],
      command: ['python', 'train.py'],
      env: { FLOTILLA_INPUT_DATASET_CID: 'bafkreidataset', LR: '0.001', MASTER_PORT: '29500', RANK: '0' },
      image: 'img@sha256:' + 'c'.repeat(64),
      output: 'loss=0.41',
    });
  });

  it('gives different bytes for different args, env or inputs', () => {
    const base = outputObject(one, 'provider-a', run(one));
    const args = workPod({ name: 'x', uid: 'u', node: 'n', attempt: '1', args: ['--epochs', '4'] });
    const env = workPod({ name: 'x', uid: 'u', node: 'n', attempt: '1', env: { SEED: '7' } });
    const input = workPod({ name: 'x', uid: 'u', node: 'n', attempt: '1', env: { FLOTILLA_INPUT_EXTRA_CID: 'bafkreiother' } });
    for (const p of [args, env, input]) expect(outputObject(p, 'provider-a', run(p))).not.toBe(base);
  });

  it('names the pod, provider and node without the annotation, so two runs differ', () => {
    const a = workPod({ name: 'job-a-1234abcd-a1-r0', uid: 'uid-a', node: 'provider-a-gpu-0', attempt: '1', deterministic: false });
    const b = workPod({ name: 'job-a-1234abcd-a2-r0', uid: 'uid-a', node: 'provider-b-gpu-0', attempt: '2', deterministic: false });
    expect(outputObject(a, 'provider-a', run(a))).not.toBe(outputObject(b, 'provider-b', run(b)));
    expect(JSON.parse(outputObject(a, 'provider-a', run(a)))).toMatchObject({
      pod: 'flotilla-workloads/job-a-1234abcd-a1-r0',
      provider: 'provider-a',
      node: 'provider-a-gpu-0',
    });
  });

  it('serialises canonically: key order does not change the bytes', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 'x' } })).toBe(canonicalJson({ a: { c: 'x', d: [{ y: 2, z: 1 }] }, b: 1 }));
  });
});

describe('the stand-in checker and noisy outputs (docs/verification.md, Checker mode)', () => {
  const doc = (output: string) => JSON.stringify({ image: 'i', output });
  it('noise moves decimals within ± noise and leaves integers alone', () => {
    const noisy = withNoise('steps=300 loss=0.4127 acc=0.9', 0.001, () => 0.9);
    expect(noisy).toBe('steps=300 loss=0.413500 acc=0.900800');
    expect(withNoise('loss=0.4127', 0, () => 0.9)).toBe('loss=0.4127');
  });
  it('accepts outputs whose numbers agree within the tolerance, rejects others and non-outputs', () => {
    expect(checkerExitCode(doc('steps=300 loss=0.4127'), doc('steps=300 loss=0.413500'), 0.05)).toBe(0);
    expect(checkerExitCode(doc('steps=411 loss=1.5238'), doc('steps=300 loss=0.4127'), 0.05)).toBe(1);
    expect(checkerExitCode(doc('steps=300'), doc('steps=300 loss=0.4'), 0.05)).toBe(1);
    expect(checkerExitCode('not json', doc('steps=300'), 0.05)).toBe(1);
  });
  it('only a pod given both outputs and a tolerance plays the checker', () => {
    const pod = (annotations: Record<string, string>, env: Record<string, string>) =>
      ({
        metadata: { annotations },
        spec: { containers: [{ name: 'main', env: Object.entries(env).map(([name, value]) => ({ name, value })) }] },
      }) as unknown as V1Pod;
    const both = { FLOTILLA_INPUT_VERIFY_ORIGINAL_CID: 'bafy1', FLOTILLA_INPUT_VERIFY_REFERENCE_CID: 'bafy2' };
    expect(checkerOf(pod({ [SIM.checkerTolerance]: '0.05' }, both))).toEqual({ tolerance: 0.05, original: 'bafy1', reference: 'bafy2' });
    expect(checkerOf(pod({ [SIM.checkerTolerance]: '0.05' }, {}))).toBeUndefined();
    expect(checkerOf(pod({}, both))).toBeUndefined();
  });
});
