// Provider bonds and slashing in FlotillaEscrow, on a real anvil with the freshly compiled bytecode:
// posting (by the provider or a funder), unbonding behind UNBOND_DELAY (chain time moved with
// evm_increaseTime / evm_setNextBlockTimestamp), slashing once per job with an exact split between
// the verifier and the payer, the settlement role, and a token that re-enters the escrow.
import { parseUnits } from 'ethers';
import type { ContractTransactionResponse } from 'ethers';
import { rpc } from '../../federation/anvil.ts';
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
import type { Chain, Escrow, EscrowStack, HostileToken, TestToken } from '../support/escrow-fixture.ts';

const usd = (amount: string): bigint => parseUnits(amount, 6);
const HOUR = 3600n;
const DAY = 24n * HOUR;
const ZERO = '0x0000000000000000000000000000000000000000';
/** Accounts beyond the escrow fixture's Role table. */
const VERIFIER = 6;
const FUNDER = 7;

describe('FlotillaEscrow provider bonds and slashing', () => {
  let chain: Chain;
  let s: EscrowStack;
  let escrowAddress: string, tokenAddress: string;
  let payer: string, providerA: string, providerB: string, verifier: string, funder: string;
  let settler: Escrow;

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    escrowAddress = await s.escrow.getAddress();
    tokenAddress = await s.token.getAddress();
    [payer, providerA, providerB, verifier, funder] = [Role.payer, Role.providerA, Role.providerB, VERIFIER, FUNDER].map((i) => address(chain, i)) as [
      string,
      string,
      string,
      string,
      string,
    ];
    for (const index of [Role.payer, Role.providerA, Role.providerB, FUNDER]) await fund(chain, s.token, s.escrow, index, usd('100000'));
    settler = s.escrowAs(Role.settler);
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  const balance = (who: string) => s.token.balanceOf(who);
  const owed = (who: string) => s.escrow.owed(who, tokenAddress);
  const bondOf = async (who: string, token = tokenAddress) => [...(await s.escrow.bondOf(who, token))];

  /** Opens a job funded by the payer, deadline an hour after the last block. */
  async function openJob(label: string, amount: bigint): Promise<string> {
    const jobId = jobIdOf(label);
    await mined(s.escrowAs(Role.payer).deposit(jobId, tokenAddress, amount, (await latestTimestamp(chain)) + HOUR));
    return jobId;
  }

  /** A provider with exactly `bonded` bonded and `unbonding` unbonding (starting from whatever it has). */
  async function bondExactly(index: number, bonded: bigint, unbonding = 0n): Promise<void> {
    const who = address(chain, index);
    const [b, u] = await bondOf(who);
    if ((u ?? 0n) > 0n) {
      await increaseTime(chain, await s.escrow.UNBOND_DELAY());
      await mined(s.escrowAs(index).withdrawBond(tokenAddress));
    }
    if ((b ?? 0n) > 0n) {
      await mined(s.escrowAs(index).requestUnbond(tokenAddress, b ?? 0n));
      await increaseTime(chain, await s.escrow.UNBOND_DELAY());
      await mined(s.escrowAs(index).withdrawBond(tokenAddress));
    }
    if (bonded + unbonding > 0n) await mined(s.escrowAs(index).postBond(who, tokenAddress, bonded + unbonding));
    if (unbonding > 0n) await mined(s.escrowAs(index).requestUnbond(tokenAddress, unbonding));
    expect((await bondOf(who)).slice(0, 2)).toEqual([bonded, unbonding]);
  }

  /** Sends a call that must revert with fixed gas (no estimation stops it) and checks it was mined as a revert. */
  async function minedRevert(send: Promise<{ wait(): Promise<unknown> }>): Promise<void> {
    await expect((await send).wait()).rejects.toMatchObject({ code: 'CALL_EXCEPTION', receipt: { status: 0 } });
  }

  async function blockTime(blockNumber: number): Promise<bigint> {
    const block = await chain.provider.getBlock(blockNumber);
    if (!block) throw new Error(`no block ${blockNumber}`);
    return BigInt(block.timestamp);
  }

  it('has a 7-day unbonding delay and starts every provider with no bond', async () => {
    expect(await s.escrow.UNBOND_DELAY()).toBe(7n * DAY);
    expect(await bondOf(providerA)).toEqual([0n, 0n, 0n]);
  });

  it('postBond by the provider itself pulls its tokens, adds to its bond and emits BondPosted with the running total', async () => {
    const [walletBefore, escrowBefore] = await Promise.all([balance(providerA), balance(escrowAddress)]);

    const first = await mined(s.escrowAs(Role.providerA).postBond(providerA, tokenAddress, usd('100')));
    const second = await mined(s.escrowAs(Role.providerA).postBond(providerA, tokenAddress, usd('0.5')));

    expect(eventsOf(first, s.escrow)).toEqual([{ name: 'BondPosted', args: [providerA, tokenAddress, providerA, usd('100'), usd('100')] }]);
    expect(eventsOf(second, s.escrow)).toEqual([{ name: 'BondPosted', args: [providerA, tokenAddress, providerA, usd('0.5'), usd('100.5')] }]);
    expect(await bondOf(providerA)).toEqual([usd('100.5'), 0n, 0n]);
    expect(await Promise.all([balance(providerA), balance(escrowAddress)])).toEqual([walletBefore - usd('100.5'), escrowBefore + usd('100.5')]);
  });

  it("a third party may post a bond for a provider: the funder pays, the bond is the provider's, only the provider can unbond it", async () => {
    const [funderBefore, providerBefore] = await Promise.all([balance(funder), balance(providerB)]);

    const receipt = await mined(s.escrowAs(FUNDER).postBond(providerB, tokenAddress, usd('250')));

    expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'BondPosted', args: [providerB, tokenAddress, funder, usd('250'), usd('250')] }]);
    expect(await Promise.all([balance(funder), balance(providerB)])).toEqual([funderBefore - usd('250'), providerBefore]);
    expect(await bondOf(providerB)).toEqual([usd('250'), 0n, 0n]);
    expect(await bondOf(funder)).toEqual([0n, 0n, 0n]);
    // The funder has no bond of its own to unbond.
    expect(await revertOf(s.escrowAs(FUNDER).requestUnbond.staticCall(tokenAddress, 1n))).toEqual({
      name: 'InsufficientBond',
      args: [funder, tokenAddress, 0n, 1n],
    });
  });

  it('postBond rejects a zero amount, a zero provider or token, and a token that delivers less (fee on transfer)', async () => {
    const asA = s.escrowAs(Role.providerA);
    expect(await revertOf(asA.postBond.staticCall(providerA, tokenAddress, 0n))).toEqual({ name: 'ZeroAmount', args: [] });
    expect(await revertOf(asA.postBond.staticCall(ZERO, tokenAddress, 1n))).toEqual({ name: 'ZeroAddress', args: [] });
    expect(await revertOf(asA.postBond.staticCall(providerA, ZERO, 1n))).toEqual({ name: 'ZeroAddress', args: [] });

    const hostile = await deploy<HostileToken>('HostileToken', signer(chain, Role.admin));
    const hostileAddress = await hostile.getAddress();
    await fund(chain, hostile, s.escrow, Role.providerA, usd('100'));
    await mined(hostile.setFeeBps(100n));
    expect(await revertOf(asA.postBond.staticCall(providerA, hostileAddress, usd('100')))).toEqual({
      name: 'UnsupportedToken',
      args: [hostileAddress, usd('100'), usd('99')],
    });
    expect(await bondOf(providerA, hostileAddress)).toEqual([0n, 0n, 0n]);
  });

  it('requestUnbond moves bond to unbonding; withdrawBond is refused before UNBOND_DELAY and pays the whole amount once from then on', async () => {
    await bondExactly(Role.providerA, usd('100'));
    const asA = s.escrowAs(Role.providerA);
    const delay = await s.escrow.UNBOND_DELAY();

    expect(await revertOf(asA.withdrawBond.staticCall(tokenAddress))).toEqual({ name: 'NothingToWithdraw', args: [providerA, tokenAddress] });
    expect(await revertOf(asA.requestUnbond.staticCall(tokenAddress, 0n))).toEqual({ name: 'ZeroAmount', args: [] });
    expect(await revertOf(asA.requestUnbond.staticCall(tokenAddress, usd('100.000001')))).toEqual({
      name: 'InsufficientBond',
      args: [providerA, tokenAddress, usd('100'), usd('100.000001')],
    });

    const request = await mined(asA.requestUnbond(tokenAddress, usd('60')));
    const availableAt = (await blockTime(request.blockNumber)) + delay;
    expect(eventsOf(request, s.escrow)).toEqual([{ name: 'UnbondRequested', args: [providerA, tokenAddress, usd('60'), availableAt] }]);
    expect(await bondOf(providerA)).toEqual([usd('40'), usd('60'), availableAt]);

    expect(await revertOf(asA.withdrawBond.staticCall(tokenAddress))).toEqual({ name: 'UnbondNotReady', args: [availableAt] });
    await increaseTime(chain, delay - HOUR);
    expect(await revertOf(asA.withdrawBond.staticCall(tokenAddress))).toEqual({ name: 'UnbondNotReady', args: [availableAt] });

    // One second early, mined: reverts on chain. At availableAt itself: pays.
    await rpc(chain.node.rpcUrl, 'evm_setNextBlockTimestamp', [Number(availableAt - 1n)]);
    await minedRevert(asA.withdrawBond(tokenAddress, { gasLimit: 200_000n }));
    await rpc(chain.node.rpcUrl, 'evm_setNextBlockTimestamp', [Number(availableAt)]);
    const [walletBefore, escrowBefore] = await Promise.all([balance(providerA), balance(escrowAddress)]);
    const withdrawal = await mined(asA.withdrawBond(tokenAddress));

    expect(eventsOf(withdrawal, s.escrow)).toEqual([{ name: 'BondWithdrawn', args: [providerA, tokenAddress, usd('60')] }]);
    expect(await Promise.all([balance(providerA), balance(escrowAddress)])).toEqual([walletBefore + usd('60'), escrowBefore - usd('60')]);
    expect(await bondOf(providerA)).toEqual([usd('40'), 0n, 0n]);
    expect(await revertOf(asA.withdrawBond.staticCall(tokenAddress))).toEqual({ name: 'NothingToWithdraw', args: [providerA, tokenAddress] });
  });

  it('a second requestUnbond adds to the unbonding amount and restarts the clock for all of it', async () => {
    await bondExactly(Role.providerA, usd('100'));
    const asA = s.escrowAs(Role.providerA);
    const delay = await s.escrow.UNBOND_DELAY();

    const first = await mined(asA.requestUnbond(tokenAddress, usd('30')));
    const firstAvailable = (await blockTime(first.blockNumber)) + delay;
    await increaseTime(chain, delay - DAY);
    const second = await mined(asA.requestUnbond(tokenAddress, usd('20')));
    const secondAvailable = (await blockTime(second.blockNumber)) + delay;
    expect(secondAvailable).toBeGreaterThan(firstAvailable);
    expect(eventsOf(second, s.escrow)).toEqual([{ name: 'UnbondRequested', args: [providerA, tokenAddress, usd('20'), secondAvailable] }]);
    expect(await bondOf(providerA)).toEqual([usd('50'), usd('50'), secondAvailable]);

    // Past the first request's time, the first 30 are not withdrawable on their own.
    await increaseTime(chain, 2n * DAY);
    expect(await latestTimestamp(chain)).toBeGreaterThan(firstAvailable);
    expect(await revertOf(asA.withdrawBond.staticCall(tokenAddress))).toEqual({ name: 'UnbondNotReady', args: [secondAvailable] });

    await increaseTime(chain, secondAvailable - (await latestTimestamp(chain)) + 1n);
    const withdrawal = await mined(asA.withdrawBond(tokenAddress));
    expect(eventsOf(withdrawal, s.escrow)).toEqual([{ name: 'BondWithdrawn', args: [providerA, tokenAddress, usd('50')] }]);
    expect(await bondOf(providerA)).toEqual([usd('50'), 0n, 0n]);
  });

  it('slash splits exactly: half (rounded down) to the verifier, the rest to the payer, as credit they withdraw', async () => {
    await bondExactly(Role.providerA, usd('100'));
    const jobId = await openJob('slash-split', usd('10'));
    const odd = 1_000_001n; // 1.000001 units: the verifier gets 500,000 base units, the payer 500,001
    const [verifierBefore, payerBefore, escrowBefore] = await Promise.all([owed(verifier), owed(payer), balance(escrowAddress)]);

    expect(await settler.slash.staticCall(jobId, providerA, verifier, odd)).toBe(odd);
    const receipt = await mined(settler.slash(jobId, providerA, verifier, odd));

    expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'Slashed', args: [jobId, providerA, tokenAddress, odd, 500_001n, 500_000n, verifier] }]);
    expect(await bondOf(providerA)).toEqual([usd('100') - odd, 0n, 0n]);
    expect(await Promise.all([owed(verifier), owed(payer), balance(escrowAddress)])).toEqual([
      verifierBefore + 500_000n,
      payerBefore + 500_001n,
      escrowBefore, // slashing moves no tokens
    ]);
    expect(await s.escrow.slashedOf(jobId)).toBe(true);
    expect((await s.escrow.jobs(jobId)).status).toBe(JobStatus.Open); // the job itself is untouched

    const verifierWallet = await balance(verifier);
    await mined(s.escrowAs(VERIFIER).withdraw(tokenAddress));
    expect(await balance(verifier)).toBe(verifierWallet + verifierBefore + 500_000n);
  });

  it('slash takes the bonded amount first, then the unbonding one; an emptied unbonding has no time any more', async () => {
    await bondExactly(Role.providerA, usd('30'), usd('50'));
    const [, , unbondableAt] = await bondOf(providerA);

    await mined(settler.slash(await openJob('slash-bonded-only', usd('1')), providerA, verifier, usd('20')));
    expect(await bondOf(providerA)).toEqual([usd('10'), usd('50'), unbondableAt]);

    await mined(settler.slash(await openJob('slash-into-unbonding', usd('1')), providerA, verifier, usd('25')));
    expect(await bondOf(providerA)).toEqual([0n, usd('35'), unbondableAt]);

    // Unbonding cannot dodge a slash: it is taken all the same, and its clock goes with it.
    const receipt = await mined(settler.slash(await openJob('slash-all-unbonding', usd('1')), providerA, verifier, usd('35')));
    expect(eventsOf(receipt, s.escrow)[0]?.args.slice(3, 6)).toEqual([usd('35'), usd('17.5'), usd('17.5')]);
    expect(await bondOf(providerA)).toEqual([0n, 0n, 0n]);
    expect(await revertOf(s.escrowAs(Role.providerA).withdrawBond.staticCall(tokenAddress))).toEqual({
      name: 'NothingToWithdraw',
      args: [providerA, tokenAddress],
    });
  });

  it('slash is capped at the bond, and with no bond it slashes 0 but still marks the job and emits', async () => {
    await bondExactly(Role.providerA, usd('3'), usd('2'));
    const capped = await openJob('slash-capped', usd('1'));
    expect(await settler.slash.staticCall(capped, providerA, verifier, usd('1000'))).toBe(usd('5'));
    const receipt = await mined(settler.slash(capped, providerA, verifier, usd('1000')));
    expect(eventsOf(receipt, s.escrow)).toEqual([{ name: 'Slashed', args: [capped, providerA, tokenAddress, usd('5'), usd('2.5'), usd('2.5'), verifier] }]);
    expect(await bondOf(providerA)).toEqual([0n, 0n, 0n]);

    const empty = await openJob('slash-no-bond', usd('1'));
    const before = await Promise.all([owed(verifier), owed(payer)]);
    expect(await settler.slash.staticCall(empty, providerA, verifier, usd('10'))).toBe(0n);
    const none = await mined(settler.slash(empty, providerA, verifier, usd('10')));
    expect(eventsOf(none, s.escrow)).toEqual([{ name: 'Slashed', args: [empty, providerA, tokenAddress, 0n, 0n, 0n, verifier] }]);
    expect(await Promise.all([owed(verifier), owed(payer)])).toEqual(before);
    expect(await s.escrow.slashedOf(empty)).toBe(true);
    expect(await revertOf(settler.slash.staticCall(empty, providerA, verifier, usd('10')))).toEqual({ name: 'AlreadySlashed', args: [empty] });
  });

  it("slash takes only the bond in the job's token", async () => {
    const other = await deploy<TestToken>('TestStablecoin', signer(chain, Role.admin));
    const otherAddress = await other.getAddress();
    await fund(chain, other, s.escrow, Role.providerB, usd('100'));
    await mined(s.escrowAs(Role.providerB).postBond(providerB, otherAddress, usd('100')));
    const [bondInJobToken] = await bondOf(providerB);

    await mined(settler.slash(await openJob('slash-token', usd('1')), providerB, verifier, usd('1')));

    expect(await bondOf(providerB, otherAddress)).toEqual([usd('100'), 0n, 0n]);
    expect(await bondOf(providerB)).toEqual([(bondInJobToken ?? 0n) - usd('1'), 0n, 0n]);
  });

  it('a job slashes once, whether it is open, settled or reclaimed — simulated and mined — and a retry changes nothing', async () => {
    await bondExactly(Role.providerA, usd('100'));
    const open = await openJob('slash-once-open', usd('10'));
    const settled = await openJob('slash-once-settled', usd('10'));
    await mined(settler.settle(settled, [providerA], [usd('10')]));
    const reclaimed = jobIdOf('slash-once-reclaimed');
    await mined(s.escrowAs(Role.payer).deposit(reclaimed, tokenAddress, usd('10'), (await latestTimestamp(chain)) + 60n));
    await increaseTime(chain, 120n);
    await mined(s.escrowAs(Role.payer).reclaim(reclaimed));

    for (const jobId of [open, settled, reclaimed]) {
      expect(await s.escrow.slashedOf(jobId)).toBe(false);
      await mined(settler.slash(jobId, providerA, verifier, usd('1')));
      expect(await s.escrow.slashedOf(jobId)).toBe(true);
    }
    expect(await bondOf(providerA)).toEqual([usd('97'), 0n, 0n]);

    const before = await Promise.all([bondOf(providerA), owed(verifier), owed(payer), balance(escrowAddress)]);
    for (const jobId of [open, settled, reclaimed]) {
      expect(await revertOf(settler.slash.staticCall(jobId, providerA, verifier, usd('1')))).toEqual({ name: 'AlreadySlashed', args: [jobId] });
      // A different provider or amount does not make it a different slash: the job id is the key.
      expect(await revertOf(settler.slash.staticCall(jobId, providerB, payer, usd('2')))).toEqual({ name: 'AlreadySlashed', args: [jobId] });
    }
    await minedRevert(settler.slash(open, providerA, verifier, usd('1'), { gasLimit: 200_000n }));
    expect(await Promise.all([bondOf(providerA), owed(verifier), owed(payer), balance(escrowAddress)])).toEqual(before);
  });

  it('only the settlement role slashes: the payer, the provider, the verifier and the admin without the role are refused', async () => {
    await bondExactly(Role.providerA, usd('10'));
    const jobId = await openJob('slash-roles', usd('1'));
    const role = await s.escrow.SETTLER_ROLE();
    for (const index of [Role.payer, Role.providerA, VERIFIER, Role.admin]) {
      expect(await revertOf(s.escrowAs(index).slash.staticCall(jobId, providerA, verifier, usd('1')))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [address(chain, index), role],
      });
    }
    await minedRevert(s.escrowAs(Role.payer).slash(jobId, providerA, address(chain, Role.payer), usd('1'), { gasLimit: 200_000n }));
    expect([await s.escrow.slashedOf(jobId), await bondOf(providerA)]).toEqual([false, [usd('10'), 0n, 0n]]);
  });

  it('slash refuses an unknown job, a zero provider or verifier, and a zero amount', async () => {
    const jobId = await openJob('slash-rules', usd('1'));
    const unknown = jobIdOf('slash-never-deposited');
    expect(await revertOf(settler.slash.staticCall(unknown, providerA, verifier, 1n))).toEqual({ name: 'UnknownJob', args: [unknown] });
    expect(await revertOf(settler.slash.staticCall(jobId, ZERO, verifier, 1n))).toEqual({ name: 'ZeroAddress', args: [] });
    expect(await revertOf(settler.slash.staticCall(jobId, providerA, ZERO, 1n))).toEqual({ name: 'ZeroAddress', args: [] });
    expect(await revertOf(settler.slash.staticCall(jobId, providerA, verifier, 0n))).toEqual({ name: 'ZeroAmount', args: [] });
    expect(await s.escrow.slashedOf(jobId)).toBe(false);
  });

  it('gas: each bond operation and a slash cost about a token transfer or less (figures in docs/contracts.md)', async () => {
    const [provider, freshVerifier] = [8, 9];
    const who = address(chain, provider);
    await fund(chain, s.token, s.escrow, provider, usd('1000'));
    const asProvider = s.escrowAs(provider);
    // The same starting point however the suite runs: the escrow already holds the token and the
    // payer already has a credit (a first credit writes a fresh slot, +17.1k gas, as for settle).
    await mined(settler.settle(await openJob('gas-warm-up', usd('1')), [], []));
    const gas: [string, bigint][] = [];
    const measure = async (label: string, tx: Promise<ContractTransactionResponse>) => gas.push([label, (await mined(tx)).gasUsed]);

    await measure('postBond, first bond of the provider in the token', asProvider.postBond(who, tokenAddress, usd('100')));
    await measure('postBond, adding to a bond', asProvider.postBond(who, tokenAddress, usd('50')));
    await measure('requestUnbond, nothing unbonding yet', asProvider.requestUnbond(tokenAddress, usd('30')));
    await measure('requestUnbond, adding to unbonding', asProvider.requestUnbond(tokenAddress, usd('10')));
    await increaseTime(chain, await s.escrow.UNBOND_DELAY());
    await measure('withdrawBond', asProvider.withdrawBond(tokenAddress));
    const slashJob = async (label: string) => openJob(`gas-${label}`, usd('1'));
    await measure('slash, first credit of the verifier', settler.slash(await slashJob('cold'), who, address(chain, freshVerifier), usd('2')));
    await measure('slash, verifier and payer already credited', settler.slash(await slashJob('warm'), who, address(chain, freshVerifier), usd('2')));
    await measure(
      'slash, bonded and unbonding both taken',
      (async () => {
        await mined(asProvider.requestUnbond(tokenAddress, usd('10')));
        return settler.slash(await slashJob('both'), who, address(chain, freshVerifier), usd('200'));
      })(),
    );
    await measure('slash of a provider with no bond', settler.slash(await slashJob('none'), who, address(chain, freshVerifier), usd('2')));

    console.log(`bond gas (anvil, this build):\n${gas.map(([label, g]) => `  ${label}: ${g}`).join('\n')}`);
    // A plain ERC-20 transfer to a new holder is ~51k gas; nothing here may cost much more than two.
    for (const [label, g] of gas) expect({ label, under100k: g < 100_000n }).toEqual({ label, under100k: true });
  });

  it('the escrow holds exactly open deposits + credits + bonds + unbonding (the solvency invariant, read back)', async () => {
    // Every account this suite touched, and every job it opened, read from the chain.
    const accounts = [Role.admin, Role.settler, Role.payer, Role.providerA, Role.providerB, Role.outsider, VERIFIER, FUNDER, 8, 9].map((i) =>
      address(chain, i),
    );
    const deposits = await s.escrow.queryFilter(s.escrow.getEvent('Deposited')(), 0, 'latest');
    const jobIds = [...new Set(deposits.map((l) => s.escrow.interface.parseLog(l)?.args[0] as string))];
    const jobs = await Promise.all(jobIds.map((j) => s.escrow.jobs(j)));
    const open = jobs.filter((j) => j.status === JobStatus.Open && j.token === tokenAddress).reduce((a, j) => a + j.deposit, 0n);
    const credits = (await Promise.all(accounts.map(owed))).reduce((a, b) => a + b, 0n);
    const bonds = (await Promise.all(accounts.map((a) => bondOf(a)))).reduce((a, [b, u]) => a + (b ?? 0n) + (u ?? 0n), 0n);
    expect(bonds).toBeGreaterThan(0n);
    expect(await balance(escrowAddress)).toBe(open + credits + bonds);
  });
});

