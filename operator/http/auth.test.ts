import type { GPUProvider } from '../api/types.ts';
import { maskUrls, providerSummary } from './api.ts';
import { DecisionCache } from './auth-cache.ts';
import { bearerToken } from './auth.ts';

describe('DecisionCache', () => {
  it('reuses an answer until its TTL, then asks again', async () => {
    let t = 0;
    let asked = 0;
    const cache = new DecisionCache<boolean>({ ttlMs: 10_000, maxEntries: 10, now: () => t });
    const load = async () => {
      asked += 1;
      return true;
    };
    await cache.get('k', load);
    t = 9_999;
    await cache.get('k', load);
    expect(asked).toBe(1);
    t = 10_000;
    await cache.get('k', load);
    expect(asked).toBe(2);
  });

  it('shares one lookup between concurrent callers of a key', async () => {
    let asked = 0;
    let release: (v: boolean) => void = () => undefined;
    const cache = new DecisionCache<boolean>({ ttlMs: 1000, maxEntries: 10 });
    const load = () => {
      asked += 1;
      return new Promise<boolean>((r) => {
        release = r;
      });
    };
    const all = Promise.all([cache.get('k', load), cache.get('k', load), cache.get('k', load)]);
    release(false);
    expect(await all).toEqual([false, false, false]);
    expect(asked).toBe(1);
  });

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const cache = new DecisionCache<string>({ ttlMs: 60_000, maxEntries: 2 });
    const asked: string[] = [];
    const load = (k: string) => async () => {
      asked.push(k);
      return k;
    };
    await cache.get('a', load('a'));
    await cache.get('b', load('b'));
    await cache.get('a', load('a')); // a is now the most recent
    await cache.get('c', load('c')); // drops b
    expect(cache.size).toBe(2);
    await cache.get('a', load('a'));
    await cache.get('b', load('b'));
    expect(asked).toEqual(['a', 'b', 'c', 'b']);
  });

  it('does not cache a failure', async () => {
    const cache = new DecisionCache<boolean>({ ttlMs: 60_000, maxEntries: 2 });
    await expect(
      cache.get('k', async () => {
        throw new Error('apiserver down');
      }),
    ).rejects.toThrow('apiserver down');
    await expect(cache.get('k', async () => true)).resolves.toBe(true);
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def-ghi', 'abc.def-ghi'],
    ['bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Basic dXNlcjpwYXNz', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('%s → %s', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('what the API shows of a provider', () => {
  const provider = {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'GPUProvider',
    metadata: { name: 'provider-a' },
    spec: {
      kubeconfigSecretRef: { name: 'provider-a-kubeconfig', namespace: 'flotilla-system', key: 'kubeconfig' },
      namespace: 'flotilla-workloads',
      region: 'eu-west',
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      prices: [{ product: 'NVIDIA-L4', pricePerGpuHour: '1.00', currency: 'USDC' }],
    },
    status: {
      conditions: [
        {
          type: 'Reachable',
          status: 'True',
          reason: 'Connected',
          message: 'https://10.0.0.7:6443 answers; nodes and pods are watched',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
        {
          type: 'Ready',
          status: 'False',
          reason: 'Unreachable',
          message: 'cannot connect to https://10.0.0.7:6443: connection refused',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    },
  } as unknown as GPUProvider;

  it('has no condition message (they name the API server), no Secret and no provider-side namespace', () => {
    const shown = providerSummary(provider);
    expect(shown).toMatchObject({ name: 'provider-a', region: 'eu-west', ready: false, readyReason: 'Unreachable', reachable: true });
    const text = JSON.stringify(shown);
    for (const secretish of ['10.0.0.7', '6443', 'provider-a-kubeconfig', 'flotilla-workloads']) expect(text).not.toContain(secretish);
  });

  it('masks every URL in a message', () => {
    expect(maskUrls('attempt 0 lost: cannot connect to https://10.0.0.7:6443/api/v1/pods?watch=1 (ECONNREFUSED); see http://x')).toBe(
      'attempt 0 lost: cannot connect to <url> (ECONNREFUSED); see <url>',
    );
    expect(maskUrls('no URL here: 10 GPUs')).toBe('no URL here: 10 GPUs');
  });
});
