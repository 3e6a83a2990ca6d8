import type { AIJobAttempt, AIJobStatus } from '../api/types.ts';
import {
  billableGpuSecondsOf,
  costOf,
  costStatus,
  fundingVerdict,
  meteredCost,
  meteredSeconds,
  meterJob,
  settlementAmountsStatus,
  splitSettlement,
  SettlementSplitError,
} from './metering.ts';
import type { EscrowDeposit, FundingRequirement } from './metering.ts';

type PricedAttempt = AIJobAttempt & { pricePerGpuHour?: string };

const attempt = (a: Partial<PricedAttempt> & Pick<AIJobAttempt, 'index' | 'provider'>): PricedAttempt => ({
  startTime: '2026-01-01T00:00:00Z',
  endTime: '2026-01-01T01:00:00Z',
  ...a,
});
const status = (...attempts: PricedAttempt[]): AIJobStatus => ({ attempts });
const payout: Record<string, string> = {
  'provider-a': '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  'provider-c': '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
};
const payoutOf = (p: string) => payout[p];

describe('costOf: floor(gpuSeconds × price / 3600) in base units', () => {
  it.each<[string, number, bigint, bigint]>([
    ['one GPU-hour at 2.40 USDC', 3600, 2_400_000n, 2_400_000n],
    ['one GPU-second at 2.40 USDC is 666.67 base units, rounded down', 1, 2_400_000n, 666n],
    ['16 GPUs for 90 s at 2.10', 1440, 2_100_000n, 840_000n],
    ['nothing billable costs nothing', 0, 2_400_000n, 0n],
    ['a price below one base unit per second rounds to 0 for one second', 1, 3_599n, 0n],
    ['18-decimal token, a million GPU-hours, no overflow', 3_600_000_000, 2_000_000_000_000_000_000n, 2_000_000_000_000_000_000_000_000n],
  ])('%s', (_name, seconds, price, expected) => expect(costOf(seconds, price)).toBe(expected));

  it.each([-1, 1.5, Number.MAX_SAFE_INTEGER + 2])('rejects gpuSeconds %p', (s) => expect(() => costOf(s, 1n)).toThrow(RangeError));
});

describe('billableGpuSecondsOf', () => {
  it.each<[string, Partial<AIJobAttempt>, number]>([
    ['recorded billable seconds win', { gpuSeconds: 900, billableGpuSeconds: 600, reason: 'Preempted: DisruptionTarget' }, 600],
    ['a succeeded attempt without the field bills all its GPU-seconds', { gpuSeconds: 900, reason: 'Succeeded' }, 900],
    ['a failed attempt bills all its GPU-seconds', { gpuSeconds: 40, reason: 'Failed' }, 40],
    ['a preempted attempt without a known checkpoint bills nothing', { gpuSeconds: 900, reason: 'Preempted: PodDeleted' }, 0],
    ['a preempted attempt with billable 0 (no checkpoint) bills nothing', { gpuSeconds: 900, billableGpuSeconds: 0, reason: 'Preempted: DisruptionTarget' }, 0],
  ])('%s', (_name, fields, expected) => expect(billableGpuSecondsOf(attempt({ index: 1, provider: 'p', ...fields }))).toBe(expected));
});

describe('meterJob', () => {
  it('a preempted attempt pays up to its checkpoint, the resumed one all of it; rounding is per attempt', () => {
    const cost = meterJob(
      status(
        attempt({
          index: 1,
          provider: 'provider-a',
          gpuSeconds: 1000,
          billableGpuSeconds: 601,
          reason: 'Preempted: DisruptionTarget',
          pricePerGpuHour: '2.40',
        }),
        attempt({ index: 2, provider: 'provider-c', gpuSeconds: 1201, reason: 'Succeeded', pricePerGpuHour: '2.10' }),
      ),
      6,
    );
    // 601 × 2_400_000 / 3600 = 400_666.67 → 400_666; 1201 × 2_100_000 / 3600 = 700_583.33 → 700_583
    expect(cost.attempts.map((a) => a.cost)).toEqual([400_666n, 700_583n]);
    expect(cost.total).toBe(1_101_249n);
    expect(cost.unmetered).toEqual([]);
    expect(costStatus(cost, 'USDC', 6)).toEqual({ amount: '1.101249', token: 'USDC' });
  });

  it('an open attempt is not metered yet; the closed ones are', () => {
    const cost = meterJob(
      status(
        attempt({
          index: 1,
          provider: 'provider-a',
          gpuSeconds: 3600,
          billableGpuSeconds: 3600,
          reason: 'Preempted: DisruptionTarget',
          pricePerGpuHour: '2.40',
        }),
        { index: 2, provider: 'provider-c', startTime: '2026-01-01T02:00:00Z', pricePerGpuHour: '2.10' } as PricedAttempt,
      ),
      6,
    );
    expect(cost.total).toBe(2_400_000n);
    expect(cost.unmetered).toEqual([{ index: 2, provider: 'provider-c', reason: 'Open' }]);
  });

  it("the newest attempt without its own price takes status.placement's when the provider matches", () => {
    const s: AIJobStatus = {
      ...status(attempt({ index: 1, provider: 'provider-a', gpuSeconds: 3600, reason: 'Succeeded' })),
      placement: { provider: 'provider-a', pricePerGpuHour: '1.5' },
    };
    expect(meterJob(s, 6).total).toBe(1_500_000n);
    const other: AIJobStatus = { ...s, placement: { provider: 'provider-b', pricePerGpuHour: '1.5' } };
    expect(meterJob(other, 6).unmetered).toEqual([{ index: 1, provider: 'provider-a', reason: 'Unpriced' }]);
  });

  it('an unpriced attempt with nothing billable costs 0 without a price', () => {
    const cost = meterJob(status(attempt({ index: 1, provider: 'provider-a', gpuSeconds: 50, reason: 'Preempted: PodDeleted' })), 6);
    expect(cost).toEqual({ total: 0n, attempts: [{ index: 1, provider: 'provider-a', billableGpuSeconds: 0, cost: 0n }], unmetered: [] });
  });

  it('no attempts, no cost', () => expect(meterJob({}, 6)).toEqual({ total: 0n, attempts: [], unmetered: [] }));
});

