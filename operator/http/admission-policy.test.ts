import type { AIJob, GPUProvider } from '../api/types.ts';
import { parseNamespacePolicy } from '../core/placement/namespace-policy.ts';
import { DEFAULT_RUNNABLE_LIMITS } from '../core/validation/runnable.ts';
import { gpuProviderNeedsJudging, judgeAIJob, judgeGPUProvider } from './admission-policy.ts';
import type { SecretLookup } from './admission-policy.ts';

function provider(name: string, prices: Record<string, string>, opts: { cordoned?: boolean; inventory?: string[]; key?: string } = {}): GPUProvider {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'GPUProvider',
    metadata: { name },
    spec: {
      kubeconfigSecretRef: { name: `${name}-kubeconfig`, namespace: 'flotilla-system', key: opts.key ?? 'kubeconfig' },
      namespace: 'flotilla-workloads',
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      priorityClassName: 'flotilla-lent',
      cordoned: opts.cordoned ?? false,
      prices: Object.entries(prices).map(([gpuProduct, pricePerGpuHour]) => ({ gpuProduct, pricePerGpuHour })),
    },
    ...(opts.inventory ? { status: { inventory: opts.inventory.map((product) => ({ product })) } } : {}),
  } as GPUProvider;
}

function aijob(spec: Record<string, unknown>): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'j', namespace: 'ns' },
    spec: { image: 'img', replicas: 1, resources: { gpus: 1 }, ...spec },
  } as unknown as AIJob;
}

const fleet = [
  provider('provider-a', { 'NVIDIA-H100-80GB-HBM3': '2.40' }),
  provider('provider-b', { 'NVIDIA-L4': '0.45' }),
  provider('provider-z', { 'NVIDIA-B200': '9' }, { cordoned: true }),
];
const usdc = { token: 'USDC', maxAmount: '10' };

