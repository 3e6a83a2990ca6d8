// Real-process mode of the executor (sim.flotilla.dev/exec): a pod's containers run as processes on
// this machine, with volumes as host directories, the kubelet's init/sidecar order, termination
// messages, deletion grace and one loopback rendezvous port per attempt.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { podLayout } from '../../federation/process-plan.ts';
import type { PodLayout } from '../../federation/process-plan.ts';
import { SIM } from '../../federation/workload.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, gpuPod, pollUntil, uniqueName, waitForPod } from '../support/federation.ts';

const PROVIDER = 'provider-b';
const ep = federation();
const { core } = clusterClients(PROVIDER);
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(core, 't-exec-proc');
});
afterAll(async () => {
  await deleteNamespace(core, ns);
});

/** An exec-mode pod on any node of the provider (no GPU: the test must not wait for free GPUs). */
function execPod(name: string, spec: Partial<V1PodSpec>, labels?: Record<string, string>): V1Pod {
  const base = gpuPod(name, { gpus: 0, annotations: { [SIM.exec]: 'true' } });
  return { metadata: { ...base.metadata, ...(labels ? { labels } : {}) }, spec: { ...(base.spec as V1PodSpec), ...spec } };
}

async function create(pod: V1Pod): Promise<PodLayout> {
  const created = await core.createNamespacedPod({ namespace: ns, body: pod });
  return podLayout(join(ep.stateDir, 'exec'), PROVIDER, created);
}

