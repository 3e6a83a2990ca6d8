// Secret copies: exactly the referenced keys go to the provider, keyed by env name; pull Secrets are
// copied whole and typed; pods point at the copies; a missing Secret or key, or a pull Secret that
// is no registry credential, is a TerminalSpecError naming the field; the sweep only ever finds
// names of the attempt's own copies.
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { AIJob } from '../../api/types.ts';
import type { PodCreation } from '../../core/lifecycle/types.ts';
import { TerminalSpecError } from '../../core/terminal-error.ts';
import { buildPod, buildSecretCopies } from './pod-template.ts';
import { copiesOf, copyNames, copyPayload, envCopyName, providerEnv, pullCopyName, referencedSecrets } from './secret-copies.ts';

const UID = '0a1b2c3d-0000-4000-8000-000000000001';
const ID = { name: 'finetune', uid: UID };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const job = (spec: Record<string, unknown> = {}): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'finetune', namespace: 'team', uid: UID },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/out', pin: false },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
  }) as unknown as AIJob;
const secretEnv = {
  env: [
    { name: 'MODE', value: 'train' },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
    { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } },
    { name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'db', key: 'user' } } },
  ],
  imagePullSecrets: [{ name: 'regcred' }],
};
const HUB_SECRETS: Record<string, V1Secret> = {
  db: { type: 'Opaque', data: { user: b64('alice'), password: b64('s3cret'), host: b64('db.internal') } },
  hf: { type: 'Opaque', data: { token: b64('hf_xyz') } },
  regcred: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64('{"auths":{}}') } },
};
const sources = (over: Record<string, V1Secret | undefined> = {}): Map<string, V1Secret> =>
  new Map(
    Object.entries<V1Secret | undefined>({
      ...HUB_SECRETS,
      ...over,
    }).filter((e): e is [string, V1Secret] => e[1] !== undefined),
  );
const creation = (attempt: number): PodCreation => ({
  provider: 'provider-a',
  attempt,
  replicas: [0],
  placement: { provider: 'provider-a', product: 'NVIDIA-H100-80GB-HBM3', resourceName: 'nvidia.com/gpu', nodeSelector: [] },
});
const terminal = (fn: () => unknown): TerminalSpecError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof TerminalSpecError) return err;
    throw err;
  }
  throw new Error('expected a TerminalSpecError');
};

describe('the copies of an attempt', () => {
  it('hold only the referenced keys, keyed by env name, and the pull Secret with its type; immutable, labelled as the attempt', () => {
    const j = job(secretEnv);
    const copies = buildSecretCopies(j, 3, 'lent', 'hub-1', copyPayload(j.spec, sources(), 'team'));
    expect(copies).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        immutable: true,
        metadata: expect.objectContaining({ name: 'finetune-0a1b2c3d-a3-env', namespace: 'lent' }),
        data: { DB_PASSWORD: b64('s3cret'), HF_TOKEN: b64('hf_xyz'), DB_USER: b64('alice') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        immutable: true,
        metadata: expect.objectContaining({ name: 'finetune-0a1b2c3d-a3-pull0', namespace: 'lent' }),
        data: { '.dockerconfigjson': b64('{"auths":{}}') },
      },
    ]);
    for (const c of copies) {
      expect(c.metadata?.labels).toMatchObject({ 'flotilla.dev/job-uid': UID, 'flotilla.dev/attempt': '3', 'flotilla.dev/hub': 'hub-1' });
      expect(c.metadata?.annotations).toEqual({ 'flotilla.dev/job-namespace': 'team', 'flotilla.dev/job-name': 'finetune' });
    }
    expect(copies.map((c) => c.metadata?.name)).toEqual(copyNames(j, 3));
  });

  it('are none for a job that references no Secret', () => {
    const j = job({ env: [{ name: 'MODE', value: 'train' }] });
    expect(copyNames(j, 1)).toEqual([]);
    expect(buildSecretCopies(j, 1, 'lent', 'hub-1', copyPayload(j.spec, new Map(), 'team'))).toEqual([]);
    expect(buildPod(j, creation(1), 0, { namespace: 'lent', priorityClassName: 'p' }, 'hub-1').spec?.imagePullSecrets).toBeUndefined();
  });

  it('keep a dockercfg pull Secret as it is', () => {
    const j = job({ imagePullSecrets: [{ name: 'old' }] });
    const payload = copyPayload(j.spec, sources({ old: { type: 'kubernetes.io/dockercfg', data: { '.dockercfg': b64('{}') } } }), 'team');
    expect(payload).toEqual({ pulls: [{ type: 'kubernetes.io/dockercfg', data: { '.dockercfg': b64('{}') } }] });
  });

  it('differ per attempt and per job', () => {
    expect(envCopyName(ID, 1)).not.toBe(envCopyName(ID, 2));
    expect(envCopyName(ID, 1)).not.toBe(envCopyName({ ...ID, uid: 'ffffffff-1' }, 1));
    expect(pullCopyName(ID, 1, 0)).not.toBe(pullCopyName(ID, 1, 1));
  });
});

