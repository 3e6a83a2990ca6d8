// FlotillaEscrow's lifecycle on a real anvil with the freshly compiled bytecode: deposit, settle
// (split and refund), exactly-once, roles, pull payments, reclaim after the deadline.
import { parseUnits } from 'ethers';
import {
  CHAIN_SETUP_TIMEOUT_MS,
  JobStatus,
  Role,
  address,
  deploy,
  deployEscrowStack,
  eventsOf,
  fund,
  increaseTime,
  jobIdOf,
  latestTimestamp,
  mined,
  revertOf,
  signer,
  startChain,
} from '../support/escrow-fixture.ts';
import type { Chain, EscrowStack, HostileToken, TestToken } from '../support/escrow-fixture.ts';

const usd = (amount: string): bigint => parseUnits(amount, 6);
const HOUR = 3600n;

describe('FlotillaEscrow', () => {
  let chain: Chain;
  let s: EscrowStack;
  let escrowAddress: string;
  let tokenAddress: string;
  let payer: string, providerA: string, providerB: string, outsider: string;

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    escrowAddress = await s.escrow.getAddress();
    tokenAddress = await s.token.getAddress();
    [payer, providerA, providerB, outsider] = [Role.payer, Role.providerA, Role.providerB, Role.outsider].map((i) => address(chain, i)) as [
      string,
      string,
      string,
      string,
    ];
    await fund(chain, s.token, s.escrow, Role.payer, usd('100000'));
    await fund(chain, s.token, s.escrow, Role.outsider, usd('100000'));
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  /** Opens a job funded by `payerIndex` with `amount`, deadline `ttl` seconds after the last block. */
  async function openJob(label: string, amount: bigint, ttl = HOUR, payerIndex: number = Role.payer): Promise<string> {
    const jobId = jobIdOf(label);
    await mined(s.escrowAs(payerIndex).deposit(jobId, tokenAddress, amount, (await latestTimestamp(chain)) + ttl));
    return jobId;
  }

  const balance = (who: string) => s.token.balanceOf(who);
  const owed = (who: string) => s.escrow.owed(who, tokenAddress);

  it('is deployed with the settlement key as settler and the admin key as admin, and a 6-decimal test token', async () => {
    const settlerRole = await s.escrow.SETTLER_ROLE();
    const adminRole = await s.escrow.DEFAULT_ADMIN_ROLE();
    expect(await s.escrow.hasRole(settlerRole, address(chain, Role.settler))).toBe(true);
    expect(await s.escrow.hasRole(adminRole, address(chain, Role.admin))).toBe(true);
    expect(await s.escrow.hasRole(settlerRole, address(chain, Role.admin))).toBe(false);
    expect(await s.token.decimals()).toBe(6n);
  });

  it('deposit opens a job: pulls the tokens, records payer, token, amount and deadline, emits Deposited', async () => {
    const jobId = jobIdOf('deposit');
    const deadline = (await latestTimestamp(chain)) + HOUR;
    const [payerBefore, escrowBefore] = await Promise.all([balance(payer), balance(escrowAddress)]);

    const receipt = await mined(s.escrowAs(Role.payer).deposit(jobId, tokenAddress, usd('250'), deadline));

    expect(await balance(payer)).toBe(payerBefore - usd('250'));
    expect(await balance(escrowAddress)).toBe(escrowBefore + usd('250'));
    const job = await s.escrow.jobs(jobId);
    expect({ payer: job.payer, token: job.token, deposit: job.deposit, deadline: job.deadline, status: job.status, closedAtBlock: job.closedAtBlock }).toEqual({
      payer,
      token: tokenAddress,
      deposit: usd('250'),
      deadline,
      status: JobStatus.Open,
      closedAtBlock: 0n,
    });
    expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'Deposited', args: [jobId, payer, tokenAddress, usd('250'), usd('250'), deadline] }]);
  });

  it('a top-up by the same payer adds to the deposit and only ever extends the deadline', async () => {
    const jobId = jobIdOf('top-up');
    const now = await latestTimestamp(chain);
    await mined(s.escrowAs(Role.payer).deposit(jobId, tokenAddress, usd('100'), now + 2n * HOUR));

    const earlier = await mined(s.escrowAs(Role.payer).deposit(jobId, tokenAddress, usd('50'), now + HOUR));
    expect(eventsOf(earlier, s.escrow)[0]?.args.slice(3)).toEqual([usd('50'), usd('150'), now + 2n * HOUR]);
    await mined(s.escrowAs(Role.payer).deposit(jobId, tokenAddress, usd('25'), now + 3n * HOUR));

    const job = await s.escrow.jobs(jobId);
    expect([job.deposit, job.deadline]).toEqual([usd('175'), now + 3n * HOUR]);
  });

  it('rejects a zero amount, a past deadline, a top-up by another payer or in another token, and a closed job', async () => {
    const jobId = await openJob('deposit-rules', usd('10'));
    const deadline = (await latestTimestamp(chain)) + HOUR;
    const otherToken = await deploy<TestToken>('TestStablecoin', signer(chain, Role.admin));
    await fund(chain, otherToken, s.escrow, Role.payer, usd('10'));
    const asPayer = s.escrowAs(Role.payer);

    expect(await revertOf(asPayer.deposit.staticCall(jobIdOf('zero'), tokenAddress, 0n, deadline))).toEqual({ name: 'ZeroAmount', args: [] });
    const past = await latestTimestamp(chain);
    expect(await revertOf(asPayer.deposit.staticCall(jobIdOf('past'), tokenAddress, 1n, past))).toEqual({ name: 'DeadlineInPast', args: [past] });
    expect(await revertOf(s.escrowAs(Role.outsider).deposit.staticCall(jobId, tokenAddress, 1n, deadline))).toEqual({
      name: 'NotPayer',
      args: [jobId, outsider],
    });
    expect(await revertOf(asPayer.deposit.staticCall(jobId, await otherToken.getAddress(), 1n, deadline))).toEqual({
      name: 'TokenMismatch',
      args: [jobId, tokenAddress],
    });

    await mined(s.escrowAs(Role.settler).settle(jobId, [], []));
    expect(await revertOf(asPayer.deposit.staticCall(jobId, tokenAddress, 1n, deadline))).toEqual({ name: 'AlreadySettled', args: [jobId] });
  });

  it('settle splits the deposit across providers and credits the remainder to the payer, moving no tokens', async () => {
    const jobId = await openJob('split', usd('250'));
    const before = await Promise.all([owed(providerA), owed(providerB), owed(payer), balance(escrowAddress)]);

    const receipt = await mined(s.escrowAs(Role.settler).settle(jobId, [providerA, providerB], [usd('120.5'), usd('80.25')]));

    const after = await Promise.all([owed(providerA), owed(providerB), owed(payer), balance(escrowAddress)]);
    expect(after.map((v, i) => v - (before[i] ?? 0n))).toEqual([usd('120.5'), usd('80.25'), usd('49.25'), 0n]);
    expect(eventsOf(receipt, s.escrow)).toEqual([
      { name: 'Refunded', args: [jobId, payer, tokenAddress, usd('49.25')] },
      { name: 'Settled', args: [jobId, tokenAddress, [providerA, providerB], [usd('120.5'), usd('80.25')], usd('49.25')] },
    ]);
    const job = await s.escrow.jobs(jobId);
    expect([job.status, job.closedAtBlock, job.deposit]).toEqual([JobStatus.Settled, BigInt(receipt.blockNumber), usd('250')]);
  });

  it('a settlement that uses the whole deposit refunds nothing, and one that pays nobody refunds everything', async () => {
    const full = await openJob('full', usd('30'));
    const none = await openJob('none', usd('30'));
    const payerBefore = await owed(payer);

    const fullReceipt = await mined(s.escrowAs(Role.settler).settle(full, [providerA], [usd('30')]));
    expect(eventsOf(fullReceipt, s.escrow).map((e) => e.name)).toEqual(['Settled']);
    await mined(s.escrowAs(Role.settler).settle(none, [], []));

    expect(await owed(payer)).toBe(payerBefore + usd('30'));
  });

  it('settling a job twice reverts with AlreadySettled — simulated and as a mined transaction — and changes nothing', async () => {
    const jobId = await openJob('twice', usd('100'));
    const settler = s.escrowAs(Role.settler);
    await mined(settler.settle(jobId, [providerA], [usd('60')]));
    const before = await Promise.all([owed(providerA), owed(payer), balance(escrowAddress)]);

    expect(await revertOf(settler.settle.staticCall(jobId, [providerA], [usd('60')]))).toEqual({ name: 'AlreadySettled', args: [jobId] });
    // Sent anyway (fixed gas, so no estimation stops it): mined, reverted, no effect.
    const tx = await settler.settle(jobId, [providerA], [usd('60')], { gasLimit: 200_000n });
    await expect(tx.wait()).rejects.toMatchObject({ code: 'CALL_EXCEPTION', receipt: { status: 0 } });

    expect(await Promise.all([owed(providerA), owed(payer), balance(escrowAddress)])).toEqual(before);
  });

  it('settle rejects an overspend, mismatched lengths, a zero provider and an unknown job', async () => {
    const jobId = await openJob('settle-rules', usd('100'));
    const settler = s.escrowAs(Role.settler);
    const unknown = jobIdOf('never-deposited');

    expect(await revertOf(settler.settle.staticCall(jobId, [providerA, providerB], [usd('60'), usd('40.000001')]))).toEqual({
      name: 'SettlementExceedsDeposit',
      args: [jobId, usd('100.000001'), usd('100')],
    });
    expect(await revertOf(settler.settle.staticCall(jobId, [providerA, providerB], [usd('1')]))).toEqual({ name: 'LengthMismatch', args: [jobId, 2n, 1n] });
    expect(await revertOf(settler.settle.staticCall(jobId, ['0x0000000000000000000000000000000000000000'], [1n]))).toEqual({ name: 'ZeroAddress', args: [] });
    expect(await revertOf(settler.settle.staticCall(unknown, [providerA], [1n]))).toEqual({ name: 'UnknownJob', args: [unknown] });
    expect((await s.escrow.jobs(jobId)).status).toBe(JobStatus.Open);
  });

  it('only the settlement role can settle; the admin grants and revokes it', async () => {
    const jobId = await openJob('roles', usd('10'));
    const role = await s.escrow.SETTLER_ROLE();
    for (const index of [Role.outsider, Role.payer, Role.providerA, Role.admin]) {
      expect(await revertOf(s.escrowAs(index).settle.staticCall(jobId, [providerA], [1n]))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [address(chain, index), role],
      });
    }
    expect(await revertOf(s.escrowAs(Role.outsider).grantRole.staticCall(role, outsider))).toMatchObject({ name: 'AccessControlUnauthorizedAccount' });

    await mined(s.escrowAs(Role.admin).grantRole(role, outsider));
    await s.escrowAs(Role.outsider).settle.staticCall(jobId, [providerA], [1n]); // would succeed now
    await mined(s.escrowAs(Role.admin).revokeRole(role, outsider));
    expect(await revertOf(s.escrowAs(Role.outsider).settle.staticCall(jobId, [providerA], [1n]))).toMatchObject({ name: 'AccessControlUnauthorizedAccount' });
  });

  it('providers and the payer withdraw exactly what they are owed, once (pull payments)', async () => {
    const jobId = await openJob('withdraw', usd('90'));
    await mined(s.escrowAs(Role.settler).settle(jobId, [providerA, providerB], [usd('50'), usd('30')]));

    for (const [index, who] of [
      [Role.providerA, providerA],
      [Role.providerB, providerB],
      [Role.payer, payer],
    ] as const) {
      const [credit, walletBefore, escrowBefore] = await Promise.all([owed(who), balance(who), balance(escrowAddress)]);
      expect(credit).toBeGreaterThan(0n);
      const receipt = await mined(s.escrowAs(index).withdraw(tokenAddress));
      expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'Withdrawn', args: [who, tokenAddress, credit] }]);
      expect(await Promise.all([owed(who), balance(who), balance(escrowAddress)])).toEqual([0n, walletBefore + credit, escrowBefore - credit]);
      expect(await revertOf(s.escrowAs(index).withdraw.staticCall(tokenAddress))).toEqual({ name: 'NothingToWithdraw', args: [who, tokenAddress] });
    }
  });

  it('the payer reclaims an unsettled deposit only after the deadline, and then it cannot be settled', async () => {
    const jobId = await openJob('reclaim', usd('40'), HOUR);
    const { deadline } = await s.escrow.jobs(jobId);
    const asPayer = s.escrowAs(Role.payer);

    expect(await revertOf(asPayer.reclaim.staticCall(jobId))).toEqual({ name: 'DeadlineNotReached', args: [jobId, deadline] });
    await increaseTime(chain, deadline - (await latestTimestamp(chain)) + 1n);
    expect(await revertOf(s.escrowAs(Role.outsider).reclaim.staticCall(jobId))).toEqual({ name: 'NotPayer', args: [jobId, outsider] });

    const [walletBefore, escrowBefore] = await Promise.all([balance(payer), balance(escrowAddress)]);
    const receipt = await mined(asPayer.reclaim(jobId));
    expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'Reclaimed', args: [jobId, payer, tokenAddress, usd('40')] }]);
    expect(await Promise.all([balance(payer), balance(escrowAddress)])).toEqual([walletBefore + usd('40'), escrowBefore - usd('40')]);
    expect(await s.escrow.settlementOf(jobId)).toEqual([JobStatus.Reclaimed, BigInt(receipt.blockNumber)]);

    expect(await revertOf(s.escrowAs(Role.settler).settle.staticCall(jobId, [providerA], [1n]))).toEqual({ name: 'AlreadyReclaimed', args: [jobId] });
    expect(await revertOf(asPayer.reclaim.staticCall(jobId))).toEqual({ name: 'AlreadyReclaimed', args: [jobId] });
  });

  it('a settled job cannot be reclaimed, even after its deadline', async () => {
    const jobId = await openJob('settled-then-reclaim', usd('40'), 60n);
    await mined(s.escrowAs(Role.settler).settle(jobId, [providerA], [usd('40')]));
    await increaseTime(chain, 120n);
    expect(await revertOf(s.escrowAs(Role.payer).reclaim.staticCall(jobId))).toEqual({ name: 'AlreadySettled', args: [jobId] });
  });

  it('settles after the deadline as long as the payer has not reclaimed', async () => {
    const jobId = await openJob('late', usd('40'), 60n);
    await increaseTime(chain, 120n);
    await mined(s.escrowAs(Role.settler).settle(jobId, [providerA], [usd('40')]));
    expect((await s.escrow.settlementOf(jobId))[0]).toBe(JobStatus.Settled);
  });

  it('settlementOf tells a restarted operator whether a settlement landed, and in which block to find it', async () => {
    const jobId = await openJob('restart', usd('70'));
    expect(await s.escrow.settlementOf(jobId)).toEqual([JobStatus.Open, 0n]);
    expect(await s.escrow.settlementOf(jobIdOf('unknown'))).toEqual([JobStatus.None, 0n]);

    const receipt = await mined(s.escrowAs(Role.settler).settle(jobId, [providerB], [usd('12.345678')]));
    const [status, block] = await s.escrow.settlementOf(jobId);
    expect([status, block]).toEqual([JobStatus.Settled, BigInt(receipt.blockNumber)]);

    const logs = await s.escrow.queryFilter(s.escrow.getEvent('Settled')(jobId), Number(block), Number(block));
    expect(logs.map((l) => l.transactionHash)).toEqual([receipt.hash]);
    const parsed = logs[0] && s.escrow.interface.parseLog(logs[0]);
    expect([...(parsed?.args.getValue('providers') as string[])]).toEqual([providerB]);
    expect([...(parsed?.args.getValue('amounts') as bigint[])]).toEqual([usd('12.345678')]);
  });

  it('rejects a token that delivers less than the deposited amount (fee on transfer)', async () => {
    const hostile = await deploy<HostileToken>('HostileToken', signer(chain, Role.admin));
    await fund(chain, hostile, s.escrow, Role.payer, usd('100'));
    await mined(hostile.setFeeBps(100n));
    const jobId = jobIdOf('fee-on-transfer');
    const deadline = (await latestTimestamp(chain)) + HOUR;
    expect(await revertOf(s.escrowAs(Role.payer).deposit.staticCall(jobId, await hostile.getAddress(), usd('100'), deadline))).toEqual({
      name: 'UnsupportedToken',
      args: [await hostile.getAddress(), usd('100'), usd('99')],
    });
  });
});
