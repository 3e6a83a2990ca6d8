// Provider-originated text (disruption and termination messages, node condition messages, reasons)
// is written into hub status and Events, whose fields have length bounds the hub's apiserver
// enforces: one over-long message fails the whole status write, every time it is retried. Text from
// a provider is therefore cut to its field's bound at the boundary where it enters the operator.
// Pure; lengths are in UTF-16 code units, as the apiserver's OpenAPI maxLength counts characters
// and a surrogate pair is never split.

/** Bounds of the fields provider text ends up in (hub CRD schemas and what is composed around them). */
export const TEXT_BOUNDS = {
  /** A condition or disruption reason (attempt reasons are ≤ 128 and add a prefix). */
  reason: 96,
  /** A message that is composed into a longer one (attempt message ≤ 4096, condition messages). */
  message: 1024,
  /** A termination message: the kubelet's own bound (4096 bytes). */
  terminationMessage: 4096,
} as const;

const ELLIPSIS = '…';

/**
 * `text` when it has at most `max` characters, else its first characters and an ellipsis, `max`
 * in all. Never splits a surrogate pair; non-strings (a provider's malformed field) become ''.
 */
export function boundText(text: unknown, max: number): string {
  if (typeof text !== 'string') return '';
  if (max <= 0) return '';
  if (text.length <= max) return text;
  if (max === 1) return ELLIPSIS;
  let end = max - ELLIPSIS.length;
  const last = text.charCodeAt(end - 1);
  // A high surrogate as the last kept unit would leave half a character.
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end) + ELLIPSIS;
}

/** boundText for an optional field: undefined stays undefined. */
export function boundOptionalText(text: unknown, max: number): string | undefined {
  return text === undefined || text === null ? undefined : boundText(text, max);
}
