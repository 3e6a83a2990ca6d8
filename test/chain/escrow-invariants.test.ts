// A seeded random sequence of deposits, top-ups, settlements (single and batched), withdrawals,
// reclaims, provider bonds (posted by payers acting as funders), unbond requests, bond withdrawals,
// slashes, clock jumps (some past the unbonding delay) and operations that must revert, run against
// a real anvil and mirrored in a small model. After every step, for each token:
//   escrow's token balance == Σ deposits of open jobs + Σ credits not yet withdrawn
//                             + Σ bonded + Σ unbonding
// every bond matches the model, and every provider's wallet holds exactly what it withdrew (credits
// and bonds), never more than its settled shares plus its returned bonds.
// Reproduce a failure with FLOTILLA_INVARIANT_SEED=<seed>.
import { parseUnits } from 'ethers';
import { seededRandom } from '../support/placement-fixtures.ts';
import {
  CHAIN_SETUP_TIMEOUT_MS,
  JobStatus,
  Role,
  address,
  deploy,
  deployEscrowStack,
  fund,
  increaseTime,
  jobIdOf,
  latestTimestamp,
  mined,
  revertOf,
  signer,
  startChain,
} from '../support/escrow-fixture.ts';
import type { Chain, Escrow, EscrowStack, SettlementBatchEntry, TestToken } from '../support/escrow-fixture.ts';

const SEED = Number(process.env.FLOTILLA_INVARIANT_SEED ?? 20260523);
const STEPS = 200;

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(0, xs.length - 1)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }
  /** Uniform in [0, max] (max below 2^53). */
  upTo(max: bigint): bigint {
    return BigInt(Math.floor(this.next() * (Number(max) + 1)));
  }
}

type Status = 'open' | 'settled' | 'reclaimed';
interface ModelJob {
  readonly id: string;
  readonly payer: number;
  readonly token: number;
  deposit: bigint;
  deadline: bigint;
  status: Status;
}
interface ModelBond {
  bonded: bigint;
  unbonding: bigint;
  unbondableAt: bigint;
}
const chainStatus: Record<Status, bigint> = { open: JobStatus.Open, settled: JobStatus.Settled, reclaimed: JobStatus.Reclaimed };

const PAYERS = [Role.payer, Role.outsider, 6] as const;
const PROVIDERS = [Role.providerA, Role.providerB, 7, 8] as const;
const VERIFIER = 9;
const ACCOUNTS = [...PAYERS, ...PROVIDERS, VERIFIER];

