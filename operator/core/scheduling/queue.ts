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
//   shapes     jobs asking the same thing fit or fail alike: waiting jobs are kept in groups (one
//              namespace, one shape, in queue order) and a cycle merges the groups' heads, reading a
//              group only up to its first job that does not fit — the rest share that verdict. Another
//              namespace's group of a shape that failed in the cycle shares it without a search. So a
//              cycle over 5,000 waiting jobs of a few shapes costs a few searches and touches a few
//              jobs, not 5,000
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

/**
 * Waiting jobs of one namespace asking the same shape, in queue order: they fit or fail alike (the
 * quota is a namespace's, so the namespace is part of it). The scheduler keeps its waiting jobs so
 * grouped; a cycle reads each group only up to its first job that does not fit.
 */
export interface QueueGroup {
  readonly id: string;
  readonly shape: string;
  /** In queue order (compareEntries). */
  readonly entries: readonly QueueEntry[];
}

export const groupIdOf = (namespace: string, shape: string): string => `${namespace}\u0000${shape}`;

export interface CycleInput {
  /** The groups to decide (any order); each group's entries are decided from its first. */
  readonly groups: readonly QueueGroup[];
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
  /** The first entry in order holds (headHold); its group must be among the groups. */
  readonly headHolds: boolean;
  readonly now: number;
}

type Placed = Extract<PlacementDecision, { outcome: 'Placed' }>;

export interface CycleResult {
  /** The jobs placed, by key: in each group a prefix of its entries. */
  readonly placed: ReadonlyMap<string, Placed>;
  /**
   * Per group that kept jobs waiting: the verdict of its first job not placed, which every job after
   * it shares (same namespace, same shape, and capacity only shrinks as a cycle goes on).
   */
  readonly failed: ReadonlyMap<string, QueueVerdict>;
  /** The snapshots of the providers this cycle placed on, with its placements reserved (the others are as given). */
  readonly snapshots: ReadonlyMap<string, ProviderSnapshot>;
  /** The index with this cycle's placements reserved. */
  readonly index: PlacementIndex;
  /** The outcome of each search, in order: the decisions actually searched (the rest shared a failed shape's verdict). */
  readonly decided: readonly PlacementDecision['outcome'][];
  /** Jobs this cycle looked at: placed ones plus one per group that failed — never the whole queue. */
  readonly visited: number;
}

/**
 * One scheduling cycle, in queue order across the groups (a merge of their heads), each placement
 * reserved before the next decision. A group ends at its first job that does not fit, so a cycle
 * costs O((placements + groups) · log groups) however many jobs wait behind them.
 */
