// The scheduler's decisions, pure: which waiting job goes where, in what order, over a kept index.
// operator/scheduler/scheduler.ts keeps the state (the per-provider index, the reservations, the
// waiting entries) and calls scheduleCycle() whenever what they could fit into changed.
//
//   order      recovery lane first (a job that already ran: a preemption's replacement, a
//              verification re-run), then spec.priority (higher first), then creation time, then key
//   quota      a namespace's GPUs held (open attempts + placements not yet bound) plus the job's gang
//              must stay within its flotilla.dev/gpu-quota; otherwise the job waits (NamespaceQuota)
//   backfill   a job that does not fit does not stop the jobs behind it (Kueue's BestEffortFIFO) …
//   hold       … until the highest-ordered waiting job has waited `holdAfterMs`: it then holds the
//              providers it could ever fit on (by allocatable capacity) for `holdForMs` — jobs behind
//              it are placed elsewhere or wait (HeldForHead) while running work drains — and then
//              lets go, its wait counting from zero, so it neither starves nor blocks others forever
//   shapes     jobs asking the same thing fit or fail alike: after one fails in a cycle the others of
//              its shape get the same verdict without another search (a cycle over 5,000 waiting jobs
//              of a few shapes costs a few searches)
import { placeJobIndexed } from '../placement/place-job.ts';
import { withChangedNodes, withProvider, withProviderIndex } from '../placement/provider-index.ts';
import type { PlacementIndex } from '../placement/provider-index.ts';
import { withReservation } from '../placement/reservation.ts';
import { count } from '../placement/messages.ts';
import type { JobDemand, PlacementDecision, ProviderSnapshot } from '../placement/types.ts';

/** spec.priority bounds (admission enforces them; the scheduler clamps anything else). */
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;

export interface QueueEntry {
  /** namespace/name */
  readonly key: string;
  readonly namespace: string;
  readonly priority: number;
  /** metadata.creationTimestamp, epoch ms. */
  readonly createdAt: number;
  /** The job ran before (an attempt closed): it takes the recovery lane. */
  readonly recovery: boolean;
  /** The attempt this placement would open (so a stale request is told from a new one). */
  readonly attempt: number;
  readonly demand: JobDemand;
}

/** A job that could be placed but must wait its turn; said in Scheduled=False with this reason. */
export interface QueuedVerdict {
  readonly outcome: 'Queued';
  readonly reason: 'NamespaceQuota' | 'HeldForHead';
  readonly message: string;
}

export type QueueVerdict = PlacementDecision | QueuedVerdict;

export function clampPriority(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(MIN_PRIORITY, Math.min(MAX_PRIORITY, Math.trunc(value))) : 0;
}

