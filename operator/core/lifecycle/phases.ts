// Which AIJob phases end a job. The one definition: the lifecycle, the payment, callback and
// artifact controllers, and the CLI's `watch` all ask here.
//
//   Succeeded, Failed   the run is over (finished); a paid job then settles
//   Settled             the escrow paid out (after Succeeded or Failed)
//
// A terminal job gets no further attempt; only settlement moves a finished one on to Settled.
import type { AIJobStatus } from '../../api/types.ts';

/** Phases no attempt follows: finished, and finished then settled. */
export const TERMINAL_PHASES = ['Succeeded', 'Failed', 'Settled'] as const;
export type TerminalPhase = (typeof TERMINAL_PHASES)[number];

/** Phases in which the run is over but settlement (when paid) has not happened yet. */
export const FINISHED_PHASES = ['Succeeded', 'Failed'] as const;
export type FinishedPhase = (typeof FINISHED_PHASES)[number];

export function isTerminalPhase(phase: string | undefined): phase is TerminalPhase {
  return (TERMINAL_PHASES as readonly (string | undefined)[]).includes(phase);
}

export function isFinishedPhase(phase: string | undefined): phase is FinishedPhase {
  return (FINISHED_PHASES as readonly (string | undefined)[]).includes(phase);
}

export function isTerminal(status: AIJobStatus | undefined): boolean {
  return isTerminalPhase(status?.phase);
}