describe('FlotillaEscrow bonds against a re-entering token', () => {
  let chain: Chain;
  let s: EscrowStack;
  let hostile: HostileToken;
  let escrowAddress: string, hostileAddress: string, providerA: string;
  const jobId = jobIdOf('hostile-bond-job'); // an open job in the hostile token: the target of nested slashes

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    escrowAddress = await s.escrow.getAddress();
    providerA = address(chain, Role.providerA);
    hostile = await deploy<HostileToken>('HostileToken', signer(chain, Role.admin));
    hostileAddress = await hostile.getAddress();
    await fund(chain, hostile, s.escrow, Role.payer, usd('1000'));
    await fund(chain, hostile, s.escrow, Role.providerA, usd('1000'));

    await mined(s.escrowAs(Role.payer).deposit(jobId, hostileAddress, usd('10'), (await latestTimestamp(chain)) + 30n * DAY));
    // providerA has 100 unbonding and ready to withdraw, 100 still bonded; the token itself (acting
    // as a provider) has 40 unbonding and ready.
    await mined(s.escrowAs(Role.providerA).postBond(providerA, hostileAddress, usd('200')));
    await mined(s.escrowAs(Role.providerA).requestUnbond(hostileAddress, usd('100')));
    await mined(s.escrowAs(Role.payer).postBond(hostileAddress, hostileAddress, usd('40')));
    await mined(hostile.execute(escrowAddress, s.escrow.interface.encodeFunctionData('requestUnbond', [hostileAddress, usd('40')])));
    await increaseTime(chain, 7n * DAY);
    // The token even holds the settler role: only the reentrancy guard stands in its way.
    await mined(s.escrowAs(Role.admin).grantRole(await s.escrow.SETTLER_ROLE(), hostileAddress));
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  const nested = (name: string): string => {
    const escrow = s.escrow.interface;
    const payloads: Record<string, string> = {
      withdrawBond: escrow.encodeFunctionData('withdrawBond', [hostileAddress]),
      slash: escrow.encodeFunctionData('slash', [jobId, providerA, hostileAddress, usd('100')]),
      postBond: escrow.encodeFunctionData('postBond', [hostileAddress, hostileAddress, 1n]),
      requestUnbond: escrow.encodeFunctionData('requestUnbond', [hostileAddress, 1n]),
      withdraw: escrow.encodeFunctionData('withdraw', [hostileAddress]),
    };
    const payload = payloads[name];
    if (!payload) throw new Error(`no payload for ${name}`);
    return payload;
  };

  it.each(['withdrawBond', 'slash', 'postBond', 'requestUnbond', 'withdraw'])(
    'a nested %s from inside a bond withdrawal trips the guard and reverts the whole withdrawBond',
    async (name) => {
      await mined(hostile.arm(escrowAddress, nested(name), true));
      expect(await revertOf(s.escrowAs(Role.providerA).withdrawBond.staticCall(hostileAddress))).toEqual({
        name: 'ReentrancyGuardReentrantCall',
        args: [],
      });
    },
  );

  it('a nested slash from inside a bond posting trips the guard too', async () => {
    await mined(hostile.arm(escrowAddress, nested('slash'), true));
    expect(await revertOf(s.escrowAs(Role.providerA).postBond.staticCall(providerA, hostileAddress, 1n))).toEqual({
      name: 'ReentrancyGuardReentrantCall',
      args: [],
    });
  });

  it('when the token swallows a nested withdrawBond, the token-as-provider is paid its unbonding exactly once', async () => {
    const withdrawBond = nested('withdrawBond');
    await mined(hostile.arm(escrowAddress, withdrawBond, false));
    const escrowBefore = await hostile.balanceOf(escrowAddress);

    await mined(hostile.execute(escrowAddress, withdrawBond));

    expect(await hostile.balanceOf(hostileAddress)).toBe(usd('40'));
    expect(await hostile.balanceOf(escrowAddress)).toBe(escrowBefore - usd('40'));
    expect([...(await s.escrow.bondOf(hostileAddress, hostileAddress))]).toEqual([0n, 0n, 0n]);
    expect([await hostile.reentryAttempted(), await hostile.reentrySucceeded()]).toEqual([true, false]);
    expect(s.escrow.interface.parseError(await hostile.reentryResult())?.name).toBe('ReentrancyGuardReentrantCall');
  });

  it('when the token swallows a nested slash, the provider withdraws its unbonding and the job stays unslashed', async () => {
    await mined(hostile.arm(escrowAddress, nested('slash'), false));
    const walletBefore = await hostile.balanceOf(providerA);

    await mined(s.escrowAs(Role.providerA).withdrawBond(hostileAddress));

    expect(await hostile.balanceOf(providerA)).toBe(walletBefore + usd('100'));
    expect([...(await s.escrow.bondOf(providerA, hostileAddress))]).toEqual([usd('100'), 0n, 0n]);
    expect(await s.escrow.slashedOf(jobId)).toBe(false);
    expect(await s.escrow.owed(hostileAddress, hostileAddress)).toBe(0n);
    expect([await hostile.reentryAttempted(), await hostile.reentrySucceeded()]).toEqual([true, false]);
    await mined(hostile.arm(ZERO, '0x', false));
  });
});