describe('meteredCost: status.cost as the attempts add up', () => {
  const closed = attempt({ index: 1, provider: 'provider-a', gpuSeconds: 3600, reason: 'Succeeded', pricePerGpuHour: '2.40' });
  const open = attempt({ index: 2, provider: 'provider-b', pricePerGpuHour: '9' });
  delete (open as { endTime?: string }).endTime;

  it('nothing while no attempt has closed (nothing metered, nothing written)', () => {
    expect(meteredCost({}, undefined, 6)).toBeUndefined();
    expect(meteredCost(status(open), 'USDC', 6)).toBeUndefined();
  });
  it("in the job's token and its decimals; an open attempt adds nothing", () => {
    expect(meteredCost(status(closed, open), 'USDC', 6)).toEqual({ amount: '2.4', token: 'USDC' });
    expect(meteredCost(status(closed), 'DAI', 18)).toEqual({ amount: '2.4', token: 'DAI' });
  });
  it('a job without spec.payment: token units, no token', () => {
    expect(meteredCost(status(closed), undefined, 6)).toEqual({ amount: '2.4' });
  });
  it('a preempted attempt without a checkpoint costs 0, written as such', () => {
    expect(
      meteredCost(status(attempt({ index: 1, provider: 'p', gpuSeconds: 90, reason: 'Preempted: PodDeleted', pricePerGpuHour: '2' })), undefined, 6),
    ).toEqual({
      amount: '0',
    });
  });
});

describe('splitSettlement', () => {
  const twoProviders = meterJob(
    status(
      attempt({ index: 1, provider: 'provider-a', gpuSeconds: 3000, billableGpuSeconds: 1800, reason: 'Preempted: DisruptionTarget', pricePerGpuHour: '2.40' }),
      attempt({ index: 2, provider: 'provider-c', gpuSeconds: 1800, reason: 'Preempted: DisruptionTarget', billableGpuSeconds: 900, pricePerGpuHour: '2.10' }),
      attempt({ index: 3, provider: 'provider-a', gpuSeconds: 3600, reason: 'Succeeded', pricePerGpuHour: '2.40' }),
    ),
    6,
  );

  it('sums per provider, pays each its payout address, refunds the rest of the deposit', () => {
    const split = splitSettlement(twoProviders, payoutOf, 10_000_000n);
    expect(split).toEqual({
      shares: [
        { provider: 'provider-a', payoutAddress: payout['provider-a'], amount: 1_200_000n + 2_400_000n },
        { provider: 'provider-c', payoutAddress: payout['provider-c'], amount: 525_000n },
      ],
      refund: 10_000_000n - 4_125_000n,
      capped: false,
    });
    expect(settlementAmountsStatus(split, 6)).toEqual([
      { provider: 'provider-a', payoutAddress: payout['provider-a'], amount: '3.6' },
      { provider: 'provider-c', payoutAddress: payout['provider-c'], amount: '0.525' },
    ]);
  });

  it('never pays more than the deposit: shares scale down, rounded down, the remainder refunded', () => {
    const split = splitSettlement(twoProviders, payoutOf, 1_000_001n);
    expect(split.capped).toBe(true);
    // 3_600_000 × 1_000_001 / 4_125_000 = 872_728.0001… ; 525_000 × 1_000_001 / 4_125_000 = 127_272.85…
    expect(split.shares.map((s) => s.amount)).toEqual([872_728n, 127_272n]);
    expect(split.refund).toBe(1n);
    expect(split.shares.reduce((a, s) => a + s.amount, 0n) + split.refund).toBe(1_000_001n);
  });

  it('a job that cost nothing refunds the whole deposit and pays nobody', () => {
    expect(splitSettlement(meterJob({}, 6), payoutOf, 5n)).toEqual({ shares: [], refund: 5n, capped: false });
  });

  it('refuses to split while an attempt is open or unpriced, or a paid provider has no payout address', () => {
    const open = meterJob(status({ index: 1, provider: 'provider-a', startTime: '2026-01-01T00:00:00Z' }), 6);
    expect(() => splitSettlement(open, payoutOf, 1n)).toThrow(new SettlementSplitError('attempt(s) 1 on provider-a (still open) cannot be metered'));
    const unpriced = meterJob(status(attempt({ index: 1, provider: 'provider-a', gpuSeconds: 5, reason: 'Succeeded' })), 6);
    expect(() => splitSettlement(unpriced, payoutOf, 1n)).toThrow(/no price recorded/);
    expect(() => splitSettlement(twoProviders, (p) => (p === 'provider-a' ? payout[p] : undefined), 10n ** 9n)).toThrow(
      'no payout address for provider(s) provider-c',
    );
  });
});

