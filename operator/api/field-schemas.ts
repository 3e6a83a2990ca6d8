// Schemas of field kinds that recur in both kinds: names, CIDs, addresses, decimal amounts,
// quantities, durations and the standard condition. Each takes the field's path so the CEL message
// names the field the user got wrong (the apiserver prints the path too, but ours says what is
// expected). Regexes inside CEL use `[.]` rather than `\.` so no escaping crosses YAML and CEL.

/**
 * RE2 pattern (for CEL `matches`) of every CID form the operator's parser accepts
 * (operator/artifacts/cid.ts, multiformats' CID.parse): v0 (`Qm…`, base58btc, 46 chars) and v1 in
 * base32 (`b…`), base58btc (`z…`) or base36 (`k…`). The parser stays the authority on whether the
 * bytes decode; the webhook and the operator run it.
 */
export const CID_PATTERN = '^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{6,127}|z[1-9A-HJ-NP-Za-km-z]{5,127}|k[0-9a-z]{5,127})$';
/** Decimal number of token units (not base units): no sign, no exponent, at most 18 decimals. */
export const DECIMAL_PATTERN = '^(0|[1-9][0-9]{0,29})([.][0-9]{1,18})?$';
export const ADDRESS_PATTERN = '^0x[0-9a-fA-F]{40}$';
/** A token is a symbol the operator's configuration maps to a contract (USDC, DAI), or an address. */
export const TOKEN_PATTERN = '^([A-Z][A-Z0-9]{1,15}|0x[0-9a-fA-F]{40})$';
export const BYTES32_PATTERN = '^0x[0-9a-fA-F]{64}$';
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A Kubernetes label value, which is what GFD's `nvidia.com/gpu.product` is. */
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';
/**
 * Go-style durations in whole hours, minutes and seconds, e.g. `90s`, `10m`, `1h30m`: exactly the
 * forms operator/core/duration.ts parses (no `ms`: `1m500ms` once passed here and threw there).
 */
export const DURATION_PATTERN = '^([0-9]{1,6}(h|m|s))+$';
/**
 * An image reference as the distribution grammar parses it (registry[:port]/path[:tag][@digest],
 * lower-case path components); IPv6 registry literals are not accepted.
 */
export const IMAGE_REFERENCE_PATTERN =
  '^(([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9]))*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*)*(:[A-Za-z0-9_][-A-Za-z0-9_.]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$';
/** A Kubernetes qualified name (annotation key): an optional DNS-subdomain prefix and '/', a name of at most 63 characters. */
export const QUALIFIED_NAME_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** Roots a job may not mount over (core/validation/runnable.ts says the same). */
export const RESERVED_PATH_PATTERN = '^/(proc|sys|dev|etc)(/|$)';

export function dnsLabel(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 63,
    'x-kubernetes-validations': [{ rule: `self.matches('${DNS_LABEL_PATTERN}')`, message: `${field} must be a DNS label: lower-case letters, digits and '-'` }],
  } as const;
}

export function dnsSubdomain(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 253,
    'x-kubernetes-validations': [
      { rule: `self.matches('${DNS_SUBDOMAIN_PATTERN}')`, message: `${field} must be a DNS subdomain: lower-case letters, digits, '-' and '.'` },
    ],
  } as const;
}

export function cid(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 128,
    'x-kubernetes-validations': [
      {
        rule: `self.matches('${CID_PATTERN}')`,
        message: `${field} must be an IPFS CID: v0 (Qm…, 46 characters) or v1 in base32 (b…), base58btc (z…) or base36 (k…)`,
      },
    ],
  } as const;
}

export function positiveDecimal(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 49,
    'x-kubernetes-validations': [
      {
        rule: `self.matches('${DECIMAL_PATTERN}') && self.matches('[1-9]')`,
        message: `${field} must be a positive decimal number of token units as a string, e.g. "250" or "0.75"`,
      },
    ],
  } as const;
}

/** Status amounts may be zero (a job that ran no billable second). No CEL: only the operator writes them. */
export function decimal(description: string) {
  return { type: 'string', description, maxLength: 49, pattern: DECIMAL_PATTERN } as const;
}

