import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { envSources, expandVars, fieldValue, mapPath, needsPort, pathMappings, processPlan } from './process-rewrite.ts';
import type { ProcessContext } from './process-rewrite.ts';

const HOST = '/state/exec/provider-b/lent/p-01234567';
const volumeDir = (v: string) => `${HOST}/volumes/${v}`;
const TERMINATION_LOG = `${HOST}/containers/main/termination-log`;

function pod(containers: V1Container[], initContainers: V1Container[] = []): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'lent', uid: '0123456789abcdef', labels: { app: 'x' } },
    spec: {
      nodeName: 'gpu-node-1',
      volumes: [
        { name: 'output', emptyDir: {} },
        { name: 'inputs', emptyDir: {} },
        { name: 'data', emptyDir: {} },
      ],
      initContainers,
      containers,
    },
  };
}

const ctx = (p: V1Pod, over: Partial<ProcessContext> = {}): ProcessContext => ({
  pod: p,
  volumeDir,
  terminationLog: TERMINATION_LOG,
  hostEnv: { PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', SECRET_OF_THE_HOST: 'x', NODE_OPTIONS: '--inspect' },
  sources: new Map(),
  execPath: '/opt/node/bin/node',
  workDir: '/repo',
  ...over,
});

describe('expandVars', () => {
  const vars = { A: 'one', B: 'two' };
  const cases: Array<[string, string, string]> = [
    ['a defined name is replaced', '$(A)/$(B)', 'one/two'],
    ['an undefined name is kept', '$(C) and $(A)', '$(C) and one'],
    ['$$ is a literal $, so $$(A) stays unexpanded', '$$(A) costs $$5', '$(A) costs $5'],
    ['a lone $ and an unclosed reference stay', 'cost $ and $(A', 'cost $ and $(A'],
    ['shell variables are not Kubernetes references', 'echo $HOME ${A}', 'echo $HOME ${A}'],
  ];
  it.each(cases)('%s', (_name, text, expected) => expect(expandVars(text, vars)).toBe(expected));
});

describe('path mapping', () => {
  const main: V1Container = {
    name: 'main',
    volumeMounts: [
      { name: 'output', mountPath: '/output/' },
      { name: 'data', mountPath: '/output/data' },
      { name: 'inputs', mountPath: '/inputs/train', subPath: 'bafyinput', readOnly: true },
    ],
  };
  const mappings = pathMappings(pod([main]), main, volumeDir, TERMINATION_LOG);
  const cases: Array<[string, string, string]> = [
    ['the mountPath itself', '/output', `${HOST}/volumes/output`],
    ['a path below it', '/output/model.pt', `${HOST}/volumes/output/model.pt`],
    ['the longest mountPath wins', '/output/data/shard-0', `${HOST}/volumes/data/shard-0`],
    ['a subPath mount maps into the volume’s subdirectory', '/inputs/train', `${HOST}/volumes/inputs/bafyinput`],
    ['the default termination message path', '/dev/termination-log', TERMINATION_LOG],
    ['a mere prefix of a name is not a path below', '/outputs/x', '/outputs/x'],
    ['a path inside a longer argument is not touched', '--out=/output/x', '--out=/output/x'],
    ['a relative path is not touched', 'output/x', 'output/x'],
  ];
  it.each(cases)('%s', (_name, value, expected) => expect(mapPath(value, mappings)).toBe(expected));

  it('maps a container’s own terminationMessagePath, and ignores mounts of volumes the pod does not have', () => {
    const c: V1Container = { name: 'main', terminationMessagePath: '/tmp/msg', volumeMounts: [{ name: 'nope', mountPath: '/nope' }] };
    const m = pathMappings(pod([c]), c, volumeDir, TERMINATION_LOG);
    expect(mapPath('/tmp/msg', m)).toBe(TERMINATION_LOG);
    expect(mapPath('/dev/termination-log', m)).toBe('/dev/termination-log');
    expect(mapPath('/nope/x', m)).toBe('/nope/x');
  });
});

describe('processPlan', () => {
  it('runs command + args with node as this Node, mapped paths and the host basics only', () => {
    const main: V1Container = {
      name: 'main',
      command: ['node', 'operator/agent/main.ts'],
      args: ['run', '/output', '--flag=/output'],
      env: [
        { name: 'FLOTILLA_OUTPUT_PATH', value: '/output' },
        { name: 'OUT_FILE', value: '$(FLOTILLA_OUTPUT_PATH)/result.json' },
        { name: 'PLAIN', value: 'hello' },
      ],
      volumeMounts: [{ name: 'output', mountPath: '/output' }],
    };
    const p = pod([main]);
    const plan = processPlan(main, ctx(p));
    expect(plan.leftOut).toEqual([]);
    expect(plan.spec).toEqual({
      argv: ['/opt/node/bin/node', 'operator/agent/main.ts', 'run', `${HOST}/volumes/output`, '--flag=/output'],
      env: {
        PATH: '/usr/bin:/bin',
        HOME: '/root',
        LANG: 'C.UTF-8',
        HOSTNAME: 'p',
        FLOTILLA_OUTPUT_PATH: `${HOST}/volumes/output`,
        OUT_FILE: `${HOST}/volumes/output/result.json`,
        PLAIN: 'hello',
        FLOTILLA_TERMINATION_LOG: TERMINATION_LOG,
      },
      cwd: '/repo',
    });
  });

  it('expands $(VAR) in args with the env before mapping, so a mapped value is mapped once', () => {
    const main: V1Container = {
      name: 'main',
      command: ['sh', '-c', 'cp "$1" "$2"', 'sh'],
      args: ['$(SRC)', '$(DATA)/copy'],
      env: [
        { name: 'SRC', value: '/inputs/train' },
        { name: 'DATA', value: '/data' },
      ],
      volumeMounts: [
        { name: 'inputs', mountPath: '/inputs/train', subPath: 'bafyinput' },
        { name: 'data', mountPath: '/data' },
      ],
    };
    expect(processPlan(main, ctx(pod([main]))).spec?.argv).toEqual([
      'sh',
      '-c',
      'cp "$1" "$2"',
      'sh',
      `${HOST}/volumes/inputs/bafyinput`,
      `${HOST}/volumes/data/copy`,
    ]);
  });

  it('points the rendezvous at loopback and the attempt’s port, also where args expand them', () => {
    const main: V1Container = {
      name: 'main',
      command: ['torchrun'],
      args: ['--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)'],
      env: [
        { name: 'MASTER_ADDR', value: 'r0.trainer-01234567-a1' },
        { name: 'MASTER_PORT', value: '29500' },
        { name: 'PET_MASTER_ADDR', value: 'r0.trainer-01234567-a1' },
        { name: 'PET_MASTER_PORT', value: '29500' },
        { name: 'WORLD_SIZE', value: '2' },
      ],
    };
    const spec = processPlan(main, ctx(pod([main]), { masterPort: 41234 })).spec;
    expect(spec?.argv).toEqual(['torchrun', '--rdzv-endpoint=127.0.0.1:41234']);
    expect(spec?.env).toMatchObject({
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: '41234',
      PET_MASTER_ADDR: '127.0.0.1',
      PET_MASTER_PORT: '41234',
      WORLD_SIZE: '2',
    });
  });

  it('reads env from the Secrets and ConfigMaps it could read and the downward API, leaving the rest out', () => {
    const main: V1Container = {
      name: 'main',
      command: ['python3', 'train.py'],
      env: [
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'copy-a1', key: 'TOKEN' } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        { name: 'GONE', valueFrom: { secretKeyRef: { name: 'missing', key: 'x' } } },
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    };
    const p = pod([main]);
    expect(envSources(p)).toEqual([
      { kind: 'secret', name: 'copy-a1', key: 'TOKEN' },
      { kind: 'configMap', name: 'settings', key: 'mode' },
      { kind: 'secret', name: 'missing', key: 'x' },
    ]);
    const plan = processPlan(
      main,
      ctx(p, {
        sources: new Map([
          ['secret/copy-a1/TOKEN', 's3cret'],
          ['configMap/settings/mode', 'fast'],
        ]),
      }),
    );
    expect(plan.spec?.env).toMatchObject({ TOKEN: 's3cret', MODE: 'fast', POD: 'p', APP: 'x', IP: '127.0.0.1' });
    expect(plan.spec?.env).not.toHaveProperty('GONE');
    expect(plan.leftOut.map((l) => l.name)).toEqual(['GONE', 'CPU']);
  });

  it('cannot start a container without a command (there is no image entrypoint)', () => {
    const main: V1Container = { name: 'main', image: 'trainer', args: ['--epochs', '3'] };
    const plan = processPlan(main, ctx(pod([main])));
    expect(plan.spec).toBeUndefined();
    expect(plan.error).toMatch(/no command/);
  });

  it('starts in workingDir when it is inside a mount, else in the repository root', () => {
    const inMount: V1Container = { name: 'a', command: ['true'], workingDir: '/data/run', volumeMounts: [{ name: 'data', mountPath: '/data' }] };
    const elsewhere: V1Container = { name: 'b', command: ['true'], workingDir: '/app' };
    expect(processPlan(inMount, ctx(pod([inMount]))).spec?.cwd).toBe(`${HOST}/volumes/data/run`);
    expect(processPlan(elsewhere, ctx(pod([elsewhere]))).spec?.cwd).toBe('/repo');
  });

  it('lets the container’s own env override the host’s, but not the termination log it is given', () => {
    const main: V1Container = {
      name: 'main',
      command: ['true'],
      env: [
        { name: 'PATH', value: '/custom' },
        { name: 'FLOTILLA_TERMINATION_LOG', value: '/elsewhere' },
      ],
    };
    expect(processPlan(main, ctx(pod([main]))).spec?.env).toMatchObject({ PATH: '/custom', FLOTILLA_TERMINATION_LOG: TERMINATION_LOG });
  });
});

describe('needsPort', () => {
  it('is true when any container, init containers included, declares a rendezvous port', () => {
    expect(needsPort(pod([{ name: 'main', env: [{ name: 'MASTER_PORT', value: '29500' }] }]))).toBe(true);
    expect(needsPort(pod([{ name: 'main' }], [{ name: 'init', env: [{ name: 'PET_MASTER_PORT', value: '1' }] }]))).toBe(true);
    expect(needsPort(pod([{ name: 'main', env: [{ name: 'MASTER_ADDR', value: 'x' }] }]))).toBe(false);
  });
});

describe('fieldValue', () => {
  it('answers the downward API fields it knows and nothing else', () => {
    const p = pod([]);
    expect(fieldValue(p, 'metadata.namespace')).toBe('lent');
    expect(fieldValue(p, 'spec.nodeName')).toBe('gpu-node-1');
    expect(fieldValue(p, "metadata.annotations['none']")).toBeUndefined();
    expect(fieldValue(p, 'status.phase')).toBeUndefined();
  });
});
