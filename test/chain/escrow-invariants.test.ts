// A seeded random sequence of deposits, top-ups, settlements (single and batched), withdrawals,
// reclaims, clock jumps and operations that must revert, run against a real anvil and mirrored in a
// small model. After every step, for each token:
//   escrow's token balance == Σ deposits of open jobs + Σ credits not yet withdrawn
// and every provider's wallet holds exactly what it withdrew, never more than its settled shares.
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
const STEPS = 150;

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
const chainStatus: Record<Status, bigint> = { open: JobStatus.Open, settled: JobStatus.Settled, reclaimed: JobStatus.Reclaimed };

const PAYERS = [Role.payer, Role.outsider, 6] as const;
const PROVIDERS = [Role.providerA, Role.providerB, 7, 8] as const;
const ACCOUNTS = [...PAYERS, ...PROVIDERS];

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

  it('keeps the escrow balance equal to open deposits plus unwithdrawn credits, and overpays no provider', async () => {
    const rng = new Rng(SEED);
    const jobs: ModelJob[] = [];
    const key = (account: number, token: number) => `${account}|${token}`;
    const owed = new Map<string, bigint>();
    const shares = new Map<string, bigint>(); // every provider credit ever made by a settlement
    const withdrawn = new Map<string, bigint>();
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
      const ops: [number, string][] = [
        [4, 'deposit'],
        [2, 'time'],
      ];
      if (open.length) ops.push([1, 'top-up'], [2, 'settle'], [1, 'batch']);
      if (credited.length) ops.push([3, 'withdraw']);
      if (due.length) ops.push([3, 'reclaim']);
      if (jobs.length) ops.push([3, 'invalid']);
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
      const [balances, onChainJobs, credits, wallets] = await Promise.all([
        Promise.all(tokens.map((t) => t.balanceOf(escrowAddress))),
        Promise.all(jobs.map((j) => s.escrow.jobs(j.id))),
        Promise.all(ACCOUNTS.flatMap((a) => tokenAddresses.map((t) => s.escrow.owed(address(chain, a), t)))),
        Promise.all(PROVIDERS.flatMap((p) => tokens.map((t) => t.balanceOf(address(chain, p))))),
      ]);
      const where = { step, op };

      // The chain agrees with the model, job by job and credit by credit.
      expect({ ...where, jobs: onChainJobs.map((j) => [j.status, j.deposit, j.deadline]) }).toEqual({
        ...where,
        jobs: jobs.map((j) => [chainStatus[j.status], j.deposit, j.deadline]),
      });
      expect({ ...where, credits }).toEqual({ ...where, credits: ACCOUNTS.flatMap((a) => [0, 1].map((t) => owed.get(key(a, t)) ?? 0n)) });

      // Solvency, from chain reads alone: balance == open deposits + unwithdrawn credits.
      tokens.forEach((_, t) => {
        const openDeposits = onChainJobs.filter((j, i) => j.status === JobStatus.Open && jobs[i]?.token === t).reduce((a, j) => a + j.deposit, 0n);
        const unwithdrawn = credits.filter((_, i) => i % 2 === t).reduce((a, b) => a + b, 0n);
        expect({ ...where, token: t, balance: balances[t] }).toEqual({ ...where, token: t, balance: openDeposits + unwithdrawn });
      });

      // Providers hold exactly what they withdrew, which never exceeds what settlements gave them.
      PROVIDERS.forEach((p, i) =>
        [0, 1].forEach((t) => {
          const held = wallets[i * 2 + t] ?? 0n;
          expect({ ...where, provider: p, token: t, held }).toEqual({ ...where, provider: p, token: t, held: withdrawn.get(key(p, t)) ?? 0n });
          expect(held).toBeLessThanOrEqual(shares.get(key(p, t)) ?? 0n);
        }),
      );
    }

    console.log(
      `invariants held over ${STEPS} operations (seed ${SEED}): ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}; ` +
        `${jobs.length} jobs, ${jobs.filter((j) => j.status === 'settled').length} settled, ${jobs.filter((j) => j.status === 'reclaimed').length} reclaimed`,
    );
  }, 120_000);
});
