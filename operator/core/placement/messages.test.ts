import { formatTokenAmount, formatUnschedulableMessage } from './messages.ts';
import type { ProviderRejection } from './types.ts';

describe('formatTokenAmount', () => {
  const cases: { name: string; amount: bigint; decimals: number; want: string }[] = [
    { name: 'keeps two places for whole cents', amount: 3_200_000n, decimals: 6, want: '3.20' },
    { name: 'keeps every significant place', amount: 2_512_345n, decimals: 6, want: '2.512345' },
    { name: 'writes amounts below one with a leading zero', amount: 50_000n, decimals: 6, want: '0.05' },
    { name: 'writes zero as 0.00', amount: 0n, decimals: 6, want: '0.00' },
    { name: 'handles 18-decimal tokens', amount: 1_500_000_000_000_000_000n, decimals: 18, want: '1.50' },
    { name: 'handles tokens without decimals', amount: 42n, decimals: 0, want: '42' },
  ];
  it.each(cases)('$name', ({ amount, decimals, want }) => {
    expect(formatTokenAmount(amount, decimals)).toBe(want);
  });
});

describe('formatUnschedulableMessage', () => {
  const reject = (provider: string, message: string): ProviderRejection => ({ provider, reason: 'NotReady', message });

  const cases: { name: string; rejections: ProviderRejection[]; maxLength?: number; want: string }[] = [
    {
      name: 'lists every provider in name order',
      rejections: [reject('provider-b', 'cordoned'), reject('provider-a', 'price 3.20/GPU-h exceeds max 2.50')],
      want: '0/2 providers can run the job: provider-a: price 3.20/GPU-h exceeds max 2.50; provider-b: cordoned',
    },
    {
      name: 'groups providers that give the same reason',
      rejections: [reject('c', 'not Ready (Unreachable)'), reject('a', 'not Ready (Unreachable)'), reject('b', 'cordoned')],
      want: '0/3 providers can run the job: a, c: not Ready (Unreachable); b: cordoned',
    },
    {
      name: 'says when there is no provider at all',
      rejections: [],
      want: 'no GPUProvider is registered',
    },
    {
      name: 'drops whole entries past the limit and counts the providers left out',
      rejections: Array.from({ length: 30 }, (_, i) => reject(`provider-${String(i).padStart(2, '0')}`, `reason number ${i}`)),
      maxLength: 160,
      want: '0/30 providers can run the job: provider-00: reason number 0; provider-01: reason number 1; provider-02: reason number 2; … and 27 more providers',
    },
  ];
  it.each(cases)('$name', ({ rejections, maxLength, want }) => {
    const message = formatUnschedulableMessage(rejections, maxLength === undefined ? {} : { maxLength });
    expect(message).toBe(want);
    expect(message.length).toBeLessThanOrEqual(maxLength ?? 2048);
  });
});
