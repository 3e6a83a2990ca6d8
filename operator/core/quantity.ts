// Kubernetes resource quantities ("500m", "16Gi", "1.5", "2e3"), parsed exactly.
//
// A quantity is a decimal number times a suffix: a binary SI suffix (Ki … Ei, powers of 1024), a
// decimal SI suffix (n u m "" k M G T P E) or a decimal exponent (e3, E-2). Every such value is a
// rational number whose denominator is a power of ten, so it is kept as a bigint numerator and
// denominator: no float ever touches it. Conversions round up, as Kubernetes does
// (resource.Quantity.Value / MilliValue): "1n" of CPU is 1m, "0.5" bytes of memory is 1 byte.

/** An exact quantity: numerator / denominator, denominator a positive power of ten. */
export interface Quantity {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** Thrown for text that is not a Kubernetes quantity. */
export class InvalidQuantityError extends Error {
  override readonly name = 'InvalidQuantityError';
  readonly text: string;
  constructor(text: string, detail: string) {
    super(`invalid quantity ${JSON.stringify(text)}: ${detail}`);
    this.text = text;
  }
}

// Maps, not object literals: a suffix such as "constructor" must not find Object.prototype.
const binarySuffixes: ReadonlyMap<string, bigint> = new Map([
  ['Ki', 1n << 10n],
  ['Mi', 1n << 20n],
  ['Gi', 1n << 30n],
  ['Ti', 1n << 40n],
  ['Pi', 1n << 50n],
  ['Ei', 1n << 60n],
]);
const decimalSuffixes: ReadonlyMap<string, number> = new Map([
  ['n', -9],
  ['u', -6],
  ['m', -3],
  ['', 0],
  ['k', 3],
  ['M', 6],
  ['G', 9],
  ['T', 12],
  ['P', 15],
  ['E', 18],
]);
// Far beyond any real resource amount; keeps a hostile "1e999999999" from allocating a huge bigint.
const maxExponent = 60;

const numberPattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(.*)$/;
const exponentPattern = /^[eE]([+-]?\d+)$/;

/** Parses a quantity exactly; throws InvalidQuantityError on anything Kubernetes would reject. */
export function parseQuantity(text: string): Quantity {
  const match = numberPattern.exec(text);
  if (!match) throw new InvalidQuantityError(text, 'expected a number with an optional suffix');
  const [, sign = '', digits = '', suffix = ''] = match;
  const [whole = '', fraction = ''] = digits.split('.');
  let numerator = BigInt(whole + fraction || '0');
  let denominator = 10n ** BigInt(fraction.length);
  if (sign === '-') numerator = -numerator;

  let exponent10 = decimalSuffixes.get(suffix);
  const binary = binarySuffixes.get(suffix);
  if (binary !== undefined) {
    numerator *= binary;
    exponent10 = 0;
  } else if (exponent10 === undefined) {
    const exponent = exponentPattern.exec(suffix);
    if (!exponent) throw new InvalidQuantityError(text, `unknown suffix ${JSON.stringify(suffix)}`);
    exponent10 = Number(exponent[1]);
    if (Math.abs(exponent10) > maxExponent) throw new InvalidQuantityError(text, 'exponent out of range');
  }
  if (exponent10 > 0) numerator *= 10n ** BigInt(exponent10);
  if (exponent10 < 0) denominator *= 10n ** BigInt(-exponent10);
  return reduce(numerator, denominator);
}

function reduce(numerator: bigint, denominator: bigint): Quantity {
  // Denominators are powers of ten: strip common factors of 10 only, which keeps the form canonical
  // (equal quantities compare equal field by field) without a general gcd.
  while (denominator > 1n && numerator % 10n === 0n) {
    numerator /= 10n;
    denominator /= 10n;
  }
  return { numerator, denominator };
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b > 0n ? q + 1n : q; // b > 0; bigint division truncates toward zero
}

/** The quantity in whole units, rounded up (Kubernetes Quantity.Value): "1.5Gi" → 1610612736. */
export function quantityValue(quantity: Quantity | string): bigint {
  const q = typeof quantity === 'string' ? parseQuantity(quantity) : quantity;
  return ceilDiv(q.numerator, q.denominator);
}

/** The quantity in thousandths, rounded up (Kubernetes Quantity.MilliValue): "500m" → 500, "2" → 2000. */
export function quantityMilliValue(quantity: Quantity | string): bigint {
  const q = typeof quantity === 'string' ? parseQuantity(quantity) : quantity;
  return ceilDiv(q.numerator * 1000n, q.denominator);
}

/** Orders two quantities exactly: negative, zero or positive like a sort comparator. */
export function compareQuantities(a: Quantity | string, b: Quantity | string): number {
  const x = typeof a === 'string' ? parseQuantity(a) : a;
  const y = typeof b === 'string' ? parseQuantity(b) : b;
  const left = x.numerator * y.denominator;
  const right = y.numerator * x.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

function toSafeNumber(value: bigint, text: string): number {
  if (value < 0n) throw new InvalidQuantityError(text, 'a resource amount cannot be negative');
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidQuantityError(text, 'too large');
  return Number(value);
}

/** CPU as integer millicores ("500m" → 500, "16" → 16000), for the placement engine's plain numbers. */
export function cpuMillisFromQuantity(text: string): number {
  return toSafeNumber(quantityMilliValue(text), text);
}

/** Memory (or any byte amount) as an integer number of bytes ("16Gi" → 17179869184). */
export function bytesFromQuantity(text: string): number {
  return toSafeNumber(quantityValue(text), text);
}

/** A countable extended resource ("8" of nvidia.com/gpu) as an integer. */
export function countFromQuantity(text: string): number {
  return toSafeNumber(quantityValue(text), text);
}

const binaryUnits: readonly (readonly [string, bigint])[] = [
  ['Ei', 1n << 60n],
  ['Pi', 1n << 50n],
  ['Ti', 1n << 40n],
  ['Gi', 1n << 30n],
  ['Mi', 1n << 20n],
  ['Ki', 1n << 10n],
];

/** Bytes in the largest binary unit that divides them exactly: 17179869184 → "16Gi", 1000 → "1000". */
export function formatBytes(bytes: number | bigint): string {
  const value = BigInt(bytes);
  if (value === 0n) return '0';
  for (const [unit, size] of binaryUnits) {
    if (value % size === 0n) return `${value / size}${unit}`;
  }
  return value.toString();
}

/** Millicores as Kubernetes writes them: 16000 → "16", 500 → "500m". */
export function formatCpuMillis(millis: number | bigint): string {
  const value = BigInt(millis);
  return value % 1000n === 0n ? `${value / 1000n}` : `${value}m`;
}
