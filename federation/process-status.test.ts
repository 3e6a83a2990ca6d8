import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { execStatus, exitCodeOf, logTail, lostStatus, podSucceeded, terminationMessageOf } from './process-status.ts';
import type { ContainerExit } from './process-status.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T10:00:05Z');
const exit = (exitCode: number, message = ''): ContainerExit => ({ exitCode, startedAt: t0, finishedAt: t1, message });

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'lent' },
  spec: {
    initContainers: [
      { name: 'fetch', image: 'curl' },
      { name: 'agent', image: 'operator', restartPolicy: 'Always' },
    ],
    containers: [{ name: 'main', image: 'trainer' }],
  },
};

type Status = {
  phase: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
  containerStatuses: V1ContainerStatus[];
  initContainerStatuses?: V1ContainerStatus[];
};
const statusOf = (exits: Record<string, ContainerExit>) => execStatus(pod, new Map(Object.entries(exits)), t1).status as unknown as Status;

describe('exitCodeOf', () => {
  it('is the exit code, or 128 + the signal number for a death by signal', () => {
    expect(exitCodeOf(0, undefined)).toBe(0);
    expect(exitCodeOf(3, undefined)).toBe(3);
    expect(exitCodeOf(null, 15)).toBe(143);
    expect(exitCodeOf(null, 9)).toBe(137);
  });
});

describe('terminationMessageOf', () => {
  const log = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const cases: Array<[string, string | undefined, number, string, string]> = [
    ['the termination-log file, when written', 'FallbackToLogsOnError', 1, '{"outputCID":"bafy"}', '{"outputCID":"bafy"}'],
    ['an empty file on success stays empty', 'FallbackToLogsOnError', 0, '', ''],
    ['an empty file on failure without the fallback stays empty', undefined, 1, '', ''],
    [
      'an empty file on failure with FallbackToLogsOnError gives the last 80 log lines',
      'FallbackToLogsOnError',
      2,
      '',
      log.split('\n').slice(20, 100).join('\n'),
    ],
  ];
  it.each(cases)('%s', (_name, policy, code, file, expected) =>
    expect(terminationMessageOf(policy ? { terminationMessagePolicy: policy } : {}, code, file, log)).toBe(expected),
  );

  it('caps the file at 4096 bytes and the log tail at 2048, on character boundaries', () => {
    expect(Buffer.byteLength(terminationMessageOf({}, 0, 'é'.repeat(3000), ''))).toBe(4096);
    const tail = logTail('€'.repeat(1000));
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(2048);
    expect(tail).toMatch(/^€+$/);
  });
});

describe('execStatus', () => {
  it('succeeds when main exited 0, with every container terminated and the sidecar’s own message', () => {
    const status = statusOf({ fetch: exit(0), agent: exit(143, '{"outputCID":"bafyout"}'), main: exit(0, 'done') });
    expect(status.phase).toBe('Succeeded');
    expect(status.containerStatuses).toEqual([
      {
        name: 'main',
        image: 'trainer',
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: t0, finishedAt: t1, message: 'done' } },
      },
    ]);
    expect(
      status.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.exitCode, s.state?.terminated?.reason, s.state?.terminated?.message]),
    ).toEqual([
      ['fetch', 0, 'Completed', undefined],
      ['agent', 143, 'Error', '{"outputCID":"bafyout"}'],
    ]);
    expect(status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'PodCompleted'],
      ['ContainersReady', 'False', 'PodCompleted'],
    ]);
  });

  it('fails when main exits non-zero, whatever the sidecar did', () => {
    const status = statusOf({ fetch: exit(0), agent: exit(0), main: exit(2, 'boom') });
    expect(status.phase).toBe('Failed');
    expect(status.containerStatuses[0]?.state?.terminated).toMatchObject({ exitCode: 2, reason: 'Error', message: 'boom' });
  });

  it('fails at a regular init container: main never ran and waits PodInitializing, the pod is not Initialized', () => {
    const status = statusOf({ fetch: exit(3, 'no gateway') });
    expect(status.phase).toBe('Failed');
    expect(status.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error', message: 'no gateway' });
    expect(status.initContainerStatuses?.[1]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(status.containerStatuses[0]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(status.conditions.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
  });

  it('keeps a given reason (a process that could not start)', () => {
    const status = statusOf({ fetch: exit(0), main: { ...exit(128, 'no command'), reason: 'StartError' } });
    expect(status.containerStatuses[0]?.state?.terminated).toMatchObject({ exitCode: 128, reason: 'StartError' });
  });

  it('has no initContainerStatuses for a pod without init containers', () => {
    const plain: V1Pod = { metadata: {}, spec: { containers: [{ name: 'main' }] } };
    expect(execStatus(plain, new Map([['main', exit(0)]]), t1).status).not.toHaveProperty('initContainerStatuses');
    expect(podSucceeded(plain, new Map([['main', exit(0)]]))).toBe(true);
  });
});

describe('lostStatus', () => {
  it('fails every container with ContainerStatusUnknown (137), as a kubelet does for containers it cannot find', () => {
    const status = lostStatus(pod, t0, t1).status as unknown as Status;
    expect(status.phase).toBe('Failed');
    expect([...(status.initContainerStatuses ?? []), ...status.containerStatuses].map((s) => s.state?.terminated?.reason)).toEqual([
      'ContainerStatusUnknown',
      'ContainerStatusUnknown',
      'ContainerStatusUnknown',
    ]);
  });
});
