// Numbers and flags from the environment, one set of rules for the whole operator (config.ts,
// payments/chain-config.ts, http/admission-limits.ts). Unset or empty → the default; anything
// else must be written out in plain decimal digits ("1e3", "0x10", " 5" and "5ms" are refused,
// naming the variable), so a typo stops the operator at start instead of running with a surprise.
// Pure: the environment comes in as an argument.

type Env = Readonly<Record<string, string | undefined>>;
type ErrorType = new (message: string) => Error;

const INTEGER = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;

/** The variable as a number > 0 written as `form` allows; `what` names the rule in the error. */
function positive(env: Env, key: string, fallback: number, form: RegExp, what: string, errorType: ErrorType): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!form.test(raw) || !Number.isSafeInteger(Math.floor(n)) || n <= 0) throw new errorType(`${key} must be ${what}, got "${raw}"`);
  return n;
}

/** A whole number ≥ 1 (counts, milliseconds, bytes). */
export function positiveInt(env: Env, key: string, fallback: number, errorType: ErrorType = Error): number {
  return positive(env, key, fallback, INTEGER, 'a positive integer', errorType);
}

/** A number > 0 that may have a fraction (a rate: requests per second). */
export function positiveNumber(env: Env, key: string, fallback: number, errorType: ErrorType = Error): number {
  return positive(env, key, fallback, DECIMAL, 'a positive number', errorType);
}

/** A TCP port: unset or "" → fallback, "off" → none, 0 → any free port. */
export function port(env: Env, key: string, fallback: number | undefined): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'off') return undefined;
  const n = Number(raw);
  if (!INTEGER.test(raw) || n > 65535) throw new Error(`${key} must be a TCP port (0 for any free one) or "off", got "${raw}"`);
  return n;
}

/** 1/true or 0/false (any case, around spaces); unset or "" → false. */
export function flag(env: Env, key: string): boolean {
  const raw = (env[key] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new Error(`${key} must be 1/true or 0/false, got "${env[key]}"`);
}
