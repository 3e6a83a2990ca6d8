// Gas of settling jobs one transaction each vs in settleBatch, measured on a real chain. Shared by
// the batch test (which asserts the batched cost) and bench/settlement-gas.ts (which prints a table),
// hence in test/support/ (bench/ imports test-support code from there only).
import { getAddress, dataSlice, id, parseUnits } from 'ethers';
import { Role, fund, jobIdOf, latestTimestamp, mined } from './escrow-fixture.ts';
import type { Chain, EscrowStack, SettlementBatchEntry } from './escrow-fixture.ts';

/** A plain ERC-20 transfer to an account that already holds the token (21k base + ~20k). */
export const PLAIN_TRANSFER_GAS = 41_000n;

export interface GasMeasurement {
  readonly mode: 'single' | 'batch';
  readonly batchSize: number;
  readonly jobs: number;
  readonly providersPerJob: number;
  /** Whether providers and payer already had a credit (steady state) or receive their first one. */
  readonly warm: boolean;
  readonly totalGas: bigint;
  readonly gasPerJob: bigint;
  /** Wall-clock time to send and mine all settlement transactions on this node. */
  readonly wallMs: number;
}

const usd = (amount: string): bigint => parseUnits(amount, 6);

/** A deterministic provider payout address (providers only receive credits; they need no key). */
export function providerAddress(label: string): string {
  return getAddress(dataSlice(id(`provider:${label}`), 12));
}

/** Opens `count` jobs of 100 tUSD from the payer, sending the deposits concurrently. */
export async function openJobs(chain: Chain, s: EscrowStack, prefix: string, count: number): Promise<string[]> {
  const token = await s.token.getAddress();
  await fund(chain, s.token, s.escrow, Role.payer, usd('100') * BigInt(count));
  const deadline = (await latestTimestamp(chain)) + 86_400n;
  const ids = Array.from({ length: count }, (_, i) => jobIdOf(`${prefix}:${i}`));
  const asPayer = s.escrowAs(Role.payer);
  await Promise.all(ids.map((jobId) => mined(asPayer.deposit(jobId, token, usd('100'), deadline))));
  return ids;
}

/** Job i pays `providersPerJob` providers of the pool 30, 20 and 10 tUSD; the rest is refunded. */
export function entriesFor(jobIds: readonly string[], providersPerJob: number, pool: readonly string[]): SettlementBatchEntry[] {
  return jobIds.map((jobId, i) => {
    const providers = Array.from({ length: providersPerJob }, (_, k) => pool[(i * providersPerJob + k) % pool.length] ?? '');
    return { jobId, providers, amounts: providers.map((_, k) => usd(String(30 - 10 * (k % 3)))) };
  });
}

export async function measureSettlementGas(
  chain: Chain,
  s: EscrowStack,
  opts: { jobs: number; batchSize: number; providersPerJob: number; warm: boolean; label: string },
): Promise<GasMeasurement> {
  const settler = s.escrowAs(Role.settler);
  // Warm: a pool of 8 providers that have been paid before (as has the payer). Cold: every share
  // goes to a provider never paid before.
  const poolSize = opts.warm ? 8 : opts.jobs * opts.providersPerJob;
  const pool = Array.from({ length: poolSize }, (_, i) => providerAddress(opts.warm ? `warm-${i}` : `${opts.label}-${i}`));
  if (opts.warm && (await s.escrow.owed(pool[0] ?? '', await s.token.getAddress())) === 0n) {
    const [seedJob] = await openJobs(chain, s, `${opts.label}:seed`, 1);
    await mined(
      settler.settle(
        seedJob ?? '',
        pool,
        pool.map(() => 1n),
      ),
    );
  }
  const jobIds = await openJobs(chain, s, opts.label, opts.jobs);
  const entries = entriesFor(jobIds, opts.providersPerJob, pool);

  const started = performance.now();
  let totalGas = 0n;
  if (opts.batchSize === 1) {
    for (const e of entries) totalGas += (await mined(settler.settle(e.jobId, e.providers, e.amounts))).gasUsed;
  } else {
    for (let i = 0; i < entries.length; i += opts.batchSize) {
      totalGas += (await mined(settler.settleBatch(entries.slice(i, i + opts.batchSize)))).gasUsed;
    }
  }
  const wallMs = performance.now() - started;
  return {
    mode: opts.batchSize === 1 ? 'single' : 'batch',
    batchSize: opts.batchSize,
    jobs: opts.jobs,
    providersPerJob: opts.providersPerJob,
    warm: opts.warm,
    totalGas,
    gasPerJob: totalGas / BigInt(opts.jobs),
    wallMs,
  };
}

/** The measurement as one printable line. */
export function formatMeasurement(m: GasMeasurement): string {
  const how = (m.mode === 'single' ? 'settle' : `settleBatch(${m.batchSize})`).padEnd(16);
  return `${how} ${m.warm ? 'warm' : 'cold'}  ${m.providersPerJob} provider(s)/job  ${String(m.gasPerJob).padStart(7)} gas/job`;
}
