// Structural equality of placement data (snapshots, nodes, prices): plain objects, arrays and
// primitives, bigints included (which sameJson in core/json.ts cannot serialise). A member that is
// undefined counts as absent, as an optional field would. Pure: core code imports nothing from Node.

import type { NodeSnapshot } from './types.ts';

export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameData(x, b[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x).filter((k) => x[k] !== undefined);
  return keys.length === Object.keys(y).filter((k) => y[k] !== undefined).length && keys.every((k) => sameData(x[k], y[k]));
}

/** The same node in everything but its free amounts (what pods bound or gone and holds change). */
export function sameApartFromFree(a: NodeSnapshot, b: NodeSnapshot): boolean {
  return (
    a.name === b.name &&
    a.ready === b.ready &&
    a.unschedulable === b.unschedulable &&
    sameData(a.labels, b.labels) &&
    sameData(a.taints, b.taints) &&
    sameData(a.allocatable, b.allocatable)
  );
}