const ended = (p: V1Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const py = (script: string, ...args: string[]): Pick<V1Container, 'command' | 'args'> => ({ command: ['python3', '-c', script], args });
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readPid = (file: string) => Number(readFileSync(file, 'utf8'));

// Python, not shell: a shell's $$ would be Kubernetes' escaped $ (expansion of $(VAR) applies here too).
const SIDECAR = `
import json, os, signal, sys, time
shared, message, ready = sys.argv[1:4]
def term(*_):
    seen = open(shared).read() if os.path.exists(shared) else None
    open(message, 'w').write(json.dumps({'signal': 'SIGTERM', 'seen': seen}))
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
open(ready, 'w').write('ready')
while True:
    time.sleep(0.05)
`;
const MAIN_WRITER = `
import os, time
deadline = time.time() + 10
while not os.path.exists(os.environ['READY']) and time.time() < deadline:
    time.sleep(0.05)
open(os.environ['OUT'], 'w').write('hello from main')
open(os.environ['FLOTILLA_TERMINATION_LOG'], 'w').write('main wrote out.txt')
`;
const GRACEFUL = `
import signal, sys, time
pid_file, marker = sys.argv[1:3]
def term(*_):
    open(marker, 'w').write('terminated gracefully')
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
open(pid_file, 'w').write(str(__import__('os').getpid()))
while True:
    time.sleep(0.05)
`;
const STUBBORN = `
import os, signal, sys, time
pid_file, marker = sys.argv[1:3]
signal.signal(signal.SIGTERM, lambda *_: open(marker, 'w').write('ignored SIGTERM'))
open(pid_file, 'w').write(str(os.getpid()))
while True:
    time.sleep(0.05)
`;
const RENDEZVOUS = `
import json, os, socket, time
addr, port = os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT'])
if os.environ['RANK'] == '0':
    server = socket.create_server((addr, port))
    conn, _ = server.accept()
    got = conn.recv(64).decode()
else:
    deadline = time.time() + 20
    while True:
        try:
            conn = socket.create_connection((addr, port))
            break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    conn.sendall(b'hello rank 0')
    got = 'sent'
env = {k: os.environ.get(k) for k in ['MASTER_ADDR', 'MASTER_PORT', 'PET_MASTER_ADDR', 'PET_MASTER_PORT', 'TOKEN']}
open(os.environ['FLOTILLA_TERMINATION_LOG'], 'w').write(json.dumps({**env, 'got': got}))
`;

describe('the executor in real-process mode', () => {
  it('runs main and a sidecar that share a volume through their own mounts; the sidecar gets SIGTERM after main and reports in initContainerStatuses', async () => {
    const layout = await create(
      execPod('shared', {
        volumes: [{ name: 'shared', emptyDir: {} }],
        initContainers: [
          {
            name: 'watcher',
            image: 'sidecar',
            restartPolicy: 'Always',
            ...py(SIDECAR, '/shared/out.txt', '/dev/termination-log', '/shared/ready'),
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          },
        ],
        containers: [
          {
            name: 'main',
            image: 'trainer',
            ...py(MAIN_WRITER),
            env: [
              { name: 'OUT', value: '/data/out.txt' },
              { name: 'READY', value: '/data/ready' },
            ],
            volumeMounts: [{ name: 'shared', mountPath: '/data' }],
          },
        ],
      }),
    );
    const pod = await waitForPod(core, ns, 'shared', ended, 30_000);
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed', message: 'main wrote out.txt' });
    const sidecar = pod.status?.initContainerStatuses?.find((s) => s.name === 'watcher')?.state?.terminated;
    expect(sidecar).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(JSON.parse(sidecar?.message ?? '{}')).toEqual({ signal: 'SIGTERM', seen: 'hello from main' });
    expect(readFileSync(layout.volume('shared') + '/out.txt', 'utf8')).toBe('hello from main');
  });

  it('fails the pod at a failing regular init container; main never runs', async () => {
    const layout = await create(
      execPod('init-fails', {
        volumes: [{ name: 'scratch', emptyDir: {} }],
        initContainers: [
          { name: 'prep', image: 'busybox', command: ['sh', '-c', 'echo prep failed >&2; exit 3'], terminationMessagePolicy: 'FallbackToLogsOnError' },
        ],
        containers: [
          {
            name: 'main',
            image: 'busybox',
            command: ['sh', '-c', 'echo ran > "$1"', 'sh', '/data/ran'],
            volumeMounts: [{ name: 'scratch', mountPath: '/data' }],
          },
        ],
      }),
    );
    const pod = await waitForPod(core, ns, 'init-fails', ended, 30_000);
    expect(pod.status?.phase).toBe('Failed');
    expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error', message: 'prep failed' });
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting).toMatchObject({ reason: 'PodInitializing' });
    expect(existsSync(layout.volume('scratch') + '/ran')).toBe(false);
  });

  it('gives a failing main with FallbackToLogsOnError the last 80 lines of its log as the message', async () => {
    await create(
      execPod('crash', {
        containers: [
          {
            name: 'main',
            image: 'busybox',
            command: ['sh', '-c', 'for i in $(seq 1 100); do echo "line $i"; done; echo boom >&2; exit 2'],
            terminationMessagePolicy: 'FallbackToLogsOnError',
          },
        ],
      }),
    );
    const pod = await waitForPod(core, ns, 'crash', ended, 30_000);
    expect(pod.status?.phase).toBe('Failed');
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    const lines = (terminated?.message ?? '').split('\n');
    expect(lines).toHaveLength(80);
    expect(lines[0]).toBe('line 22');
    expect(lines.at(-1)).toBe('boom');
  });

  it('on deletion sends SIGTERM, gives the grace period even though the pod object is gone, then SIGKILLs', async () => {
    const layout = await create(
      execPod('deleted', {
        terminationGracePeriodSeconds: 3,
        volumes: [{ name: 'state', emptyDir: {} }],
        containers: [
          {
            name: 'graceful',
            image: 'trainer',
            ...py(GRACEFUL, '/state/graceful.pid', '/state/graceful.marker'),
            volumeMounts: [{ name: 'state', mountPath: '/state' }],
          },
          {
            name: 'stubborn',
            image: 'trainer',
            ...py(STUBBORN, '/state/stubborn.pid', '/state/stubborn.marker'),
            volumeMounts: [{ name: 'state', mountPath: '/state' }],
          },
        ],
      }),
    );
    const dir = layout.volume('state');
    await pollUntil('both processes running', async () => existsSync(`${dir}/graceful.pid`) && existsSync(`${dir}/stubborn.pid`), Boolean, 30_000, 100);
    const graceful = readPid(`${dir}/graceful.pid`);
    const stubborn = readPid(`${dir}/stubborn.pid`);
    expect(isAlive(graceful) && isAlive(stubborn)).toBe(true);

    const deletedAt = Date.now();
    await core.deleteNamespacedPod({ name: 'deleted', namespace: ns });
    await pollUntil(
      'the pod object gone (KWOK deletes at once)',
      () =>
        core.readNamespacedPod({ name: 'deleted', namespace: ns }).then(
          () => false,
          () => true,
        ),
      Boolean,
      10_000,
      100,
    );
    await pollUntil('the graceful process to exit after writing its marker', async () => !isAlive(graceful), Boolean, 5_000, 50);
    expect(readFileSync(`${dir}/graceful.marker`, 'utf8')).toBe('terminated gracefully');
    expect(isAlive(stubborn)).toBe(true); // the pod is gone, its grace is not
    await pollUntil('the stubborn process to be killed', async () => !isAlive(stubborn), Boolean, 10_000, 50);
    const killedAfter = Date.now() - deletedAt;
    expect(readFileSync(`${dir}/stubborn.marker`, 'utf8')).toBe('ignored SIGTERM');
    expect(killedAfter).toBeGreaterThanOrEqual(2_500);
    expect(killedAfter).toBeLessThan(7_000);
  });

  it('gives the replicas of one attempt MASTER_ADDR=127.0.0.1 and one MASTER_PORT they really rendezvous on; another attempt gets another port', async () => {
    const secret = uniqueName('token');
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: secret }, stringData: { TOKEN: 'from-the-secret' } } });
    const jobUid = uniqueName('job');
    const replica = (name: string, attempt: number, rank: number) =>
      execPod(
        name,
        {
          containers: [
            {
              name: 'main',
              image: 'trainer',
              ...py(RENDEZVOUS),
              env: [
                { name: 'MASTER_ADDR', value: `r0.${jobUid}-a${attempt}` },
                { name: 'MASTER_PORT', value: '29500' },
                { name: 'PET_MASTER_ADDR', value: `r0.${jobUid}-a${attempt}` },
                { name: 'PET_MASTER_PORT', value: '29500' },
                { name: 'RANK', value: String(rank) },
                { name: 'TOKEN', valueFrom: { secretKeyRef: { name: secret, key: 'TOKEN' } } },
              ],
            },
          ],
        },
        { 'flotilla.dev/job-uid': jobUid, 'flotilla.dev/attempt': String(attempt) },
      );
    await Promise.all([create(replica('a1-r0', 1, 0)), create(replica('a1-r1', 1, 1)), create(replica('a2-r0', 2, 0)), create(replica('a2-r1', 2, 1))]);
    const reports = await Promise.all(
      ['a1-r0', 'a1-r1', 'a2-r0', 'a2-r1'].map(async (name) => {
        const pod = await waitForPod(core, ns, name, ended, 40_000);
        expect(pod.status?.phase).toBe('Succeeded');
        return JSON.parse(pod.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '{}') as Record<string, string>;
      }),
    );
    const [r0, r1, other] = reports;
    expect(r0).toMatchObject({ MASTER_ADDR: '127.0.0.1', PET_MASTER_ADDR: '127.0.0.1', TOKEN: 'from-the-secret', got: 'hello rank 0' });
    expect(r1).toMatchObject({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: r0?.MASTER_PORT, PET_MASTER_PORT: r0?.MASTER_PORT, got: 'sent' });
    expect(r0?.MASTER_PORT).not.toBe('29500');
    expect(other?.MASTER_PORT).not.toBe(r0?.MASTER_PORT);
  });
});