export function absolutePath(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 1024,
    'x-kubernetes-validations': [
      { rule: `self.startsWith('/') && !self.contains(':')`, message: `${field} must be an absolute path without ':'` },
      {
        rule: `self == '/' || (!self.contains('//') && !self.endsWith('/') && !self.contains('/./') && !self.endsWith('/.') && !self.contains('/../') && !self.endsWith('/..'))`,
        message: `${field} must be normalized: no empty, '.' or '..' segments and no trailing '/'`,
      },
      { rule: `self != '/' && !self.matches('${RESERVED_PATH_PATTERN}')`, message: `${field} must not be '/' nor under /proc, /sys, /dev or /etc` },
    ],
  } as const;
}

/** A resource quantity as in a pod's requests (`4`, `500m`, `16Gi`), positive and at most `max` (the hub may set a lower maximum). */
export function positiveQuantity(field: string, description: string, max: string) {
  return {
    description,
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    'x-kubernetes-validations': [
      {
        // string() accepts both branches of int-or-string; the quantity library parses the rest.
        rule: `isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))`,
        message: `${field} must be a positive quantity, e.g. 4, "500m" or "16Gi"`,
      },
      {
        rule: `!isQuantity(string(self)) || !quantity(string(self)).isGreaterThan(quantity('${max}'))`,
        message: `${field} must be at most ${max}`,
      },
    ],
  } as const;
}

export function duration(field: string, description: string, min: string) {
  return {
    type: 'string',
    description,
    maxLength: 32,
    'x-kubernetes-validations': [
      {
        // matches() first: && short-circuits on false, so duration() never sees a malformed string.
        rule: `self.matches('${DURATION_PATTERN}') && duration(self) >= duration('${min}')`,
        message: `${field} must be a duration of at least ${min}, e.g. "10m" or "1h30m"`,
      },
    ],
  } as const;
}

export const timestamp = (description: string) => ({ type: 'string', format: 'date-time', description }) as const;

/**
 * A time users write. Not `format: date-time`: kube-apiserver v1.36 lets a list through a field of
 * that format (found by test/chaos/bad-input.test.ts; `tomorrow` is refused, `[1, 2]` stored), and
 * CEL types such a field as a timestamp, so no rule can catch it. A plain string with an RFC 3339
 * pattern is type-checked like every other string.
 */
export function userTimestamp(field: string, description: string) {
  return {
    type: 'string',
    description,
    maxLength: 64,
    'x-kubernetes-validations': [
      {
        // Ranges in the pattern, not timestamp(): the rule stays in the CEL subset the local
        // evaluator (local-validation/cel.ts) shares with the apiserver.
        // Days per month in the pattern (2026-02-31 is not a day); 29 February of a non-leap year
        // is left to the webhook and the operator (core/validation/runnable.ts).
        rule: `self.matches('^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-9]))T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$')`,
        message: `${field} must be an RFC 3339 time, e.g. "2026-12-31T00:00:00Z"`,
      },
    ],
  } as const;
}

/** metav1.Condition, as controller-gen writes it, so standard tooling reads our conditions. */
export const conditionSchema = {
  type: 'object',
  description: "A metav1.Condition: one aspect of the object's state, owned by one controller.",
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      description: 'Condition type in CamelCase, e.g. Ready.',
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', description: 'True, False or Unknown.', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'The metadata.generation the condition was computed from.',
    },
    lastTransitionTime: timestamp('When status last changed.'),
    reason: {
      type: 'string',
      description: 'Machine-readable CamelCase reason for the status; the possible reasons are listed per condition type.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    },
    message: { type: 'string', description: 'Human-readable detail.', maxLength: 32768 },
  },
} as const;

export const conditionsSchema = {
  type: 'array',
  description: 'Conditions, one per type.',
  maxItems: 16,
  items: conditionSchema,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
} as const;

export const observedGenerationSchema = {
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description: 'The metadata.generation the controller last acted on.',
} as const;
