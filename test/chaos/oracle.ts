// The invariant oracle of the chaos suites: after a scenario, across the hub, every provider of
// the corner and the chain, it waits for convergence and then lists every violation of:
//
//   I1 no job lost        every job the scenario created still exists (unless it deleted it)
//   I2 deserved terminal  every job reaches the terminal phase it deserves: Succeeded (unpaid),
//                         Settled (paid), or the phase the scenario expects
//   I3 one live attempt   attempts are numbered 1..n, at most one is open (none once terminal),
//                         at most `maxAttempts`; the sampler (LiveAttemptSampler) also sees at most
//                         one attempt's live pods per job at every instant it looked
//   I4 no orphan pods     no pod labelled flotilla.dev/job-uid of the scenario's namespace whose
//                         job is gone, is terminal, or whose attempt is not the open one
//   I5 output pinned      every Succeeded job with spec.output.pin has OutputPinned=True and its
//                         outputCID in the hub Kubo's recursive pin set
//   I6 settled once       one Settled event on chain per paid job, equal to status.settlement,
//                         which equals the metered attempts (Σ floor(billable × price / 3600));
//                         every provider's credit in the escrow equals the sum of its shares
//                         (and of the verifier halves of slashes it earned)
//   I7 verified pay       (docs/verification.md) a run proven wrong bills nothing; no slash on
//                         chain without a proven mismatch in status, at most one per job, of the
//                         liar's payout address, recorded in status.settlement.slash
//
// Convergence: the oracle polls until I1–I5 hold or the timeout passes, then reports what is left.
// Tests assert `expect(await oracle(...)).toEqual([])`, so a failure prints every violation.
import type { V1Pod } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { fromBaseUnits, toBaseUnits } from '../../operator/core/money.ts';
import { escrowJobIdOf } from '../../operator/payments/escrow-client.ts';
import { isTerminalPhase } from '../../operator/core/lifecycle/phases.ts';
import { listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { federation } from '../support/federation.ts';
import { federationChainOf } from './suite.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Expectation {
  /** Terminal phase the job deserves; default Settled when paid, else Succeeded. */
  readonly phase?: 'Succeeded' | 'Failed' | 'Settled';
  /** Most attempts the scenario may cause (a crash of the operator must not add one: 1). */
  readonly maxAttempts?: number;
}

export interface OracleOptions {
  /** Names of every job the scenario created, with what each deserves. */
  readonly jobs: ReadonlyMap<string, Expectation>;
  /** Jobs the scenario deleted on purpose (they must be gone, with their pods). */
  readonly deleted?: readonly string[];
  /** Kubo RPC API holding the pins (default: the federation's hub Kubo). */
  readonly kuboApi?: string;
  /** Check the chain (paid jobs); default true. */
  readonly chain?: boolean;
  readonly timeoutMs?: number;
  /** Violations the sampler saw while the scenario ran. */
  readonly sampled?: readonly string[];
}

export interface PodRecord {
  readonly provider: string;
  readonly pod: V1Pod;
}

/** Every pod of the corner's jobs (this hub namespace) at every provider; unreachable providers are reported. */
export async function cornerPods(corner: OpenCorner): Promise<{ pods: PodRecord[]; unreachable: string[] }> {
  const pods: PodRecord[] = [];
  const unreachable: string[] = [];
  await Promise.all(
    [...corner.providers.values()].map(async (p) => {
      try {
        const list = await p.cluster.core.listNamespacedPod({ namespace: corner.lentNamespace, labelSelector: 'flotilla.dev/job-uid' });
        for (const pod of list.items)
          if (pod.metadata?.annotations?.['flotilla.dev/job-namespace'] === corner.hubNamespace) pods.push({ provider: p.name, pod });
      } catch {
        unreachable.push(p.name);
      }
    }),
  );
  return { pods, unreachable };
}

