// A token that calls back into the escrow from inside its own transfer (HostileToken) must not get
// anything out of it: every state-changing entry point is nonReentrant, so the nested call fails
// with ReentrancyGuardReentrantCall. Bubbled, the whole outer call reverts; swallowed, the outer call
// completes and pays exactly what was owed, once.
import { parseUnits } from 'ethers';
import {
  CHAIN_SETUP_TIMEOUT_MS,
  JobStatus,
  Role,
  address,
  deploy,
  deployEscrowStack,
  fund,
  jobIdOf,
  latestTimestamp,
  mined,
  revertOf,
  signer,
  startChain,
} from '../support/escrow-fixture.ts';
import type { Chain, EscrowStack, HostileToken } from '../support/escrow-fixture.ts';

const usd = (amount: string): bigint => parseUnits(amount, 6);
const ZERO = '0x0000000000000000000000000000000000000000';

describe('FlotillaEscrow against a re-entering token', () => {
  let chain: Chain;
  let s: EscrowStack;
  let hostile: HostileToken;
  let escrowAddress: string, hostileAddress: string, providerA: string;
  const paidJob = jobIdOf('hostile-paid'); // settled: providerA and the token itself are owed 40 each
  const openJob = jobIdOf('hostile-open'); // still open: the target of nested settle/reclaim calls

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    escrowAddress = await s.escrow.getAddress();
    providerA = address(chain, Role.providerA);
    hostile = await deploy<HostileToken>('HostileToken', signer(chain, Role.admin));
    hostileAddress = await hostile.getAddress();
    await fund(chain, hostile, s.escrow, Role.payer, usd('1000'));

    const deadline = (await latestTimestamp(chain)) + 3600n;
    const asPayer = s.escrowAs(Role.payer);
    await mined(asPayer.deposit(paidJob, hostileAddress, usd('100'), deadline));
    await mined(asPayer.deposit(openJob, hostileAddress, usd('50'), deadline));
    await mined(s.escrowAs(Role.settler).settle(paidJob, [providerA, hostileAddress], [usd('40'), usd('40')]));
    // The token even holds the settler role: only the reentrancy guard stands in its way.
    await mined(s.escrowAs(Role.admin).grantRole(await s.escrow.SETTLER_ROLE(), hostileAddress));
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  const nested = () => {
    const escrow = s.escrow.interface;
    return [
      ['withdraw', escrow.encodeFunctionData('withdraw', [hostileAddress])],
      ['settle', escrow.encodeFunctionData('settle', [openJob, [hostileAddress], [usd('50')]])],
      ['settleBatch', escrow.encodeFunctionData('settleBatch', [[{ jobId: openJob, providers: [hostileAddress], amounts: [usd('50')] }]])],
      ['reclaim', escrow.encodeFunctionData('reclaim', [openJob])],
      ['deposit', escrow.encodeFunctionData('deposit', [jobIdOf('nested'), hostileAddress, 1n, 2n ** 39n])],
    ] as const;
  };

  it.each(['withdraw', 'settle', 'settleBatch', 'reclaim', 'deposit'])(
    'a nested %s from inside a payout transfer trips the guard and reverts the whole withdraw',
    async (name) => {
      const payload = nested().find(([n]) => n === name)?.[1];
      if (!payload) throw new Error(`no payload for ${name}`);
      await mined(hostile.arm(escrowAddress, payload, true));

      expect(await revertOf(s.escrowAs(Role.providerA).withdraw.staticCall(hostileAddress))).toEqual({ name: 'ReentrancyGuardReentrantCall', args: [] });
    },
  );

  it('a nested call from inside a deposit pull trips the guard too', async () => {
    await mined(hostile.arm(escrowAddress, s.escrow.interface.encodeFunctionData('reclaim', [openJob]), true));
    const deadline = (await latestTimestamp(chain)) + 3600n;
    expect(await revertOf(s.escrowAs(Role.payer).deposit.staticCall(openJob, hostileAddress, 1n, deadline))).toEqual({
      name: 'ReentrancyGuardReentrantCall',
      args: [],
    });
  });

  it('mined, the tripped withdraw reverts on chain and leaves every balance as it was', async () => {
    await mined(hostile.arm(escrowAddress, s.escrow.interface.encodeFunctionData('withdraw', [hostileAddress]), true));
    const snapshot = () =>
      Promise.all([
        s.escrow.owed(providerA, hostileAddress),
        s.escrow.owed(hostileAddress, hostileAddress),
        hostile.balanceOf(escrowAddress),
        hostile.balanceOf(providerA),
        hostile.balanceOf(hostileAddress),
      ]);
    const before = await snapshot();

    const tx = await s.escrowAs(Role.providerA).withdraw(hostileAddress, { gasLimit: 300_000n });
    await expect(tx.wait()).rejects.toMatchObject({ code: 'CALL_EXCEPTION', receipt: { status: 0 } });

    expect(await snapshot()).toEqual(before);
  });

  it('when the token swallows the failure, the attacker gets its own credit exactly once', async () => {
    const withdraw = s.escrow.interface.encodeFunctionData('withdraw', [hostileAddress]);
    await mined(hostile.arm(escrowAddress, withdraw, false));
    const escrowBefore = await hostile.balanceOf(escrowAddress);

    // The token, owed 40 as a "provider", withdraws and tries to withdraw again from the transfer.
    await mined(hostile.execute(escrowAddress, withdraw));

    expect(await hostile.balanceOf(hostileAddress)).toBe(usd('40'));
    expect(await hostile.balanceOf(escrowAddress)).toBe(escrowBefore - usd('40'));
    expect(await s.escrow.owed(hostileAddress, hostileAddress)).toBe(0n);
    expect([await hostile.reentryAttempted(), await hostile.reentrySucceeded()]).toEqual([true, false]);
    expect(s.escrow.interface.parseError(await hostile.reentryResult())?.name).toBe('ReentrancyGuardReentrantCall');
    expect(await revertOf(hostile.execute.staticCall(escrowAddress, withdraw), s.escrow)).toEqual({
      name: 'NothingToWithdraw',
      args: [hostileAddress, hostileAddress],
    });
  });

  it('when the token swallows a nested settle, the open job stays open and the provider is paid once', async () => {
    const settle = s.escrow.interface.encodeFunctionData('settle', [openJob, [hostileAddress], [usd('50')]]);
    await mined(hostile.arm(escrowAddress, settle, false));

    await mined(s.escrowAs(Role.providerA).withdraw(hostileAddress));

    expect(await hostile.balanceOf(providerA)).toBe(usd('40'));
    expect(await s.escrow.settlementOf(openJob)).toEqual([JobStatus.Open, 0n]);
    expect(await s.escrow.owed(hostileAddress, hostileAddress)).toBe(0n);
    expect([await hostile.reentryAttempted(), await hostile.reentrySucceeded()]).toEqual([true, false]);
    await mined(hostile.arm(ZERO, '0x', false));
  });
});
