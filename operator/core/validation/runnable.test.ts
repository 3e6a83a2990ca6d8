import type { AIJobSpec } from '../../api/types.ts';
import { DURATION_PATTERN } from '../../api/field-schemas.ts';
import { durationSeconds } from '../duration.ts';
import { checkTimestamp, DEFAULT_RUNNABLE_LIMITS, validateRunnable } from './runnable.ts';
import type { RunnableLimits } from './runnable.ts';

const CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const spec = (extra: Record<string, unknown> = {}): AIJobSpec =>
  ({
    image: 'ghcr.io/x/y:1',
    replicas: 1,
    resources: { gpus: 1 },
    output: { path: '/flotilla/output', pin: true },
    recovery: { maxRestarts: 3, strategy: 'Failover' },
    ...extra,
  }) as unknown as AIJobSpec;
const limits: RunnableLimits = {
  ...DEFAULT_RUNNABLE_LIMITS,
  tokens: [{ symbol: 'USDC', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
  checkCid: (c) => (c === CID ? undefined : 'not a CID'),
};
const fields = (s: AIJobSpec, l = limits) => validateRunnable(s, l).map((v) => v.field);

describe('validateRunnable: what must hold for a spec to run', () => {
  it('accepts a plain job and a full one', () => {
    expect(fields(spec())).toEqual([]);
    expect(
      fields(
        spec({
          image: `localhost:5000/team/trainer:1@sha256:${'a'.repeat(64)}`,
          env: [{ name: 'WANDB_MODE', value: 'x' }],
          inputs: [
            { name: 'a', cid: CID, mountPath: '/data/a' },
            { name: 'b', cid: CID, mountPath: '/data/b' },
          ],
          checkpoint: { path: '/ckpt', every: '1h30m' },
          deadline: '2028-02-29T00:00:00Z',
          payment: { token: 'USDC', maxAmount: '250.123456', maxPricePerGpuHour: '3' },
          resources: { gpus: 1, cpu: '500m', memory: '16Gi' },
          podAnnotations: { 'sim.flotilla.dev/run-seconds': '5', plain: 'x' },
        }),
      ),
    ).toEqual([]);
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an image the grammar refuses', { image: 'Ghcr.io/X/Y' }, 'spec.image'],
    ['an image with a short digest', { image: 'r/x@sha256:abcd' }, 'spec.image'],
    ['LD_PRELOAD', { env: [{ name: 'LD_PRELOAD', value: 'x' }] }, 'spec.env[0].name'],
    [
      'LD_LIBRARY_PATH',
      {
        env: [
          { name: 'A', value: '' },
          { name: 'LD_LIBRARY_PATH', value: 'x' },
        ],
      },
      'spec.env[1].name',
    ],
    ['DYLD_INSERT_LIBRARIES', { env: [{ name: 'DYLD_INSERT_LIBRARIES', value: 'x' }] }, 'spec.env[0].name'],
    ['FLOTILLA_REPORT_URL', { env: [{ name: 'FLOTILLA_REPORT_URL', value: 'x' }] }, 'spec.env[0].name'],
    ['a mount at /', { inputs: [{ name: 'a', cid: CID, mountPath: '/' }] }, 'spec.inputs[0].mountPath'],
    ['a mount under /proc', { inputs: [{ name: 'a', cid: CID, mountPath: '/proc/1' }] }, 'spec.inputs[0].mountPath'],
    ['a mount through ..', { inputs: [{ name: 'a', cid: CID, mountPath: '/a/../../etc' }] }, 'spec.inputs[0].mountPath'],
    ['a relative mount', { inputs: [{ name: 'a', cid: CID, mountPath: 'data' }] }, 'spec.inputs[0].mountPath'],
    ['an output under /etc', { output: { path: '/etc/out', pin: true } }, 'spec.output.path'],
    ['a checkpoint at /dev/shm', { checkpoint: { path: '/dev/shm', every: '10m' } }, 'spec.checkpoint.path'],
    ['an input over the output', { inputs: [{ name: 'a', cid: CID, mountPath: '/flotilla/output' }] }, 'spec.output.path'],
    [
      'nested inputs',
      {
        inputs: [
          { name: 'a', cid: CID, mountPath: '/d' },
          { name: 'b', cid: CID, mountPath: '/d/e' },
        ],
      },
      'spec.inputs[1].mountPath',
    ],
    ['a checkpoint inside the output', { checkpoint: { path: '/flotilla/output/ck', every: '10m' } }, 'spec.checkpoint.path'],
    ['a CID the parser refuses', { inputs: [{ name: 'a', cid: 'bafyxyz', mountPath: '/d' }] }, 'spec.inputs[0].cid'],
    ['more decimals than the token has', { payment: { token: 'USDC', maxAmount: '1.0000001' } }, 'spec.payment.maxAmount'],
    [
      'a price with more decimals than the token has',
      { payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.0000001' } },
      'spec.payment.maxPricePerGpuHour',
    ],
    ["an amount beyond the escrow's uint96", { payment: { token: 'USDC', maxAmount: '79228162514264337593544' } }, 'spec.payment.maxAmount'],
    ['31 February', { deadline: '2026-02-31T00:00:00Z' }, 'spec.deadline'],
    ['29 February of a common year', { deadline: '2026-02-29T00:00:00Z' }, 'spec.deadline'],
    ['a milliseconds interval', { checkpoint: { path: '/c', every: '1m500ms' } }, 'spec.checkpoint.every'],
    ['a cpu above the maximum', { resources: { gpus: 1, cpu: 2000 } }, 'spec.resources.cpu'],
    ['memory above the maximum', { resources: { gpus: 1, memory: '17Ti' } }, 'spec.resources.memory'],
    ['memory that is not a quantity', { resources: { gpus: 1, memory: 'lots' } }, 'spec.resources.memory'],
    ['an annotation key with a space', { podAnnotations: { 'bad key!': 'x' } }, 'spec.podAnnotations[bad key!]'],
    ['an annotation name of 64 characters', { podAnnotations: { ['a'.repeat(64)]: 'x' } }, `spec.podAnnotations[${'a'.repeat(64)}]`],
    [
      'an AppArmor override',
      { podAnnotations: { 'container.apparmor.security.beta.kubernetes.io/main': 'unconfined' } },
      'spec.podAnnotations[container.apparmor.security.beta.kubernetes.io/main]',
    ],
    [
      'a seccomp override',
      { podAnnotations: { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' } },
      'spec.podAnnotations[seccomp.security.alpha.kubernetes.io/pod]',
    ],
    ['a Multus network', { podAnnotations: { 'k8s.v1.cni.cncf.io/networks': 'host-net' } }, 'spec.podAnnotations[k8s.v1.cni.cncf.io/networks]'],
    [
      'safe-to-evict',
      { podAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } },
      'spec.podAnnotations[cluster-autoscaler.kubernetes.io/safe-to-evict]',
    ],
    ['karpenter do-not-disrupt', { podAnnotations: { 'karpenter.sh/do-not-disrupt': 'true' } }, 'spec.podAnnotations[karpenter.sh/do-not-disrupt]'],
    ['annotations over the size bound', { podAnnotations: { a: 'x'.repeat(40_000), b: 'y'.repeat(30_000) } }, 'spec.podAnnotations'],
  ];
  it.each(cases)('refuses %s, naming the field', (_name, extra, field) => {
    const got = validateRunnable(spec(extra), limits);
    expect(got.map((v) => v.field)).toEqual([field]);
    expect(got[0]?.message.startsWith(field)).toBe(true);
  });

  it('lets a hub turn the annotation deny-list off', () => {
    expect(fields(spec({ podAnnotations: { 'karpenter.sh/do-not-disrupt': 'true' } }), { ...limits, deniedPodAnnotations: [] })).toEqual([]);
  });

  it('treats a hub maximum as inclusive', () => {
    expect(fields(spec({ resources: { gpus: 1, cpu: '4' } }), { ...limits, maxCpu: '4' })).toEqual([]);
    expect(fields(spec({ resources: { gpus: 1, cpu: '4001m' } }), { ...limits, maxCpu: '4' })).toEqual(['spec.resources.cpu']);
  });
});

describe('checkTimestamp', () => {
  it.each(['2026-12-31T23:59:59Z', '2028-02-29T00:00:00.5+05:30', '2000-02-29T00:00:00Z'])('accepts %s', (t) => expect(checkTimestamp('d', t)).toBeUndefined());
  it.each(['2026-02-31T00:00:00Z', '1900-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', 'tomorrow'])(
    'refuses %s',
    (t) => expect(checkTimestamp('d', t)).toMatch(/^d "/),
  );
});

describe('durations: the CRD pattern and core/duration.ts agree', () => {
  const pattern = new RegExp(DURATION_PATTERN);
  const parses = (s: string) => {
    try {
      durationSeconds(s);
      return true;
    } catch {
      return false;
    }
  };
  it.each(['30s', '10m', '1h30m', '1h', '90s', '2h0m5s', '1m500ms', '500ms', '1.5h', '10', '', 'm', '1d', '1h 30m'])('%s', (s) => {
    expect(pattern.test(s)).toBe(parses(s));
  });
});
