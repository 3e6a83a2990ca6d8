// Verification settings of the hub (docs/verification.md), from the environment:
//
//   FLOTILLA_VERIFICATION_MODE          None | SpotCheck | Always — the hub's floor (default None)
//   FLOTILLA_VERIFICATION_SAMPLE_RATE   SpotCheck's floor, in [0, 1] (default 0)
//   FLOTILLA_VERIFICATION_WINDOW        default window when a job and its namespace name none ("1h")
//   FLOTILLA_VERIFICATION_SECRET(_FILE) key of the sample draw; random per process when unset
//   FLOTILLA_SLASH_AMOUNT               token units slashed from a proven liar's bond (default "100")
//
// The draw is a keyed hash of the job's uid, so it is the same in every process that holds the
// key and unpredictable to anyone who does not: a provider cannot tell a sampled job from another.
// It is looked at once per run, when the run ends, and the outcome is recorded in the job's
// status (state Pending or Unsampled), so a restart with another key changes nothing decided.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { durationSeconds } from '../core/duration.ts';
import type { VerificationAsk, VerificationMode } from '../core/verification/verdict.ts';

export interface VerificationConfig {
  readonly hubFloor: VerificationAsk;
  /** Uniform in [0, 1), from the job uid and the key. */
  readonly draw: (uid: string) => number;
  /** Decimal token units slashed from a proven liar's bond (capped by the bond on chain). */
  readonly slashAmount: string;
}

const MODES: readonly VerificationMode[] = ['None', 'SpotCheck', 'Always'];
const DECIMAL = /^(0|[1-9][0-9]{0,29})(\.[0-9]{1,18})?$/;

/** Uniform in [0, 1): the first 48 bits of HMAC-SHA256(key, uid). */
export function drawFor(key: Uint8Array, uid: string): number {
  return createHmac('sha256', key).update(uid).digest().readUIntBE(0, 6) / 2 ** 48;
}

export function loadVerificationConfig(env: NodeJS.ProcessEnv): VerificationConfig {
  const mode = env.FLOTILLA_VERIFICATION_MODE || 'None';
  if (!MODES.includes(mode as VerificationMode)) throw new Error(`FLOTILLA_VERIFICATION_MODE must be one of ${MODES.join(', ')}, not "${mode}"`);
  const rateText = env.FLOTILLA_VERIFICATION_SAMPLE_RATE;
  const rate = rateText === undefined || rateText === '' ? undefined : Number(rateText);
  if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new Error(`FLOTILLA_VERIFICATION_SAMPLE_RATE must be a number from 0 to 1, not "${rateText}"`);
  const window = env.FLOTILLA_VERIFICATION_WINDOW;
  let windowMs: number | undefined;
  if (window) {
    try {
      windowMs = durationSeconds(window) * 1000;
    } catch (err) {
      throw new Error(`FLOTILLA_VERIFICATION_WINDOW: ${(err as Error).message}`, { cause: err });
    }
  }
  const slashAmount = env.FLOTILLA_SLASH_AMOUNT || '100';
  if (!DECIMAL.test(slashAmount)) throw new Error(`FLOTILLA_SLASH_AMOUNT must be a decimal amount in token units, not "${slashAmount}"`);
  const secret = env.FLOTILLA_VERIFICATION_SECRET_FILE ? readFileSync(env.FLOTILLA_VERIFICATION_SECRET_FILE, 'utf8').trim() : env.FLOTILLA_VERIFICATION_SECRET;
  if (secret !== undefined && secret !== '' && secret.length < 16) throw new Error('FLOTILLA_VERIFICATION_SECRET must be at least 16 characters');
  const key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  return {
    hubFloor: { mode: mode as VerificationMode, ...(rate !== undefined ? { sampleRate: rate } : {}), ...(windowMs !== undefined ? { windowMs } : {}) },
    draw: (uid) => drawFor(key, uid),
    slashAmount,
  };
}
