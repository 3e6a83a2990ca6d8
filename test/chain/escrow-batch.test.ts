// settleBatch: many jobs in one transaction; entries for jobs already closed are skipped (so a
// resent batch is harmless), anything else invalid reverts the whole batch. Also its gas per job.
import { parseUnits } from 'ethers';
import {
  CHAIN_SETUP_TIMEOUT_MS,
  JobStatus,
  Role,
  address,
  deployEscrowStack,
  eventsOf,
  fund,
  increaseTime,
  jobIdOf,
  latestTimestamp,
  mined,
  revertOf,
  startChain,
} from '../support/escrow-fixture.ts';
import type { Chain, EscrowStack, SettlementBatchEntry } from '../support/escrow-fixture.ts';
import { PLAIN_TRANSFER_GAS, entriesFor, formatMeasurement, measureSettlementGas, openJobs, providerAddress } from '../support/settlement-gas.ts';

const usd = (amount: string): bigint => parseUnits(amount, 6);

describe('FlotillaEscrow.settleBatch', () => {
  let chain: Chain;
  let s: EscrowStack;
  let token: string, payer: string;
  const pool = [0, 1, 2].map((i) => providerAddress(`batch-${i}`));

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    token = await s.token.getAddress();
    payer = address(chain, Role.payer);
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  const owedAll = (who: readonly string[]) => Promise.all(who.map((w) => s.escrow.owed(w, token)));

  it('settles many jobs in one transaction, crediting every provider and the payer', async () => {
    const jobIds = await openJobs(chain, s, 'many', 20);
    const entries = entriesFor(jobIds, 2, pool);
    const before = await owedAll([...pool, payer]);

    expect(await s.escrowAs(Role.settler).settleBatch.staticCall(entries)).toBe(20n);
    const receipt = await mined(s.escrowAs(Role.settler).settleBatch(entries));

    const expected = new Map<string, bigint>([...pool, payer].map((w, i) => [w, before[i] ?? 0n]));
    for (const e of entries) {
      e.providers.forEach((p, k) => expected.set(p, (expected.get(p) ?? 0n) + (e.amounts[k] ?? 0n)));
      expected.set(payer, (expected.get(payer) ?? 0n) + usd('100') - e.amounts.reduce((a, b) => a + b, 0n));
    }
    expect(await owedAll([...pool, payer])).toEqual([...expected.values()]);
    const settled = eventsOf(receipt, s.escrow).filter((e) => e.name === 'Settled');
    expect(settled.map((e) => e.args[0])).toEqual(jobIds);
    for (const jobId of jobIds) {
      expect(await s.escrow.settlementOf(jobId)).toEqual([JobStatus.Settled, BigInt(receipt.blockNumber)]);
    }
  });

  it('skips entries whose job is already settled or reclaimed, with SettlementSkipped, and settles the rest', async () => {
    const [settledJob, openA, openB] = (await openJobs(chain, s, 'mixed', 3)) as [string, string, string];
    await mined(s.escrowAs(Role.settler).settle(settledJob, [], []));
    await fund(chain, s.token, s.escrow, Role.payer, usd('5'));
    const short = jobIdOf('mixed:short-deadline');
    await mined(s.escrowAs(Role.payer).deposit(short, token, usd('5'), (await latestTimestamp(chain)) + 60n));
    await increaseTime(chain, 120n);
    await mined(s.escrowAs(Role.payer).reclaim(short));
    const batch: SettlementBatchEntry[] = [
      { jobId: settledJob, providers: [pool[0] ?? ''], amounts: [usd('1')] },
      { jobId: openA, providers: [pool[1] ?? ''], amounts: [usd('10')] },
      { jobId: short, providers: [pool[1] ?? ''], amounts: [usd('1')] },
      { jobId: openB, providers: [pool[2] ?? ''], amounts: [usd('100')] },
    ];

    expect(await s.escrowAs(Role.settler).settleBatch.staticCall(batch)).toBe(2n);
    const receipt = await mined(s.escrowAs(Role.settler).settleBatch(batch));

    expect(eventsOf(receipt, s.escrow).map((e) => [e.name, e.args[0], e.name === 'SettlementSkipped' ? e.args[1] : undefined])).toEqual([
      ['SettlementSkipped', settledJob, JobStatus.Settled],
      ['Refunded', openA, undefined],
      ['Settled', openA, undefined],
      ['SettlementSkipped', short, JobStatus.Reclaimed],
      ['Settled', openB, undefined],
    ]);
  });

  it('resending a batch that already landed changes nothing (idempotent retries)', async () => {
    const jobIds = await openJobs(chain, s, 'resend', 5);
    const entries = entriesFor(jobIds, 1, pool);
    await mined(s.escrowAs(Role.settler).settleBatch(entries));
    const before = await owedAll([...pool, payer]);

    const again = await mined(s.escrowAs(Role.settler).settleBatch(entries));

    expect(eventsOf(again, s.escrow).map((e) => e.name)).toEqual(Array(5).fill('SettlementSkipped'));
    expect(await owedAll([...pool, payer])).toEqual(before);
  });

  it('a job listed twice in one batch settles once; the second entry is skipped', async () => {
    const [jobId] = (await openJobs(chain, s, 'duplicate', 1)) as [string];
    const entry = { jobId, providers: [pool[0] ?? ''], amounts: [usd('10')] };
    const before = await s.escrow.owed(pool[0] ?? '', token);
    const receipt = await mined(s.escrowAs(Role.settler).settleBatch([entry, entry]));
    expect(eventsOf(receipt, s.escrow).map((e) => e.name)).toEqual(['Refunded', 'Settled', 'SettlementSkipped']);
    expect(await s.escrow.owed(pool[0] ?? '', token)).toBe(before + usd('10'));
  });

  it('an unknown job, an overspend or mismatched lengths anywhere reverts the whole batch', async () => {
    const [good, other] = (await openJobs(chain, s, 'invalid', 2)) as [string, string];
    const ok = { jobId: good, providers: [pool[0] ?? ''], amounts: [usd('10')] };
    const unknown = jobIdOf('invalid:unknown');
    const settler = s.escrowAs(Role.settler);
    const cases: [SettlementBatchEntry, { name: string; args: unknown[] }][] = [
      [
        { jobId: unknown, providers: [], amounts: [] },
        { name: 'UnknownJob', args: [unknown] },
      ],
      [
        { jobId: other, providers: [pool[1] ?? ''], amounts: [usd('100.01')] },
        { name: 'SettlementExceedsDeposit', args: [other, usd('100.01'), usd('100')] },
      ],
      [
        { jobId: other, providers: [pool[1] ?? ''], amounts: [] },
        { name: 'LengthMismatch', args: [other, 1n, 0n] },
      ],
    ];
    for (const [bad, error] of cases) {
      expect(await revertOf(settler.settleBatch.staticCall([ok, bad]))).toEqual(error);
    }
    expect(await s.escrow.settlementOf(good)).toEqual([JobStatus.Open, 0n]);
  });

  it('only the settlement role can settle a batch', async () => {
    const [jobId] = (await openJobs(chain, s, 'batch-role', 1)) as [string];
    expect(await revertOf(s.escrowAs(Role.payer).settleBatch.staticCall([{ jobId, providers: [], amounts: [] }]))).toEqual({
      name: 'AccessControlUnauthorizedAccount',
      args: [payer, await s.escrow.SETTLER_ROLE()],
    });
  });

  it('costs less gas per job batched than settled one by one, and less than a plain ERC-20 transfer', async () => {
    const single = await measureSettlementGas(chain, s, { jobs: 5, batchSize: 1, providersPerJob: 1, warm: true, label: 'gas-single' });
    const batched = await measureSettlementGas(chain, s, { jobs: 10, batchSize: 10, providersPerJob: 1, warm: true, label: 'gas-batch' });
    console.log(`settlement gas (full table: node bench/settlement-gas.ts)\n  ${formatMeasurement(single)}\n  ${formatMeasurement(batched)}`);

    expect(batched.gasPerJob).toBeLessThan(single.gasPerJob);
    expect(batched.gasPerJob).toBeLessThan(PLAIN_TRANSFER_GAS);
  }, 30_000);
});
