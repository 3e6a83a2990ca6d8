// Verified compute (docs/verification.md): whether a finished run is re-executed, and what the
// re-executions prove. Pure: the AIJob controller draws the sample (a keyed hash only the operator
// can compute, so a provider cannot tell a sampled job from another) and passes it in.
//
//   original run (purpose Run) ── Succeeded, output X
//        │ drawn? ── no ──▶ Unsampled: the job completes as before
//        ▼ yes
//   Verification run on a provider independent of it ── output Y
//        │ Y = X ──▶ Verified
//        ▼ Y ≠ X
//   Tiebreak run on a provider independent of both ── output Z
//        Z = X ──▶ Verified; the verification run lied (liar = it)
//        Z = Y ──▶ Refuted; the original lied (liar = it), the job's output becomes Y
//        else  ──▶ Inconclusive: no two runs agree (the job is not deterministic); nobody is slashed
//
// Checker mode (training whose bits differ run to run): instead of the tiebreak, a Check attempt
// runs spec.verification.checker on a provider independent of both runs, with both outputs:
//        exit 0 ──▶ Verified (the original output is accepted)
//        exit 1 ──▶ Refuted; the original lied (liar = it), the job's output becomes Y
//
// A re-execution that fails, is preempted or is refused is replaced on another provider, up to
// MAX_UNFINISHED_CHECKS; the window (spec.verification.window) bounds it in time. Past either the
// run is paid unverified (Expired): money is never withheld for work done because verifying failed.
import type { AIJobAttempt, AIJobSpec, AIJobStatus } from '../../api/types.ts';

export type VerificationMode = 'None' | 'SpotCheck' | 'Always';
export type CheckPurpose = 'Verification' | 'Tiebreak' | 'Check';
export type Comparison = 'Exact' | 'Checker';

export interface VerificationPolicy {
  readonly mode: VerificationMode;
  /** How outputs are compared: the job's own choice (spec.verification.compare), Exact by default. */
  readonly compare?: Comparison;
  /** SpotCheck: probability of re-execution, in [0, 1]. */
  readonly sampleRate: number;
  readonly windowMs: number;
}

/** The default window: a re-execution usually takes as long as the run. */
export const DEFAULT_WINDOW_MS = 60 * 60_000;
/** Re-executions that end without an output (failed, preempted, refused) before the run is paid unverified. */
export const MAX_UNFINISHED_CHECKS = 4;

const STRENGTH: Record<VerificationMode, number> = { None: 0, SpotCheck: 1, Always: 2 };

/** Verification fields from one source (the spec, the namespace, the hub); any may be missing. */
export interface VerificationAsk {
  readonly mode?: VerificationMode;
  readonly sampleRate?: number;
  readonly windowMs?: number;
}

/**
 * The policy a job runs under. The namespace's and the hub's settings are floors, not defaults a
 * job could lower: the strongest mode and the highest sample rate of all sources apply. The window
 * is the job's own, else the namespace's, else the hub's, else DEFAULT_WINDOW_MS.
 */
export function effectiveVerification(...asks: readonly (VerificationAsk | undefined)[]): VerificationPolicy {
  let mode: VerificationMode = 'None';
  let sampleRate = 0;
  let windowMs: number | undefined;
  for (const a of asks) {
    if (!a) continue;
    if (a.mode && STRENGTH[a.mode] > STRENGTH[mode]) mode = a.mode;
    if (a.sampleRate !== undefined && Number.isFinite(a.sampleRate)) sampleRate = Math.max(sampleRate, Math.min(1, Math.max(0, a.sampleRate)));
    windowMs ??= a.windowMs;
  }
  return { mode, sampleRate: mode === 'Always' ? 1 : mode === 'None' ? 0 : sampleRate, windowMs: windowMs ?? DEFAULT_WINDOW_MS };
}

/** The job's own ask, from spec.verification (the window parsed by the caller, which owns durations). */
/** The job's comparison: Checker only when it asked for it (and named a checker). */
export function comparisonOf(spec: AIJobSpec['verification']): Comparison {
  return spec?.compare === 'Checker' && spec.checker ? 'Checker' : 'Exact';
}

export function specAsk(spec: AIJobSpec['verification'], windowMs: number | undefined): VerificationAsk | undefined {
  if (!spec) return undefined;
  return {
    ...(spec.mode ? { mode: spec.mode } : {}),
    ...(spec.sampleRate !== undefined ? { sampleRate: spec.sampleRate } : {}),
    ...(windowMs !== undefined ? { windowMs } : {}),
  };
}

