// What to write into a GPUProvider's status, decided from what was observed. Pure: the controller
// gathers (GPUProvider, connection facts, inventory), this decides, the controller applies.
//
// Writes are rare by design: a patch goes out only when a condition, the inventory or the observed
// generation changed; lastSeen alone is refreshed at most every `lastSeenRefreshMs`. A second pass
// over the same observation therefore writes nothing.
import type { Condition, GPUProviderStatus } from '../api/types.ts';
import { findCondition, setCondition } from '../core/conditions.ts';
import type { GpuInventory } from '../core/inventory.ts';
import type { ConditionVerdict } from '../providers/health.ts';

export interface StatusObservation {
  /** metadata.generation of the GPUProvider the verdicts were computed from. */
  readonly generation?: number;
  readonly reachable: ConditionVerdict;
  readonly ready: ConditionVerdict;
  /** InventoryValid; undefined while there is no connection (the condition is left as it is). */
  readonly inventoryValid?: ConditionVerdict;
  /** Undefined while the caches cannot be trusted: the last written inventory stays. */
  readonly inventory?: GpuInventory;
  /** Epoch ms of the provider API server's latest answer. */
  readonly lastSeen?: number;
  /** Fenced; undefined until this leader's fence at the provider settled (the condition is left as it is). */
  readonly fenced?: ConditionVerdict;
}

export interface StatusPlan {
  /** The merge patch's `status`; undefined when nothing needs writing. */
  readonly status?: Partial<GPUProviderStatus>;
  /** Conditions whose status flipped (for logs and events). */
  readonly transitions: readonly { type: string; from?: string; to: string; reason: string; message: string }[];
}

/** RFC 3339 with whole seconds, as Kubernetes writes metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** JSON with object keys sorted: equal values give equal text whatever the key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Trusted follows status.reputation.provenMismatches, which the reputation writer keeps (docs/verification.md). */
function trustedVerdict(current: GPUProviderStatus | undefined): ConditionVerdict {
  const proven = current?.reputation?.provenMismatches ?? 0;
  return proven > 0
    ? {
        status: 'False',
        reason: 'ProvenMismatch',
        message: `${proven} run(s) here were proven wrong by independent re-execution; jobs that verify are not placed here`,
      }
    : { status: 'True', reason: 'NoProvenMismatch', message: 'no run here was proven wrong by re-execution' };
}

export function planStatus(current: GPUProviderStatus | undefined, obs: StatusObservation, now: number, lastSeenRefreshMs: number): StatusPlan {
  const nowText = rfc3339(now);
  let conditions: Condition[] = [...(current?.conditions ?? [])];
  const transitions: StatusPlan['transitions'][number][] = [];
  const verdicts: [string, ConditionVerdict][] = [
    ['Reachable', obs.reachable],
    ['Ready', obs.ready],
  ];
  if (obs.inventoryValid) verdicts.push(['InventoryValid', obs.inventoryValid]);
  if (obs.fenced) verdicts.push(['Fenced', obs.fenced]);
  verdicts.push(['Trusted', trustedVerdict(current)]);
  for (const [type, verdict] of verdicts) {
    const before = findCondition(conditions, type);
    conditions = setCondition(conditions, { type, ...verdict }, nowText, obs.generation);
    if (before?.status !== verdict.status) {
      transitions.push({ type, ...(before ? { from: before.status } : {}), to: verdict.status, reason: verdict.reason, message: verdict.message });
    }
  }

  const desired: Partial<GPUProviderStatus> = {
    conditions,
    ...(obs.generation !== undefined ? { observedGeneration: obs.generation } : {}),
    ...(obs.inventory ? { inventory: obs.inventory.inventory, allocatableGpus: obs.inventory.allocatableGpus, freeGpus: obs.inventory.freeGpus } : {}),
  };
  const currentView: Record<string, unknown> = {};
  for (const key of Object.keys(desired) as (keyof GPUProviderStatus)[]) currentView[key] = current?.[key];
  const changed = canonical(desired) !== canonical(currentView);

  const seenText = obs.lastSeen !== undefined ? rfc3339(obs.lastSeen) : undefined;
  const previousSeen = current?.lastSeen !== undefined ? Date.parse(current.lastSeen) : undefined;
  const seenNewer =
    seenText !== undefined &&
    seenText !== current?.lastSeen &&
    (previousSeen === undefined || Number.isNaN(previousSeen) || Date.parse(seenText) > previousSeen);
  const seenDue = seenNewer && (previousSeen === undefined || Number.isNaN(previousSeen) || Date.parse(seenText) - previousSeen >= lastSeenRefreshMs);

  if (changed) return { status: { ...desired, ...(seenNewer ? { lastSeen: seenText } : {}) }, transitions };
  if (seenDue) return { status: { lastSeen: seenText }, transitions };
  return { transitions };
}