export function scheduleCycle(input: CycleInput): CycleResult {
  const placed = new Map<string, Placed>();
  const failed = new Map<string, QueueVerdict>();
  const failedShapes = new Map<string, QueueVerdict>();
  const usage = new Map(input.usage);
  // Only the providers placed on: a copy of every provider's entry per cycle was most of what a
  // cycle of one request allocated.
  const snapshots = new Map<string, ProviderSnapshot>();
  let index = input.index;
  const decided: PlacementDecision['outcome'][] = [];
  let held: ReadonlySet<string> | undefined;
  let holder: QueueEntry | undefined;
  let visited = 0;
  const heads = new HeadHeap();
  for (const group of input.groups) if (group.entries.length > 0) heads.push({ group, at: 0 });

  for (let cursor = heads.pop(); cursor; cursor = heads.pop()) {
    const { group } = cursor;
    const entry = group.entries[cursor.at] as QueueEntry;
    const isHead = visited === 0;
    visited += 1;
    const quota = input.quotaOf(entry.namespace);
    const used = usage.get(entry.namespace) ?? 0;
    const gpus = gangGpus(entry.demand);
    if (quota !== undefined && used + gpus > quota) {
      failed.set(group.id, {
        outcome: 'Queued',
        reason: 'NamespaceQuota',
        message: `namespace ${entry.namespace} holds ${count(used, 'GPU')} of its quota of ${quota} (flotilla.dev/gpu-quota); this job needs ${gpus} more`,
      });
      continue;
    }
    // Another namespace's group of this shape failed earlier in the cycle: the same verdict, no search.
    const sameFailed = held === undefined ? failedShapes.get(group.shape) : undefined;
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
      if (verdict.outcome !== 'Placed' && held === undefined) failedShapes.set(group.shape, verdict);
    }
    if (verdict.outcome !== 'Placed') {
      failed.set(group.id, verdict);
      if (isHead && input.headHolds && input.capacity) {
        // The head waited long enough: the providers it could ever fit on are kept for it.
        holder = entry;
        const could = placeJobIndexed(entry.demand, input.capacity, input.now);
        held = new Set(could.outcome === 'Placed' ? could.ranking.map((r) => r.provider) : []);
      }
      continue;
    }
    placed.set(entry.key, verdict);
    const p = verdict.placement;
    const before = (snapshots.get(p.provider) ?? input.snapshots.get(p.provider)) as ProviderSnapshot;
    const reserved = withReservation(before, p, entry.demand);
    snapshots.set(p.provider, reserved);
    // Only the nodes the reservation touched move in the kept index (withReservation keeps the others as they were).
    const changed = reserved.nodes.filter((n, i) => n !== before.nodes[i]);
    const kept = index.providers.find((x) => x.provider.name === p.provider);
    index = kept ? withProviderIndex(index, withChangedNodes(kept, reserved, changed)) : withProvider(index, reserved);
    usage.set(entry.namespace, used + gpus);
    if (cursor.at + 1 < group.entries.length) heads.push({ group, at: cursor.at + 1 });
  }
  return { placed, failed, snapshots, index, decided, visited };
}

/** The next job of each group, least (first in queue order) on top. */
class HeadHeap {
  private readonly items: { group: QueueGroup; at: number }[] = [];

  push(item: { group: QueueGroup; at: number }): void {
    const a = this.items;
    a.push(item);
    for (let i = a.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (this.less(a[parent] as typeof item, item)) break;
      a[i] = a[parent] as typeof item;
      a[parent] = item;
      i = parent;
    }
  }

  pop(): { group: QueueGroup; at: number } | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < a.length && this.less(a[l] as typeof last, a[least] as typeof last)) least = l;
      if (r < a.length && this.less(a[r] as typeof last, a[least] as typeof last)) least = r;
      if (least === i) return top;
      [a[i], a[least]] = [a[least] as typeof last, a[i] as typeof last];
      i = least;
    }
  }

  private less(x: { group: QueueGroup; at: number }, y: { group: QueueGroup; at: number }): boolean {
    return compareEntries(x.group.entries[x.at] as QueueEntry, y.group.entries[y.at] as QueueEntry) < 0;
  }
}

/** Where `entry` goes in a list kept in queue order (the first index whose entry orders after it). */
function positionOf(list: readonly QueueEntry[], entry: QueueEntry): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareEntries(list[mid] as QueueEntry, entry) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Adds an entry to a list kept in queue order. */
export function insertOrdered(list: QueueEntry[], entry: QueueEntry): void {
  list.splice(positionOf(list, entry), 0, entry);
}

/**
 * Takes an entry out of a list kept in queue order, found by its key among the entries that order
 * the same (the key decides ties, so that is the one). Returns whether it was there.
 */
export function removeOrdered(list: QueueEntry[], entry: QueueEntry): boolean {
  const at = positionOf(list, entry) - 1;
  if (at < 0 || list[at]?.key !== entry.key) return false;
  list.splice(at, 1);
  return true;
}

/** A provider with every node empty: what it could hold once its running work is gone. */
export function emptied(snapshot: ProviderSnapshot): ProviderSnapshot {
  return { ...snapshot, nodes: snapshot.nodes.map((n) => ({ ...n, free: n.allocatable })) };
}