describe('judgeAIJob: what CEL cannot say about an AIJob', () => {
  const cases: Array<{ name: string; spec: Record<string, unknown>; tokens?: string[]; providers?: GPUProvider[]; denials?: RegExp[]; warnings?: RegExp[] }> = [
    {
      name: 'a configured token symbol is accepted',
      spec: { payment: usdc },
      tokens: ['USDC', '0x5FbDB2315678afecb367f032d93F642f64180aa3'],
      providers: fleet,
    },
    {
      name: 'a configured token address is accepted in any letter case',
      spec: { payment: { token: '0x5fbdb2315678afecb367f032d93f642f64180aa3', maxAmount: '1' } },
      tokens: ['USDC', '0x5FbDB2315678afecb367f032d93F642f64180aa3'],
    },
    {
      name: 'a token the operator does not settle in is denied, naming the accepted ones',
      spec: { payment: { token: 'DAI', maxAmount: '1' } },
      tokens: ['USDC', '0x5FbDB2315678afecb367f032d93F642f64180aa3'],
      denials: [/spec.payment.token "DAI" is not a token this operator settles in \(accepted: USDC, 0x5FbD/],
    },
    { name: 'without a token configuration any token passes', spec: { payment: { token: 'DAI', maxAmount: '1' } } },
    { name: 'a job without payment passes the token check', spec: {}, tokens: ['USDC'] },
    {
      name: 'an unknown allowed provider is a warning, not a denial',
      spec: { placement: { allowedProviders: ['provider-q'] } },
      providers: fleet,
      warnings: [/allowedProviders names provider-q, which is not a GPUProvider of this hub \(known: provider-a, provider-b, provider-z\)/],
    },
    {
      name: 'an unknown denied provider is a warning',
      spec: { placement: { deniedProviders: ['nope'] } },
      providers: fleet,
      warnings: [/deniedProviders names nope/],
    },
    {
      name: 'a product no provider prices is a warning',
      spec: { gpu: { products: ['NVIDIA-GB300'] } },
      providers: fleet,
      warnings: [/no GPUProvider of this hub prices NVIDIA-GB300/],
    },
    {
      name: 'a product only a cordoned provider prices is a warning',
      spec: { gpu: { products: ['NVIDIA-B200'] } },
      providers: fleet,
      warnings: [/prices NVIDIA-B200/],
    },
    {
      name: 'a price ceiling below every matching price is a warning',
      spec: { gpu: { products: ['NVIDIA-H100-80GB-HBM3'] }, payment: { ...usdc, maxPricePerGpuHour: '1.5' } },
      providers: fleet,
      warnings: [/maxPricePerGpuHour 1.5 is below every matching GPUProvider price \(cheapest 2.4\)/],
    },
    { name: 'a price ceiling some provider meets passes', spec: { payment: { ...usdc, maxPricePerGpuHour: '0.5' } }, providers: fleet },
    {
      name: 'with the provider cache not synced nothing is concluded from absence',
      spec: { placement: { allowedProviders: ['provider-q'] }, gpu: { products: ['X'] } },
    },
  ];
  it.each(cases)('$name', ({ spec, tokens, providers, denials = [], warnings = [] }) => {
    const verdict = judgeAIJob(aijob(spec), { ...(tokens ? { paymentTokens: tokens } : {}), ...(providers ? { providers } : {}) });
    expect(verdict.denials).toHaveLength(denials.length);
    denials.forEach((re, i) => expect(verdict.denials[i]).toMatch(re));
    expect(verdict.warnings).toHaveLength(warnings.length);
    warnings.forEach((re, i) => expect(verdict.warnings[i]).toMatch(re));
  });
});

describe('judgeAIJob: runnable, within the namespace policy, a callback the policy allows', () => {
  const policy = parseNamespacePolicy({ 'flotilla.dev/default-regions': 'us-east', 'flotilla.dev/default-max-price-per-gpu-hour': '2' });
  const judge = (spec: Record<string, unknown>, extra: Parameters<typeof judgeAIJob>[1] = {}) =>
    judgeAIJob(aijob({ image: 'ghcr.io/x/y:1', output: { path: '/out', pin: true }, ...spec }), { limits: DEFAULT_RUNNABLE_LIMITS, policy, ...extra }).denials;
  it('admits a job inside the policy', () => expect(judge({ payment: usdc, placement: { regions: ['us-east'] } })).toEqual([]));
  it('denies what cannot run, naming the field', () =>
    expect(judge({ env: [{ name: 'LD_PRELOAD', value: 'x' }] })).toEqual([expect.stringMatching(/^spec.env\[0\].name LD_PRELOAD/)]));
  it('denies widening the policy', () =>
    expect(judge({ payment: { ...usdc, maxPricePerGpuHour: '3' }, placement: { regions: ['eu-west'] } })).toEqual([
      expect.stringMatching(/^spec.placement.regions names eu-west/),
      expect.stringMatching(/^spec.payment.maxPricePerGpuHour 3 is above/),
    ]));
  it('denies a job without payment on a paid hub', () =>
    expect(judge({}, { paymentsRequired: true })).toEqual([expect.stringMatching(/^spec.payment is required/)]));
  it('denies every job of a namespace whose policy is unusable, naming the annotation', () => {
    expect(judgeAIJob(aijob({ image: 'a/b:1' }), { policy: parseNamespacePolicy({ 'flotilla.dev/default-regions': 'eu west' }) }).denials).toEqual([
      expect.stringContaining('flotilla.dev/default-regions="eu west"'),
    ]);
  });
  it('denies a callback the callback policy refuses, as that policy words it', () => {
    expect(judge({ callbackURL: 'http://127.0.0.1/' }, { callbackUrlProblem: () => 'spec.callbackURL is loopback' })).toEqual(['spec.callbackURL is loopback']);
  });
});

describe('judgeGPUProvider: the kubeconfig Secret must exist and be readable by the operator', () => {
  const ctx = (secret: SecretLookup) => ({ secret, operatorNamespace: 'flotilla-system' });
  const cases: Array<[string, GPUProvider, SecretLookup, RegExp | undefined]> = [
    ['a Secret with the key passes', provider('p', { A: '1' }), { found: true, keys: ['kubeconfig'] }, undefined],
    [
      'a missing Secret is denied',
      provider('p', { A: '1' }),
      { found: false, why: 'NotFound' },
      /Secret flotilla-system\/p-kubeconfig does not exist; create it \(with the provider's kubeconfig under "kubeconfig"\) before the GPUProvider/,
    ],
    [
      'a Secret without the key is denied',
      provider('p', { A: '1' }, { key: 'config' }),
      { found: true, keys: ['kubeconfig', 'token'] },
      /has no key "config" \(it has: kubeconfig, token\)/,
    ],
    [
      'a Secret the operator may not read is denied, pointing at the chart value',
      provider('p', { A: '1' }),
      { found: false, why: 'Forbidden' },
      /may not read Secret flotilla-system\/p-kubeconfig; list it in the hub chart's providerSecretNames/,
    ],
    [
      'a failed read is denied with its cause',
      provider('p', { A: '1' }),
      { found: false, why: 'Error', detail: 'timeout' },
      /could not read Secret .*: timeout/,
    ],
  ];
  it.each(cases)('%s', (_name, p, secret, denial) => {
    const verdict = judgeGPUProvider(p, ctx(secret));
    if (denial) expect(verdict.denials).toEqual([expect.stringMatching(denial)]);
    else expect(verdict.denials).toEqual([]);
  });
  it("warns about priced products the provider's nodes do not have, once its inventory is known", () => {
    const verdict = judgeGPUProvider(
      provider('p', { 'NVIDIA-L4': '1', 'NVIDIA-H100': '2' }, { inventory: ['NVIDIA-L4'] }),
      ctx({ found: true, keys: ['kubeconfig'] }),
    );
    expect(verdict.warnings).toEqual([expect.stringMatching(/spec.prices names NVIDIA-H100, which no node of this provider has \(it has: NVIDIA-L4\)/)]);
  });
  it('judges an update only when the Secret reference or the prices change', () => {
    const p = provider('p', { A: '1' });
    expect(gpuProviderNeedsJudging(p, undefined)).toBe(true);
    expect(gpuProviderNeedsJudging(p, p)).toBe(false);
    expect(gpuProviderNeedsJudging({ ...p, spec: { ...p.spec, cordoned: true } }, p)).toBe(false);
    expect(gpuProviderNeedsJudging(provider('p', { A: '1' }, { key: 'other' }), p)).toBe(true);
  });
});