describe(`FlotillaEscrow invariants over ${STEPS} random operations (seed ${SEED})`, () => {
  let chain: Chain;
  let s: EscrowStack;
  let tokens: TestToken[];
  let tokenAddresses: string[];
  let escrowAddress: string;

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    tokens = [s.token, await deploy<TestToken>('TestStablecoin', signer(chain, Role.admin))];
    tokenAddresses = await Promise.all(tokens.map((t) => t.getAddress()));
    escrowAddress = await s.escrow.getAddress();
    for (const token of tokens) {
      for (const payer of PAYERS) await fund(chain, token, s.escrow, payer, parseUnits('1000000', 6));
    }
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
  });

  it('keeps the escrow balance equal to open deposits plus unwithdrawn credits plus bonds, and overpays no provider', async () => {
    const rng = new Rng(SEED);
    const jobs: ModelJob[] = [];
    const key = (account: number, token: number) => `${account}|${token}`;
    const owed = new Map<string, bigint>();
    const shares = new Map<string, bigint>(); // every provider credit ever made by a settlement
    const withdrawn = new Map<string, bigint>();
    const bondReturned = new Map<string, bigint>(); // every withdrawBond, per provider and token
    const bonds = new Map<string, ModelBond>();
    const bondOf = (provider: number, token: number): ModelBond => {
      const k = key(provider, token);
      const b = bonds.get(k) ?? { bonded: 0n, unbonding: 0n, unbondableAt: 0n };
      bonds.set(k, b);
      return b;
    };
    const slashed = new Set<string>();
    const unbondDelay = await s.escrow.UNBOND_DELAY();
    const blockTime = async (blockNumber: number): Promise<bigint> => BigInt((await chain.provider.getBlock(blockNumber))?.timestamp ?? 0);
    const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
    const counts = new Map<string, number>();
    const settler = s.escrowAs(Role.settler);
    const as = (index: number): Escrow => s.escrowAs(index);

    /** Mirrors FlotillaEscrow._settle, including the skip of closed jobs in a batch. */
    function applySettlement(e: SettlementBatchEntry): void {
      const job = jobs.find((j) => j.id === e.jobId);
      if (!job || job.status !== 'open') return;
      const paid = e.amounts.reduce((a, b) => a + b, 0n);
      e.providers.forEach((p, i) => {
        const provider = ACCOUNTS.find((a) => address(chain, a) === p);
        if (provider === undefined) throw new Error(`not a test account: ${p}`);
        add(owed, key(provider, job.token), e.amounts[i] ?? 0n);
        add(shares, key(provider, job.token), e.amounts[i] ?? 0n);
      });
      add(owed, key(job.payer, job.token), job.deposit - paid);
      job.status = 'settled';
    }

    function settlementFor(job: ModelJob, overspend = false): SettlementBatchEntry {
      const providers = Array.from({ length: rng.int(0, 3) }, () => address(chain, rng.pick(PROVIDERS)));
      let left = job.deposit;
      const amounts = providers.map(() => {
        const a = rng.chance(0.2) ? left : rng.upTo(left);
        left -= a;
        return a;
      });
      if (overspend) {
        providers.push(address(chain, rng.pick(PROVIDERS)));
        amounts.push(left + 1n); // one base unit more than the deposit
      }
      return { jobId: job.id, providers, amounts };
    }

    /** An operation that must fail: mostly simulated, one in four mined (fixed gas) to revert on chain. */
    function mustRevert(label: string, caller: number, method: string, args: unknown[], error: string): () => Promise<string> {
      return async () => {
        const fn = s.escrowAs(caller).getFunction(method);
        if (rng.chance(0.25)) {
          const tx = await fn.send(...args, { gasLimit: 500_000n });
          await expect(tx.wait()).rejects.toMatchObject({ code: 'CALL_EXCEPTION', receipt: { status: 0 } });
          return `${label} (mined, reverted)`;
        }
        expect({ label, ...(await revertOf(fn.staticCall(...args))) }).toMatchObject({ label, name: error });
        return `${label} → ${error}`;
      };
    }

    for (let step = 0; step < STEPS; step++) {
      const now = await latestTimestamp(chain);
      const open = jobs.filter((j) => j.status === 'open');
      const closed = jobs.filter((j) => j.status !== 'open');
      const due = open.filter((j) => j.deadline <= now);
      const notDue = open.filter((j) => j.deadline > now + 30n);
      const credited = [...owed].filter(([, v]) => v > 0n).map(([k]) => k.split('|').map(Number) as [number, number]);
      const bondKeys = (pred: (b: ModelBond) => boolean) => [...bonds].filter(([, b]) => pred(b)).map(([k]) => k.split('|').map(Number) as [number, number]);
      const bonded = bondKeys((b) => b.bonded > 0n);
      const unbonding = bondKeys((b) => b.unbonding > 0n);
      const unbondable = bondKeys((b) => b.unbonding > 0n && b.unbondableAt <= now);
      const unslashed = jobs.filter((j) => !slashed.has(j.id));
      const ops: [number, string][] = [
        [4, 'deposit'],
        [2, 'time'],
      ];
      if (open.length) ops.push([1, 'top-up'], [2, 'settle'], [1, 'batch']);
      if (credited.length) ops.push([3, 'withdraw']);
      if (due.length) ops.push([3, 'reclaim']);
      if (jobs.length) ops.push([3, 'invalid']);
      ops.push([2, 'bond']);
      if (bonded.length) ops.push([2, 'unbond']);
      if (unbondable.length) ops.push([3, 'withdraw-bond']);
      if (unbonding.length) ops.push([1, 'time-past-unbond']);
      if (unslashed.length) ops.push([2, 'slash']);
      let r = rng.int(
        1,
        ops.reduce((a, [w]) => a + w, 0),
      );
      const kind = ops.find(([w]) => (r -= w) <= 0)?.[1] ?? 'deposit';
      let label: string = kind;

      switch (kind) {
        case 'deposit': {
          const job: ModelJob = {
            id: jobIdOf(`invariants:${SEED}:${step}`),
            payer: rng.pick(PAYERS),
            token: rng.int(0, 1),
            deposit: BigInt(rng.int(1, 1_000_000_000)),
            deadline: now + BigInt(rng.int(60, 1800)),
            status: 'open',
          };
          await mined(as(job.payer).deposit(job.id, tokenAddresses[job.token] ?? '', job.deposit, job.deadline));
          jobs.push(job);
          break;
        }
        case 'top-up': {
          const job = rng.pick(open);
          const amount = BigInt(rng.int(1, 100_000_000));
          const deadline = now + BigInt(rng.int(60, 1800));
          await mined(as(job.payer).deposit(job.id, tokenAddresses[job.token] ?? '', amount, deadline));
          job.deposit += amount;
          if (deadline > job.deadline) job.deadline = deadline;
          break;
        }
        case 'settle': {
          const entry = settlementFor(rng.pick(open));
          await mined(settler.settle(entry.jobId, entry.providers, entry.amounts));
          applySettlement(entry);
          label = `settle to ${entry.providers.length} provider(s)`;
          break;
        }
        case 'batch': {
          const entries = Array.from({ length: rng.int(1, 5) }, () => settlementFor(closed.length && rng.chance(0.2) ? rng.pick(closed) : rng.pick(open)));
          await mined(settler.settleBatch(entries));
          entries.forEach(applySettlement);
          label = `settleBatch of ${entries.length}`;
          break;
        }
        case 'withdraw': {
          const [account, token] = rng.pick(credited);
          const amount = owed.get(key(account, token)) ?? 0n;
          await mined(as(account).withdraw(tokenAddresses[token] ?? ''));
          owed.set(key(account, token), 0n);
          add(withdrawn, key(account, token), amount);
          break;
        }
        case 'reclaim': {
          const job = rng.pick(due);
          await mined(as(job.payer).reclaim(job.id));
          job.status = 'reclaimed';
          break;
        }
        case 'bond': {
          const [funder, provider, token] = [rng.pick(PAYERS), rng.pick(PROVIDERS), rng.int(0, 1)];
          const amount = BigInt(rng.int(1, 500_000_000));
          await mined(as(funder).postBond(address(chain, provider), tokenAddresses[token] ?? '', amount));
          bondOf(provider, token).bonded += amount;
          label = `bond ${amount} for ${provider} by ${funder}`;
          break;
        }
        case 'unbond': {
          const [provider, token] = rng.pick(bonded);
          const bond = bondOf(provider, token);
          const amount = rng.chance(0.3) ? bond.bonded : 1n + rng.upTo(bond.bonded - 1n);
          const receipt = await mined(as(provider).requestUnbond(tokenAddresses[token] ?? '', amount));
          bond.bonded -= amount;
          bond.unbonding += amount;
          bond.unbondableAt = (await blockTime(receipt.blockNumber)) + unbondDelay;
          label = `unbond ${amount} of ${provider}`;
          break;
        }
        case 'withdraw-bond': {
          const [provider, token] = rng.pick(unbondable);
          const bond = bondOf(provider, token);
          await mined(as(provider).withdrawBond(tokenAddresses[token] ?? ''));
          add(bondReturned, key(provider, token), bond.unbonding);
          Object.assign(bond, { unbonding: 0n, unbondableAt: 0n });
          break;
        }
        case 'slash': {
          const job = rng.pick(unslashed);
          const provider = rng.pick(PROVIDERS);
          const bond = bondOf(provider, job.token);
          const amount = 1n + rng.upTo(rng.chance(0.3) ? 2n * (bond.bonded + bond.unbonding) : bond.bonded + bond.unbonding);
          await mined(settler.slash(job.id, address(chain, provider), address(chain, VERIFIER), amount));
          const fromBonded = amount < bond.bonded ? amount : bond.bonded;
          const fromUnbonding = amount - fromBonded < bond.unbonding ? amount - fromBonded : bond.unbonding;
          bond.bonded -= fromBonded;
          bond.unbonding -= fromUnbonding;
          if (bond.unbonding === 0n) bond.unbondableAt = 0n;
          const taken = fromBonded + fromUnbonding;
          add(owed, key(VERIFIER, job.token), taken / 2n);
          add(owed, key(job.payer, job.token), taken - taken / 2n);
          slashed.add(job.id);
          label = `slash ${taken}/${amount} of ${provider} (job ${job.status})`;
          break;
        }
        case 'time-past-unbond': {
          const seconds = Number(unbondDelay) + rng.int(0, 3600);
          await increaseTime(chain, BigInt(seconds));
          label = `time +${seconds}s`;
          break;
        }
        case 'time': {
          const seconds = rng.int(1, 1500);
          await increaseTime(chain, BigInt(seconds));
          label = `time +${seconds}s`;
          break;
        }
        case 'invalid': {
          const invalid: (() => Promise<string>)[] = [];
          const job = rng.pick(jobs);
          const token = tokenAddresses[job.token] ?? '';
          const entry = settlementFor(job);
          const settleArgs = (e: SettlementBatchEntry) => [e.jobId, e.providers, e.amounts];
          if (job.status !== 'open') {
            const error = job.status === 'settled' ? 'AlreadySettled' : 'AlreadyReclaimed';
            invalid.push(
              mustRevert('settle a closed job', Role.settler, 'settle', settleArgs(entry), error),
              mustRevert('reclaim a closed job', job.payer, 'reclaim', [job.id], error),
              mustRevert('top up a closed job', job.payer, 'deposit', [job.id, token, 1n, now + 600n], error),
            );
          } else {
            const other = PAYERS.find((p) => p !== job.payer) ?? Role.payer;
            invalid.push(
              mustRevert('overspend', Role.settler, 'settle', settleArgs(settlementFor(job, true)), 'SettlementExceedsDeposit'),
              mustRevert('settle without the role', rng.pick([...ACCOUNTS, Role.admin]), 'settle', settleArgs(entry), 'AccessControlUnauthorizedAccount'),
              mustRevert('reclaim by another payer', other, 'reclaim', [job.id], 'NotPayer'),
              mustRevert('top up by another payer', other, 'deposit', [job.id, token, 1n, now + 600n], 'NotPayer'),
              mustRevert('top up in the other token', job.payer, 'deposit', [job.id, tokenAddresses[1 - job.token], 1n, now + 600n], 'TokenMismatch'),
            );
            if (notDue.includes(job)) invalid.push(mustRevert('reclaim before the deadline', job.payer, 'reclaim', [job.id], 'DeadlineNotReached'));
          }
          const slashArgs = (j: ModelJob) => [j.id, address(chain, rng.pick(PROVIDERS)), address(chain, VERIFIER), BigInt(rng.int(1, 1000))];
          if (slashed.has(job.id)) invalid.push(mustRevert('slash a job twice', Role.settler, 'slash', slashArgs(job), 'AlreadySlashed'));
          invalid.push(
            mustRevert('slash without the role', rng.pick([...ACCOUNTS, Role.admin]), 'slash', slashArgs(job), 'AccessControlUnauthorizedAccount'),
            mustRevert('slash an unknown job', Role.settler, 'slash', [jobIdOf(`unknown:${step}`), ...slashArgs(job).slice(1)], 'UnknownJob'),
          );
          const provider = rng.pick(PROVIDERS);
          const t = rng.int(0, 1);
          const bond = bondOf(provider, t);
          invalid.push(
            mustRevert('unbond more than bonded', provider, 'requestUnbond', [tokenAddresses[t], bond.bonded + 1n], 'InsufficientBond'),
            bond.unbonding === 0n
              ? mustRevert('withdraw a bond with nothing unbonding', provider, 'withdrawBond', [tokenAddresses[t]], 'NothingToWithdraw')
              : bond.unbondableAt > now + 60n
                ? mustRevert('withdraw a bond before the delay', provider, 'withdrawBond', [tokenAddresses[t]], 'UnbondNotReady')
                : mustRevert('post a bond of zero', rng.pick(PAYERS), 'postBond', [address(chain, provider), tokenAddresses[t], 0n], 'ZeroAmount'),
          );
          const idle = ACCOUNTS.flatMap((a) => [0, 1].map((t) => [a, t] as const)).filter(([a, t]) => (owed.get(key(a, t)) ?? 0n) === 0n);
          if (idle.length) {
            const [a, t] = rng.pick(idle);
            invalid.push(mustRevert('withdraw with no credit', a, 'withdraw', [tokenAddresses[t]], 'NothingToWithdraw'));
          }
          label = await rng.pick(invalid)();
          break;
        }
      }
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      await checkInvariants(step, label);
    }

    async function checkInvariants(step: number, op: string): Promise<void> {
      const [balances, onChainJobs, credits, wallets, onChainBonds] = await Promise.all([
        Promise.all(tokens.map((t) => t.balanceOf(escrowAddress))),
        Promise.all(jobs.map((j) => s.escrow.jobs(j.id))),
        Promise.all(ACCOUNTS.flatMap((a) => tokenAddresses.map((t) => s.escrow.owed(address(chain, a), t)))),
        Promise.all(PROVIDERS.flatMap((p) => tokens.map((t) => t.balanceOf(address(chain, p))))),
        Promise.all(PROVIDERS.flatMap((p) => tokenAddresses.map(async (t) => [...(await s.escrow.bondOf(address(chain, p), t))]))),
      ]);
      const where = { step, op };

      // The chain agrees with the model, job by job and credit by credit.
      expect({ ...where, jobs: onChainJobs.map((j) => [j.status, j.deposit, j.deadline]) }).toEqual({
        ...where,
        jobs: jobs.map((j) => [chainStatus[j.status], j.deposit, j.deadline]),
      });
      expect({ ...where, credits }).toEqual({ ...where, credits: ACCOUNTS.flatMap((a) => [0, 1].map((t) => owed.get(key(a, t)) ?? 0n)) });
      expect({ ...where, bonds: onChainBonds }).toEqual({
        ...where,
        bonds: PROVIDERS.flatMap((p) => [0, 1].map((t) => bonds.get(key(p, t)) ?? { bonded: 0n, unbonding: 0n, unbondableAt: 0n })).map((b) => [
          b.bonded,
          b.unbonding,
          b.unbondableAt,
        ]),
      });
      const slashedOnChain = await Promise.all(jobs.map((j) => s.escrow.slashedOf(j.id)));
      expect({ ...where, slashed: slashedOnChain }).toEqual({ ...where, slashed: jobs.map((j) => slashed.has(j.id)) });

      // Solvency, from chain reads alone: balance == open deposits + unwithdrawn credits + bonded + unbonding.
      tokens.forEach((_, t) => {
        const openDeposits = onChainJobs.filter((j, i) => j.status === JobStatus.Open && jobs[i]?.token === t).reduce((a, j) => a + j.deposit, 0n);
        const unwithdrawn = credits.filter((_, i) => i % 2 === t).reduce((a, b) => a + b, 0n);
        const bonded = onChainBonds.filter((_, i) => i % 2 === t).reduce((a, [b, u]) => a + (b ?? 0n) + (u ?? 0n), 0n);
        expect({ ...where, token: t, balance: balances[t] }).toEqual({ ...where, token: t, balance: openDeposits + unwithdrawn + bonded });
      });

      // Providers hold exactly what they withdrew (credits and returned bonds), which never exceeds
      // what settlements gave them plus the bonds they got back.
      PROVIDERS.forEach((p, i) =>
        [0, 1].forEach((t) => {
          const held = wallets[i * 2 + t] ?? 0n;
          const returned = bondReturned.get(key(p, t)) ?? 0n;
          expect({ ...where, provider: p, token: t, held }).toEqual({ ...where, provider: p, token: t, held: (withdrawn.get(key(p, t)) ?? 0n) + returned });
          expect(held).toBeLessThanOrEqual((shares.get(key(p, t)) ?? 0n) + returned);
        }),
      );
    }

    console.log(
      `invariants held over ${STEPS} operations (seed ${SEED}): ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}; ` +
        `${jobs.length} jobs, ${jobs.filter((j) => j.status === 'settled').length} settled, ${jobs.filter((j) => j.status === 'reclaimed').length} reclaimed, ` +
        `${slashed.size} slashed`,
    );
  }, 180_000);
});
