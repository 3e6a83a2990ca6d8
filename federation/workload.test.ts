import type { V1Pod } from '@kubernetes/client-node';
import { decide, simulatedRunOf, terminatedStatus, SIM } from './workload.ts';

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