const openAttempts = (job: AIJob) => (job.status?.attempts ?? []).filter((a) => !a.endTime);
const podDone = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** I4 for one pod; undefined when it may exist. */
function orphanReason(rec: PodRecord, byUid: Map<string, AIJob>): string | undefined {
  const labels = rec.pod.metadata?.labels ?? {};
  const where = `${rec.provider}/${rec.pod.metadata?.name}`;
  const job = byUid.get(labels['flotilla.dev/job-uid'] ?? '');
  if (!job) return `I4 orphan pod ${where}: its job (uid ${labels['flotilla.dev/job-uid']}) is gone`;
  if (isTerminalPhase(job.status?.phase)) return `I4 orphan pod ${where}: job ${job.metadata.name} is ${job.status?.phase}`;
  const open = openAttempts(job)[0];
  if (String(open?.index ?? '') !== labels['flotilla.dev/attempt'])
    return `I4 orphan pod ${where}: attempt ${labels['flotilla.dev/attempt']} is not the open attempt (${open?.index ?? 'none'}) of ${job.metadata.name}`;
  return undefined;
}

/** I3 on pods at one instant: the distinct attempts with live (not terminating, not finished) pods per job. */
export function liveAttemptViolations(pods: readonly PodRecord[]): string[] {
  const live = new Map<string, Set<string>>();
  for (const { provider, pod } of pods) {
    if (pod.metadata?.deletionTimestamp || podDone(pod)) continue;
    const uid = pod.metadata?.labels?.['flotilla.dev/job-uid'] ?? '';
    const set = live.get(uid) ?? new Set<string>();
    set.add(`${provider}#a${pod.metadata?.labels?.['flotilla.dev/attempt']}`);
    live.set(uid, set);
  }
  return [...live].filter(([, s]) => s.size > 1).map(([uid, s]) => `I3 job uid ${uid} had live pods of ${s.size} attempts at once: ${[...s].join(', ')}`);
}

/** Samples the corner's pods while a scenario runs; `stop()` returns what it saw wrong. */
export class LiveAttemptSampler {
  private readonly seen = new Set<string>();
  private running = true;
  private readonly done: Promise<void>;

