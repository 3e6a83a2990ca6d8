// Canonical JSON (RFC 8785, JCS, for the values a receipt holds): object members sorted by their
// names' UTF-16 code units, no whitespace, strings and numbers as ECMAScript's JSON.stringify writes
// them. One value has one serialisation, so a signature over it and a hash of it can be checked by
// anyone who re-serialises the parsed document, in any language with a JCS library.
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no representation for ${value}`);
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      // Members whose value is undefined are absent, as with JSON.stringify. Default sort compares UTF-16 code units.
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON has no representation for a ${typeof value}`);
  }
}
