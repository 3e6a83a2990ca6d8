// Equality of two values as the API server would store them: as JSON. Key order, members that are
// undefined and the difference between an absent value and null do not count; everything JSON
// keeps does. The one comparison for "did the status/spec change" across the operator (a write
// is skipped when it would not change anything, a webhook skips what it already judged).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `value` as it comes back from JSON.stringify → JSON.parse (undefined at the top becomes null). */
function asJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value ?? null) ?? 'null') as Json;
}

function equal(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i] as Json));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && equal(a[k] as Json, b[k] as Json));
}

/** Equal as JSON: key order, undefined members and undefined-vs-null do not matter. */
export function sameJson(a: unknown, b: unknown): boolean {
  return equal(asJson(a), asJson(b));
}