/** Whether a run is re-executed: `draw` is uniform in [0, 1) and known only to the operator. */
export function isDrawn(policy: VerificationPolicy, draw: number): boolean {
  if (policy.mode === 'Always') return true;
  if (policy.mode === 'None') return false;
  return draw < policy.sampleRate;
}

export const purposeOf = (a: AIJobAttempt): 'Run' | CheckPurpose =>
  a.purpose === 'Verification' || a.purpose === 'Tiebreak' || a.purpose === 'Check' ? a.purpose : 'Run';
/** A Check attempt's verdict: its checker exited 0 (Succeeded) or 1 (Rejected). */
const judged = (a: AIJobAttempt) => purposeOf(a) === 'Check' && a.endTime !== undefined && (a.reason === 'Succeeded' || a.reason === 'Rejected');
const finishedWithOutput = (a: AIJobAttempt) => a.endTime !== undefined && a.reason === 'Succeeded' && Boolean(a.outputCID);

/** The run being verified: the last Run attempt that succeeded. */
export function originalRun(status: AIJobStatus): AIJobAttempt | undefined {
  return [...(status.attempts ?? [])].reverse().find((a) => purposeOf(a) === 'Run' && finishedWithOutput(a));
}

/** Re-executions after the original run, oldest first. */
function checksOf(status: AIJobStatus, original: AIJobAttempt): AIJobAttempt[] {
  return (status.attempts ?? []).filter((a) => a.index > original.index && purposeOf(a) !== 'Run');
}

export type VerificationStep =
  /** Nothing to verify: no re-execution is pending (unsampled, or a verdict is in). */
  | { readonly kind: 'none' }
  /** Another run is needed on a provider independent of `exclude`. */
  | { readonly kind: 'run'; readonly purpose: CheckPurpose; readonly exclude: readonly string[] }
  | {
      readonly kind: 'verdict';
      readonly state: 'Verified' | 'Refuted' | 'Inconclusive' | 'Expired';
      /** The job's output after the verdict (Refuted: the agreeing runs' output). */
      readonly outputCID: string;
      readonly liar?: { readonly attempt: number; readonly provider: string };
      /** The run whose output proved the liar wrong: its provider gets the verifier's half of the slash. */
      readonly verifier?: { readonly attempt: number; readonly provider: string };
      readonly message: string;
    };

/**
 * What the verification of a job with a Pending verification needs next, from its attempts alone.
 * Level-based: the same attempts give the same step, so a restart resumes where it was.
 */
export function verificationStep(status: AIJobStatus): VerificationStep {
  if (status.verification?.state !== 'Pending') return { kind: 'none' };
  const original = originalRun(status);
  if (!original?.outputCID) return { kind: 'none' };
  const x = original.outputCID;
  const checks = checksOf(status, original);
  const done = checks.filter((a) => purposeOf(a) !== 'Check' && finishedWithOutput(a));
  const unfinished = checks.filter((a) => a.endTime !== undefined && !finishedWithOutput(a) && !judged(a)).length;
  const exclude = [...new Set([original.provider, ...checks.map((a) => a.provider)])];
  const first = done[0];
  const at = (a: AIJobAttempt) => ({ attempt: a.index, provider: a.provider });
  if (first?.outputCID === x) {
    return {
      kind: 'verdict',
      state: 'Verified',
      outputCID: x,
      message: `attempt ${first.index} on ${first.provider} re-executed the run of attempt ${original.index} on ${original.provider} and got the same output ${x}`,
    };
  }
  if (first && status.verification?.compare === 'Checker') return checkerStep(original, first, checks, exclude, unfinished);
  const second = done[1];
  if (first && second) {
    const y = first.outputCID as string;
    const z = second.outputCID as string;
    if (z === x)
      return {
        kind: 'verdict',
        state: 'Verified',
        outputCID: x,
        liar: at(first),
        verifier: at(second),
        message: `attempt ${second.index} on ${second.provider} agreed with the original output ${x}; attempt ${first.index} on ${first.provider} reported ${y} and is proven wrong`,
      };
    if (z === y)
      return {
        kind: 'verdict',
        state: 'Refuted',
        outputCID: y,
        liar: at(original),
        verifier: at(first),
        message: `attempts ${first.index} (${first.provider}) and ${second.index} (${second.provider}) both produced ${y}; the original run, attempt ${original.index} on ${original.provider}, reported ${x} and is proven wrong`,
      };
    return {
      kind: 'verdict',
      state: 'Inconclusive',
      outputCID: x,
      message: `three runs gave three outputs (${x}, ${y}, ${z}): the job is not deterministic, so spec.verification.compare Exact cannot judge it`,
    };
  }
  if (unfinished >= MAX_UNFINISHED_CHECKS) {
    return {
      kind: 'verdict',
      state: 'Expired',
      outputCID: x,
      message: `${unfinished} re-executions ended without an output; the run of attempt ${original.index} is paid unverified`,
    };
  }
  return { kind: 'run', purpose: first ? 'Tiebreak' : 'Verification', exclude };
}