describe('the pod of an attempt', () => {
  it('takes each Secret-backed variable from the copy and pulls with the copies; literal values stay literal', () => {
    const j = job({ ...secretEnv, imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror' }] });
    const pod = buildPod(j, creation(2), 0, { namespace: 'lent', priorityClassName: 'p' }, 'hub-1');
    const env = pod.spec?.containers[0]?.env ?? [];
    expect(env.slice(0, 4)).toEqual([
      { name: 'MODE', value: 'train' },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'finetune-0a1b2c3d-a2-env', key: 'DB_PASSWORD' } } },
      { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'finetune-0a1b2c3d-a2-env', key: 'HF_TOKEN' } } },
      { name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'finetune-0a1b2c3d-a2-env', key: 'DB_USER' } } },
    ]);
    // Nothing of the hub's names reaches the provider.
    expect(JSON.stringify(pod)).not.toMatch(/"(db|hf|regcred|mirror)"/);
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'finetune-0a1b2c3d-a2-pull0' }, { name: 'finetune-0a1b2c3d-a2-pull1' }]);
  });

  it("is what the sweep reads the copies from, and only the attempt's own names", () => {
    const j = job(secretEnv);
    const pod = buildPod(j, creation(2), 0, { namespace: 'lent', priorityClassName: 'p' }, 'hub-1');
    expect(copiesOf(pod, ID, 2).sort()).toEqual(['finetune-0a1b2c3d-a2-env', 'finetune-0a1b2c3d-a2-pull0']);
    expect(copiesOf(pod, ID, 1)).toEqual([]);
    const foreign: V1Pod = {
      spec: {
        containers: [{ name: 'm', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'flotilla-hub-token', key: 'token' } } }] }],
        imagePullSecrets: [{ name: 'finetune-0a1b2c3d-a2-pullx' }],
      },
    };
    expect(copiesOf(foreign, ID, 2)).toEqual([]);
  });

  it("keeps providerEnv's order and names, so rendezvous defaults still yield to the job's own", () => {
    expect(providerEnv(job(secretEnv), 1).map((e) => e.name)).toEqual(['MODE', 'DB_PASSWORD', 'HF_TOKEN', 'DB_USER']);
  });
});

describe('what ends the job, naming the field', () => {
  it.each([
    [
      'a missing Secret',
      { db: undefined },
      'spec.env[1].valueFrom.secretKeyRef.name',
      /spec\.env\[1\]\.valueFrom\.secretKeyRef\.name: Secret db does not exist in namespace team/,
    ],
    [
      'a missing key',
      { hf: { type: 'Opaque', data: { other: b64('x') } } },
      'spec.env[2].valueFrom.secretKeyRef.key',
      /Secret hf in namespace team has no key token/,
    ],
    ['a missing pull Secret', { regcred: undefined }, 'spec.imagePullSecrets[0].name', /spec\.imagePullSecrets\[0\]\.name: Secret regcred does not exist/],
    [
      'a pull Secret that is no registry credential',
      { regcred: { type: 'Opaque', data: { '.dockerconfigjson': b64('{}') } } },
      'spec.imagePullSecrets[0].name',
      /is of type Opaque, not a registry credential/,
    ],
    [
      'a dockerconfigjson Secret without its key',
      { regcred: { type: 'kubernetes.io/dockerconfigjson', data: {} } },
      'spec.imagePullSecrets[0].name',
      /without \.dockerconfigjson/,
    ],
  ])('%s', (_what, over, field, message) => {
    const err = terminal(() => copyPayload(job(secretEnv).spec, sources(over), 'team'));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('reads each hub Secret once, named by the first field that references it', () => {
    expect(referencedSecrets(job(secretEnv).spec)).toEqual([
      { name: 'db', field: 'spec.env[1].valueFrom.secretKeyRef.name' },
      { name: 'hf', field: 'spec.env[2].valueFrom.secretKeyRef.name' },
      { name: 'regcred', field: 'spec.imagePullSecrets[0].name' },
    ]);
  });
});
