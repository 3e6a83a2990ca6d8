// The one error for spec input the operator can never process: an amount with more decimals than
// the token, a duration form it does not parse, a quantity that is not one. Retrying cannot help
// (the same spec fails the same way), so whoever catches it ends the job instead: the AIJob
// controller and its spec gate turn it into phase Failed, Finished=True reason InvalidSpec, the
// message naming the field (operator/controllers/aijob/spec-gate.ts). Anything else a reconcile
// throws is taken as transient and retried with back-off.
//
// The parsers themselves (money.ts, duration.ts, quantity.ts) do not know which field they read;
// the code that hands them a spec field wraps the call in specField().

export class TerminalSpecError extends Error {
  override readonly name = 'TerminalSpecError';
  /** The field, as the apiserver names paths: spec.payment.maxAmount. */
  readonly field: string;

  /** `message` should start with the field (it is shown as is in the job's condition). */
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * `parse(value)`, with whatever it throws turned into a TerminalSpecError naming `field`, e.g.
 * `spec.checkpoint.every "1m500ms": "1m500ms" is not a duration like 90s, 10m or 1h30m`.
 */
export function specField<T, R>(field: string, value: T, parse: (value: T) => R): R {
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof TerminalSpecError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new TerminalSpecError(field, `${field} ${JSON.stringify(value)}: ${why}`);
  }
}