/** Queue order: recovery lane, priority (high first), creation time, key. */
export function compareEntries(a: QueueEntry, b: QueueEntry): number {
  if (a.recovery !== b.recovery) return a.recovery ? -1 : 1;
  return b.priority - a.priority || a.createdAt - b.createdAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

export const gangGpus = (demand: JobDemand): number => demand.replicas * demand.gpusPerReplica;

/**
 * What decides whether a job fits — everything but its score inputs (remaining work, checkpoint
 * interval), which choose among fits and never make one.
 */
export function shapeOf(demand: JobDemand): string {
  const { remainingGpuSeconds: _r, checkpointIntervalSeconds: _c, ...fit } = demand;
  return JSON.stringify(fit, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** The head-of-queue hold between cycles (kept by the scheduler). */
export interface HoldState {
  /** The highest-ordered waiting job and since when it has been the one (epoch ms). */
  readonly head?: { readonly key: string; readonly since: number };
}

export interface HoldPolicy {
  /** A head that waited this long holds the providers it could fit on. */
  readonly holdAfterMs: number;
  /** … for at most this long; then it lets go and waits again from zero. */
  readonly holdForMs: number;
}

export const DEFAULT_HOLD: HoldPolicy = { holdAfterMs: 5 * 60_000, holdForMs: 5 * 60_000 };

/** Whether the head holds now, and the state to keep. The head is the first entry of `ordered`. */
export function headHold(ordered: readonly QueueEntry[], state: HoldState, now: number, policy: HoldPolicy): { holds: boolean; state: HoldState } {
  const head = ordered[0];
  if (!head) return { holds: false, state: {} };
  const since = state.head?.key === head.key ? state.head.since : now;
  const waited = now - since;
  if (waited >= policy.holdAfterMs + policy.holdForMs) return { holds: false, state: { head: { key: head.key, since: now } } };
  return { holds: waited >= policy.holdAfterMs, state: { head: { key: head.key, since } } };
}

export interface CycleInput {
  /** The entries to decide, in any order. */
  readonly entries: readonly QueueEntry[];
  /** Per provider, the snapshot with every outstanding reservation taken out. */
  readonly snapshots: ReadonlyMap<string, ProviderSnapshot>;
  /** The index of those snapshots. */
  readonly index: PlacementIndex;
  /** GPUs each namespace holds now (open attempts and outstanding reservations). */
  readonly usage: ReadonlyMap<string, number>;
  /** A namespace's GPU quota; undefined: none. */
  readonly quotaOf: (namespace: string) => number | undefined;
  /** Set when the head holds: the index of allocatable capacity (every node empty), to find where it could ever fit. */
  readonly capacity?: PlacementIndex;
  /** The first entry in order holds (headHold). */
  readonly headHolds: boolean;
  readonly now: number;
}

export interface CycleResult {
  readonly verdicts: ReadonlyMap<string, QueueVerdict>;
  /** The snapshots of the providers this cycle placed on, with its placements reserved (the others are as given). */
  readonly snapshots: ReadonlyMap<string, ProviderSnapshot>;
  /** The index with this cycle's placements reserved. */
  readonly index: PlacementIndex;
  /** The outcome of each search, in order: the decisions actually searched (the rest shared a failed shape's verdict). */
  readonly decided: readonly PlacementDecision['outcome'][];
}

/** One scheduling cycle: every entry decided once, in queue order, each placement reserved before the next. */
export function scheduleCycle(input: CycleInput): CycleResult {
  const ordered = [...input.entries].sort(compareEntries);
  const verdicts = new Map<string, QueueVerdict>();
  const failedShapes = new Map<string, QueueVerdict>();
  const usage = new Map(input.usage);
  // Only the providers placed on: a copy of every provider's entry per cycle was most of what a
  // cycle of one request allocated.
  const snapshots = new Map<string, ProviderSnapshot>();
  let index = input.index;
  const decided: PlacementDecision['outcome'][] = [];
  let held: ReadonlySet<string> | undefined;
  let holder: QueueEntry | undefined;

  for (const [position, entry] of ordered.entries()) {
    const quota = input.quotaOf(entry.namespace);
    const used = usage.get(entry.namespace) ?? 0;
    const gpus = gangGpus(entry.demand);
    if (quota !== undefined && used + gpus > quota) {
      verdicts.set(entry.key, {
        outcome: 'Queued',
        reason: 'NamespaceQuota',
        message: `namespace ${entry.namespace} holds ${count(used, 'GPU')} of its quota of ${quota} (flotilla.dev/gpu-quota); this job needs ${gpus} more`,
      });
      continue;
    }
    const shape = shapeOf(entry.demand);
    const sameFailed = held === undefined ? failedShapes.get(shape) : undefined;
    let verdict: QueueVerdict;
    if (sameFailed) verdict = sameFailed;
    else {
      const demand =
        held && held.size > 0 ? { ...entry.demand, deniedProviders: [...new Set([...(entry.demand.deniedProviders ?? []), ...held])].sort() } : entry.demand;
      // A placement is kept without its runners-up and the providers rejected: not asked for.
      const decision = placeJobIndexed(demand, index, input.now, { explain: false });
      decided.push(decision.outcome);
      verdict =
        decision.outcome === 'Unschedulable' &&
        held &&
        held.size > 0 &&
        holder &&
        placeJobIndexed(entry.demand, index, input.now, { explain: false }).outcome === 'Placed'
          ? {
              outcome: 'Queued',
              reason: 'HeldForHead',
              message: `${holder.key} (${count(gangGpus(holder.demand), 'GPU')}) is first in the queue and has waited long enough to hold ${[...held].sort().join(', ')} while running work drains`,
            }
          : decision;
      if (verdict.outcome !== 'Placed' && held === undefined) failedShapes.set(shape, verdict);
    }
    verdicts.set(entry.key, verdict);
    if (verdict.outcome === 'Placed') {
      const p = verdict.placement;
      const before = (snapshots.get(p.provider) ?? input.snapshots.get(p.provider)) as ProviderSnapshot;
      const reserved = withReservation(before, p, entry.demand);
      snapshots.set(p.provider, reserved);
      // Only the nodes the reservation touched move in the kept index (withReservation keeps the others as they were).
      const changed = reserved.nodes.filter((n, i) => n !== before.nodes[i]);
      const kept = index.providers.find((x) => x.provider.name === p.provider);
      index = kept ? withProviderIndex(index, withChangedNodes(kept, reserved, changed)) : withProvider(index, reserved);
      usage.set(entry.namespace, used + gpus);
    } else if (position === 0 && input.headHolds && input.capacity) {
      // The head waited long enough: the providers it could ever fit on are kept for it.
      holder = entry;
      const could = placeJobIndexed(entry.demand, input.capacity, input.now);
      held = new Set(could.outcome === 'Placed' ? could.ranking.map((r) => r.provider) : []);
    }
  }
  return { verdicts, snapshots, index, decided };
}

/** A provider with every node empty: what it could hold once its running work is gone. */
export function emptied(snapshot: ProviderSnapshot): ProviderSnapshot {
  return { ...snapshot, nodes: snapshot.nodes.map((n) => ({ ...n, free: n.allocatable })) };
}
