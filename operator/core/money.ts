// Token amounts as integers in base units (bigint): "2.40" with 6 decimals is 2_400_000n. Never floats.
export class AmountError extends Error {
  override name = 'AmountError';
}

/** Exact decimal string → base units; more fractional digits than `decimals` is an error, not a rounding. */
export function toBaseUnits(amount: string, decimals: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new AmountError(`"${amount}" is not a decimal amount`);
  const whole = m[1] ?? '0';
  const fraction = m[2] ?? '';
  if (fraction.length > decimals) throw new AmountError(`"${amount}" has more than ${decimals} decimal places`);
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
}

/** Base units → the shortest exact decimal string ("2.4"), for status and messages. */
export function fromBaseUnits(units: bigint, decimals: number): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