  constructor(corner: OpenCorner, intervalMs = 500) {
    this.done = (async () => {
      while (this.running) {
        const { pods } = await cornerPods(corner).catch(() => ({ pods: [] as PodRecord[] }));
        for (const v of liveAttemptViolations(pods)) this.seen.add(v);
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<string[]> {
    this.running = false;
    await this.done;
    return [...this.seen];
  }
}

async function pinnedRecursively(api: string, cid: string): Promise<boolean> {
  const res = await fetch(`${api}/api/v0/pin/ls?arg=${encodeURIComponent(cid)}&type=recursive`, { method: 'POST' });
  if (!res.ok) return false;
  const body = (await res.json()) as { Keys?: Record<string, unknown> };
  return Object.keys(body.Keys ?? {}).includes(cid);
}

/** Violations of I1–I5 now (the chain is checked once, after convergence). */
async function clusterViolations(corner: OpenCorner, o: OracleOptions): Promise<{ violations: string[]; jobs: AIJob[] }> {
  const out: string[] = [];
  const jobs = await listJobs(corner.hubNamespace);
  const byName = new Map(jobs.map((j) => [j.metadata.name ?? '', j]));
  const byUid = new Map(jobs.map((j) => [j.metadata.uid ?? '', j]));
  for (const name of o.deleted ?? []) if (byName.has(name)) out.push(`I1 job ${name} was deleted but still exists`);
  for (const [name, want] of o.jobs) {
    const job = byName.get(name);
    if (!job) {
      out.push(`I1 job ${name} is lost`);
      continue;
    }
    const deserved = want.phase ?? (job.spec.payment ? 'Settled' : 'Succeeded');
    const phase = job.status?.phase ?? 'Pending';
    if (phase !== deserved)
      out.push(
        `I2 job ${name} is ${phase}, deserves ${deserved} (${(job.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ')})`,
      );
    const attempts = job.status?.attempts ?? [];
    const indexes = attempts.map((a) => a.index);
    if (!indexes.every((ix, i) => ix === i + 1)) out.push(`I3 job ${name} attempts are numbered ${indexes.join(',')}`);
    const open = openAttempts(job);
    if (open.length > 1 || (isTerminalPhase(phase) && open.length > 0)) out.push(`I3 job ${name} (${phase}) has ${open.length} open attempts`);
    if (want.maxAttempts !== undefined && attempts.length > want.maxAttempts)
      out.push(
        `I3 job ${name} has ${attempts.length} attempts, at most ${want.maxAttempts} allowed: ${attempts.map((a) => `${a.index}@${a.provider}:${a.reason}`).join(' ')}`,
      );
    if ((phase === 'Succeeded' || phase === 'Settled') && job.spec.output.pin) {
      const cid = job.status?.outputCID;
      const cond = job.status?.conditions?.find((c) => c.type === 'OutputPinned');
      if (!cid) out.push(`I5 job ${name} succeeded without an outputCID`);
      else if (cond?.status !== 'True') out.push(`I5 job ${name}: OutputPinned is ${cond?.status}/${cond?.reason}`);
      else if (!(await pinnedRecursively(o.kuboApi ?? federation().kubo.hub.api, cid))) out.push(`I5 job ${name}: ${cid} is not pinned on the hub's Kubo`);
    }
  }
  const { pods, unreachable } = await cornerPods(corner);
  for (const p of unreachable) out.push(`I4 provider ${p} did not answer: its pods cannot be checked`);
  for (const rec of pods) {
    const why = orphanReason(rec, byUid);
    if (why) out.push(why);
  }
  out.push(...liveAttemptViolations(pods));
  return { violations: out, jobs };
}

/** Σ floor(billableGpuSeconds × price / 3600) per provider, in base units (6 decimals), from status. */
export function meteredShares(job: AIJob): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const a of job.status?.attempts ?? []) {
    const price = toBaseUnits(a.pricePerGpuHour ?? '0', 6);
    out.set(a.provider, (out.get(a.provider) ?? 0n) + (BigInt(a.billableGpuSeconds ?? 0) * price) / 3600n);
  }
  return out;
}

async function chainViolations(corner: OpenCorner, jobs: readonly AIJob[]): Promise<string[]> {
  const out: string[] = [];
  const c = federationChainOf();
  const provider = new JsonRpcProvider(c.rpcUrl, c.chainId, { staticNetwork: true, cacheTimeout: -1 });
  try {
    const token = c.chain.tokens[0]?.address ?? '';
    const escrow = new Contract(c.chain.escrow, loadArtifact('FlotillaEscrow').abi, provider);
    const credited = new Map<string, bigint>(); // payout address → Σ event amounts of this corner's jobs
    for (const job of jobs) {
      const name = job.metadata.name ?? '';
      const id = escrowJobIdOf(job.metadata.uid ?? '');
      const filter = escrow.filters.Settled?.(id);
      if (!filter) throw new Error('no Settled event in the ABI');
      const events = (await escrow.queryFilter(filter, 0, 'latest')).map((log) => {
        const args = (log as unknown as { args: [string, string, string[], bigint[], bigint] }).args;
        return { txHash: log.transactionHash, providers: [...args[2]], amounts: [...args[3]] };
      });
      out.push(...(await slashViolations(escrow, corner, job, credited)));
      if (!job.spec.payment) {
        if (events.length > 0) out.push(`I6 unpaid job ${name} has ${events.length} settlement(s) on chain`);
        continue;
      }
      if (job.status?.phase !== 'Settled') continue; // I2 already says so
      if (events.length !== 1) {
        out.push(`I6 job ${name} has ${events.length} Settled events on chain (exactly one expected)`);
        continue;
      }
      const [event] = events;
      if (!event) continue;
      if (event.txHash !== job.status?.settlement?.txHash)
        out.push(`I6 job ${name}: status.settlement.txHash ${job.status?.settlement?.txHash} is not the chain's ${event.txHash}`);
      const onChain = new Map(event.providers.map((p, i) => [p.toLowerCase(), event.amounts[i] ?? 0n]));
      const inStatus = new Map((job.status?.settlement?.amounts ?? []).map((a) => [(a.payoutAddress ?? '').toLowerCase(), toBaseUnits(a.amount, 6)]));
      const metered = meteredShares(job);
      for (const [providerName, amount] of metered) {
        const payout = corner.providers.get(providerName)?.payoutAddress.toLowerCase() ?? `?${providerName}`;
        if ((onChain.get(payout) ?? 0n) !== amount)
          out.push(`I6 job ${name}: ${providerName} was paid ${fromBaseUnits(onChain.get(payout) ?? 0n, 6)} on chain, metered ${fromBaseUnits(amount, 6)}`);
        if ((inStatus.get(payout) ?? 0n) !== amount)
          out.push(
            `I6 job ${name}: status.settlement gives ${providerName} ${fromBaseUnits(inStatus.get(payout) ?? 0n, 6)}, metered ${fromBaseUnits(amount, 6)}`,
          );
      }
      for (const [payout, amount] of onChain) credited.set(payout, (credited.get(payout) ?? 0n) + amount);
    }
    // The corner's payout addresses are fresh: their whole credit is this scenario's settlements.
    for (const p of corner.providers.values()) {
      const owed = (await escrow.getFunction('owed').staticCall(p.payoutAddress, token)) as bigint;
      const sum = credited.get(p.payoutAddress.toLowerCase()) ?? 0n;
      if (owed !== sum)
        out.push(`I6 provider ${p.name} is credited ${fromBaseUnits(owed, 6)} in the escrow, the sum of its settled shares is ${fromBaseUnits(sum, 6)}`);
    }
  } finally {
    provider.destroy();
  }
  return out;
}

/** I7 for one job: the liar bills nothing; a slash only with a proven liar, once, of its address. Credits the verifier halves. */
async function slashViolations(escrow: Contract, corner: OpenCorner, job: AIJob, credited: Map<string, bigint>): Promise<string[]> {
  const out: string[] = [];
  const name = job.metadata.name ?? '';
  const liar = job.status?.verification?.liar;
  const liarAttempt = liar ? job.status?.attempts?.find((a) => a.index === liar.attempt) : undefined;
  if (liarAttempt && (liarAttempt.billableGpuSeconds ?? 0) !== 0)
    out.push(`I7 job ${name}: attempt ${liarAttempt.index} was proven wrong but bills ${liarAttempt.billableGpuSeconds} GPU-seconds`);
  const filter = escrow.filters.Slashed?.(escrowJobIdOf(job.metadata.uid ?? ''));
  if (!filter) throw new Error('no Slashed event in the ABI');
  const slashes = (await escrow.queryFilter(filter, 0, 'latest')).map((log) => {
    const args = (log as unknown as { args: [string, string, string, bigint, bigint, bigint, string] }).args;
    return { provider: args[1].toLowerCase(), toVerifier: args[5], verifier: args[6].toLowerCase() };
  });
  if (slashes.length > 1) out.push(`I7 job ${name} was slashed ${slashes.length} times on chain`);
  const [slash] = slashes;
  if (slash) {
    const liarPayout = corner.providers.get(liar?.provider ?? '')?.payoutAddress.toLowerCase();
    if (!liar) out.push(`I7 job ${name} was slashed on chain without a proven mismatch in status`);
    else if (slash.provider !== liarPayout) out.push(`I7 job ${name}: ${slash.provider} was slashed, the proven liar is ${liar.provider} (${liarPayout})`);
    if (!job.status?.settlement?.slash) out.push(`I7 job ${name} was slashed on chain but status.settlement.slash does not say so`);
    credited.set(slash.verifier, (credited.get(slash.verifier) ?? 0n) + slash.toVerifier);
  }
  return out;
}

/**
 * Waits until the corner converges (I1–I5 hold) or `timeoutMs` passes, then checks the chain;
 * returns every violation left (empty: the invariants hold).
 */
export async function oracle(corner: OpenCorner, o: OracleOptions): Promise<string[]> {
  const deadline = Date.now() + (o.timeoutMs ?? 180_000);
  let last: { violations: string[]; jobs: AIJob[] } = { violations: [], jobs: [] };
  for (;;) {
    last = await clusterViolations(corner, o).catch((err: unknown) => ({ violations: [`oracle could not read: ${String(err)}`], jobs: last.jobs }));
    if (last.violations.length === 0 || Date.now() > deadline) break;
    await sleep(1000);
  }
  const chain = o.chain === false ? [] : await chainViolations(corner, last.jobs);
  return [...new Set([...(o.sampled ?? []), ...last.violations, ...chain])];
}

/** Expectations for names (all the same). */
export function expectAll(names: readonly string[], e: Expectation = {}): Map<string, Expectation> {
  return new Map(names.map((n) => [n, e]));
}