/** Checker mode once the re-execution disagreed: the checker's verdict, or another Check to run. */
function checkerStep(original: AIJobAttempt, first: AIJobAttempt, checks: readonly AIJobAttempt[], exclude: string[], unfinished: number): VerificationStep {
  const x = original.outputCID as string;
  const y = first.outputCID as string;
  const verdict = checks.find(judged);
  if (verdict?.reason === 'Succeeded')
    return {
      kind: 'verdict',
      state: 'Verified',
      outputCID: x,
      message: `the checker (attempt ${verdict.index} on ${verdict.provider}) accepted the original output ${x} against the re-execution's ${y}`,
    };
  if (verdict?.reason === 'Rejected')
    return {
      kind: 'verdict',
      state: 'Refuted',
      outputCID: y,
      liar: { attempt: original.index, provider: original.provider },
      verifier: { attempt: first.index, provider: first.provider },
      message: `the checker (attempt ${verdict.index} on ${verdict.provider}) rejected the original output ${x} of attempt ${original.index} on ${original.provider} against the re-execution's ${y}`,
    };
  if (unfinished >= MAX_UNFINISHED_CHECKS)
    return {
      kind: 'verdict',
      state: 'Expired',
      outputCID: x,
      message: `${unfinished} checks ended without a verdict; the run of attempt ${original.index} is paid unverified`,
    };
  return { kind: 'run', purpose: 'Check', exclude };
}

/** What a Check attempt's pods get: the two outputs it judges. */
export function checkInputs(status: AIJobStatus): { readonly original: string; readonly reference: string } | undefined {
  const original = originalRun(status);
  const reference = original ? checksOf(status, original).find((a) => purposeOf(a) === 'Verification' && finishedWithOutput(a)) : undefined;
  return original?.outputCID && reference?.outputCID ? { original: original.outputCID, reference: reference.outputCID } : undefined;
}

/** The purpose of the next attempt a job without an open one would get. */
export function nextAttemptPurpose(status: AIJobStatus): 'Run' | CheckPurpose {
  const step = verificationStep(status);
  return step.kind === 'run' ? step.purpose : 'Run';
}

/** The window ended with the verification still pending. */
export function windowExpired(status: AIJobStatus, now: number): boolean {
  const v = status.verification;
  if (v?.state !== 'Pending' || !v.windowEndsAt) return false;
  return now >= Date.parse(v.windowEndsAt);
}

/**
 * Providers a re-execution must not run on: those that already ran this job's original or a check,
 * and every provider paid to the same address as one of them (one owner under two names is not
 * independent). `payoutOf` maps GPUProvider name → payout address.
 */
export function dependentProviders(exclude: readonly string[], payoutOf: ReadonlyMap<string, string | undefined>): string[] {
  const addresses = new Set(exclude.map((p) => payoutOf.get(p)?.toLowerCase()).filter((a): a is string => Boolean(a)));
  const out = new Set(exclude);
  for (const [name, address] of payoutOf) if (address && addresses.has(address.toLowerCase())) out.add(name);
  return [...out].sort();
}

/** Where a Check attempt's pods find the two outputs (documented on spec.verification.checker). */
export const CHECK_MOUNTS = { original: '/flotilla/verify/original', reference: '/flotilla/verify/reference' } as const;

/**
 * The spec a Check attempt's pods are built from: the job's, with the checker's image, command and
 * args, and both outputs added to its inputs (so they are fetched and mounted like any input, and
 * named in FLOTILLA_INPUT_VERIFY_ORIGINAL_CID / _REFERENCE_CID). No checkpoints: a check is short.
 */
export function checkerJobSpec(spec: AIJobSpec, check: { readonly original: string; readonly reference: string }): AIJobSpec {
  const checker = spec.verification?.checker;
  if (!checker) return spec;
  const { checkpoint: _checkpoint, command: _command, args: _args, ...rest } = spec;
  return {
    ...rest,
    image: checker.image,
    ...(checker.command ? { command: checker.command } : {}),
    ...(checker.args ? { args: checker.args } : {}),
    inputs: [
      ...(spec.inputs ?? []),
      { name: 'verify-original', cid: check.original, mountPath: CHECK_MOUNTS.original },
      { name: 'verify-reference', cid: check.reference, mountPath: CHECK_MOUNTS.reference },
    ],
  };
}