describe('fundingVerdict', () => {
  const need: FundingRequirement = { tokenAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3', tokenName: 'USDC', decimals: 6, required: 250_000_000n };
  const open = (fields: Partial<EscrowDeposit>): EscrowDeposit => ({
    status: 'Open',
    payer: '0xpayer',
    token: need.tokenAddress.toLowerCase(),
    deposit: 0n,
    deadline: 0n,
    ...fields,
  });
  it.each<[string, EscrowDeposit, string, string, bigint, RegExp]>([
    ['no deposit yet', open({ status: 'None' }), 'False', 'AwaitingDeposit', 250_000_000n, /no deposit for escrow job id 0xjob; deposit 250 USDC/],
    [
      'a deposit below maxAmount names the missing amount',
      open({ deposit: 100_500_000n }),
      'False',
      'InsufficientDeposit',
      149_500_000n,
      /deposit 100\.5 USDC is below spec\.payment\.maxAmount 250 USDC: 149\.5 USDC missing/,
    ],
    [
      'a deposit in another token',
      open({ token: '0x0000000000000000000000000000000000000001', deposit: 10n ** 12n }),
      'False',
      'WrongToken',
      250_000_000n,
      /is in token 0x0+1, the job pays in USDC/,
    ],
    ['a settled escrow job', open({ status: 'Settled', deposit: 10n ** 12n }), 'False', 'DepositClosed', 250_000_000n, /already Settled/],
    ['a reclaimed escrow job', open({ status: 'Reclaimed', deposit: 10n ** 12n }), 'False', 'DepositClosed', 250_000_000n, /already Reclaimed/],
    ['exactly maxAmount funds it', open({ deposit: 250_000_000n }), 'True', 'EscrowDeposited', 0n, /250 USDC deposited by 0xpayer under 0xjob/],
    ['more than maxAmount funds it', open({ deposit: 250_000_001n }), 'True', 'EscrowDeposited', 0n, /250\.000001 USDC/],
  ])('%s', (_name, deposit, s, reason, missing, message) => {
    const v = fundingVerdict('0xjob', deposit, need);
    expect([v.status, v.reason, v.missing]).toEqual([s, reason, missing]);
    expect(v.message).toMatch(message);
  });
});

describe("meteredSeconds: provider timestamps only move the hub's window inward", () => {
  const H = Date.parse('2026-11-23T10:00:00Z');
  it.each([
    ['honest provider inside the window', { from: H, to: H + 60_000 }, { startedAt: H + 2_000, finishedAt: H + 50_000 }, 48],
    ['startedAt backdated by a day', { from: H, to: H + 60_000 }, { startedAt: H - 86_400_000, finishedAt: H + 50_000 }, 50],
    ['finishedAt a day late', { from: H, to: H + 60_000 }, { startedAt: H + 2_000, finishedAt: H + 86_400_000 }, 58],
    ['finishedAt before startedAt', { from: H, to: H + 60_000 }, { startedAt: H + 30_000, finishedAt: H + 10_000 }, 0],
    ['never started', { from: H, to: H + 60_000 }, {}, 0],
    ['no hub floor (legacy): the provider start stands', { to: H + 60_000 }, { startedAt: H + 10_000 }, 50],
  ] as const)('%s', (_name, hub, provider, seconds) => {
    expect(meteredSeconds(hub, provider)).toBe(seconds);
  });

  it('never exceeds the hub window, whatever the provider writes', () => {
    for (let i = 0; i < 200; i++) {
      const startedAt = H + Math.round((Math.random() - 0.5) * 1e9);
      const finishedAt = startedAt + Math.round(Math.random() * 1e9);
      expect(meteredSeconds({ from: H, to: H + 60_000 }, { startedAt, finishedAt })).toBeLessThanOrEqual(60);
    }
  });
});
