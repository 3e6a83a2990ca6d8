import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { attemptKey, containerOrder, deletionGraceSeconds, execAction, podLayout, terminationGraceSeconds } from './process-plan.ts';
import type { ExecAction } from './process-plan.ts';
import { SIM } from './workload.ts';

const at = new Date('2026-11-23T10:00:00Z');
const c = (name: string, over: Partial<V1Container> = {}): V1Container => ({ name, image: 'img', ...over });

function pod(
  over: { exec?: boolean; phase?: string; node?: string; deleting?: boolean; grace?: number; deletionGrace?: number; labels?: Record<string, string> } = {},
): V1Pod {
  return {
    metadata: {
      name: 'trainer-a1-r0',
      namespace: 'lent',
      uid: '0123456789abcdef',
      annotations: over.exec === false ? {} : { [SIM.exec]: 'true', [SIM.runSeconds]: '5' },
      ...(over.labels ? { labels: over.labels } : {}),
      ...(over.deleting ? { deletionTimestamp: at } : {}),
      ...(over.deletionGrace !== undefined ? { deletionGracePeriodSeconds: over.deletionGrace } : {}),
    },
    spec: {
      ...(over.node === '' ? {} : { nodeName: over.node ?? 'gpu-node-1' }),
      ...(over.grace !== undefined ? { terminationGracePeriodSeconds: over.grace } : {}),
      initContainers: [c('fetch'), c('agent', { restartPolicy: 'Always' }), c('restore')],
      containers: [c('main'), c('helper')],
    },
    status: { phase: over.phase ?? 'Running' },
  };
}

describe('execAction', () => {
  const cases: Array<[string, V1Pod, boolean, ExecAction]> = [
    ['a pod without the exec annotation is not ours (the simulated mode handles run-seconds)', pod({ exec: false }), false, 'ignore'],
    ['a bound Running exec pod is started, even with other sim annotations', pod(), false, 'start'],
    ['a pending pod waits for KWOK to report it Running', pod({ phase: 'Pending' }), false, 'ignore'],
    ['an unbound pod is not started', pod({ node: '' }), false, 'ignore'],
    ['a pod being deleted is never started', pod({ deleting: true }), false, 'ignore'],
    ['a started pod keeps its processes when seen again (re-list)', pod(), true, 'keep'],
    ['a started pod keeps its processes after its status says it ended', pod({ phase: 'Succeeded' }), true, 'keep'],
    ['a started pod being deleted is stopped', pod({ deleting: true }), true, 'stop'],
  ];
  it.each(cases)('%s', (_name, p, started, expected) => expect(execAction(p, started)).toBe(expected));
});

describe('containerOrder', () => {
  it('runs init containers as declared, marking restartPolicy Always ones as sidecars, then the regular containers', () => {
    const order = containerOrder(pod());
    expect(order.init.map((s) => [s.container.name, s.role])).toEqual([
      ['fetch', 'init'],
      ['agent', 'sidecar'],
      ['restore', 'init'],
    ]);
    expect(order.main.map((s) => [s.container.name, s.role])).toEqual([
      ['main', 'main'],
      ['helper', 'main'],
    ]);
  });

  it('has nothing to run for a pod without containers', () => {
    expect(containerOrder({ metadata: {} })).toEqual({ init: [], main: [] });
  });
});

describe('grace periods', () => {
  const cases: Array<[string, V1Pod, number, number]> = [
    ['the kubelet default of 30 s when the pod sets none', pod(), 30, 30],
    ['the pod’s terminationGracePeriodSeconds', pod({ grace: 5 }), 5, 5],
    ['a deletion’s own grace period wins for the deletion', pod({ grace: 5, deletionGrace: 2 }), 5, 2],
    ['a deletion grace of 0 (KWOK deletes with 0) falls back to the pod’s', pod({ grace: 5, deletionGrace: 0 }), 5, 5],
    ['at most 120 s', pod({ grace: 3600, deletionGrace: 600 }), 120, 120],
  ];
  it.each(cases)('%s', (_name, p, termination, deletion) => {
    expect(terminationGraceSeconds(p)).toBe(termination);
    expect(deletionGraceSeconds(p)).toBe(deletion);
  });
});

describe('attemptKey', () => {
  it('is shared by the replicas of one attempt at one provider', () => {
    const labels = { 'flotilla.dev/job-uid': 'job-1', 'flotilla.dev/attempt': '2' };
    const r1 = { ...pod({ labels }), metadata: { ...pod({ labels }).metadata, name: 'r1', uid: 'other' } };
    expect(attemptKey('provider-a', pod({ labels }))).toBe('provider-a/job-1/2');
    expect(attemptKey('provider-a', r1)).toBe('provider-a/job-1/2');
    expect(attemptKey('provider-b', pod({ labels }))).not.toBe(attemptKey('provider-a', pod({ labels })));
    expect(attemptKey('provider-a', pod({ labels: { ...labels, 'flotilla.dev/attempt': '3' } }))).not.toBe('provider-a/job-1/2');
  });

  it('makes a pod without the labels its own attempt', () => {
    expect(attemptKey('provider-a', pod())).toBe('provider-a/pod/0123456789abcdef');
  });
});

describe('podLayout', () => {
  it('puts a pod under <root>/<provider>/<namespace>/<name>-<uid8>', () => {
    const l = podLayout('/state/exec', 'provider-b', pod());
    expect(l.dir).toBe('/state/exec/provider-b/lent/trainer-a1-r0-01234567');
    expect(l.podFile).toBe(`${l.dir}/pod.json`);
    expect(l.volume('flotilla-output')).toBe(`${l.dir}/volumes/flotilla-output`);
    expect(l.log('main')).toBe(`${l.dir}/containers/main/log`);
    expect(l.terminationLog('main')).toBe(`${l.dir}/containers/main/termination-log`);
  });
});
