// Which pods at a provider are the operator's own. A provider controls its API server: it can make
// pods of its own with a job's labels (flotilla.dev/attempt: "999" froze the job; one reporting
// another job's output CID was taken as the result). Only pods this operator created count: their
// uids are recorded in status.attempts[].pods from the create response.
//
//   pod at provider P, labels attempt N replica R            verdict
//   ───────────────────────────────────────────────────────  ─────────────────────────────────────────
//   attempt N at P has R recorded, uid equal                  own
//   attempt N at P has R recorded, uid differs                foreign (a replacement the operator did not make)
//   attempt N at P, R not recorded, name = podName(N, R)      own; recorded now if N is open ("adopt")
//   attempt N at P, any other name or R out of range          foreign
//   no attempt N at P, N newer than any attempt in status     unsure for UNKNOWN_ATTEMPT_GRACE_MS of the hub's
//                                                             clock since first seen (the job's cache may be
//                                                             behind this operator's own write), then foreign
//   no attempt N at P otherwise                               foreign
//
// The crash window: status records the attempt (its startTime on the hub's clock), then the pods are
// created with deterministic names, then their uids are written — with the attempt's next status
// write (the controller counts them as recorded in memory until then). A crash before it leaves
// pods whose uid is unknown; the name decides then, and only while no uid is recorded for that
// replica: deterministic names are unique in the namespace, so a provider cannot add a second pod
// under the name, and once a uid is on record any other uid is foreign. (A provider that pre-creates
// the exact pod the operator is about to make runs that pod instead of ours; it could equally run
// ours dishonestly — whether a pod's work is correct is outside what ownership can prove.)
import type { AIJobAttempt, AIJobStatus } from '../../api/types.ts';
import type { ObservedPod, ProviderViolation } from './types.ts';

/** How long a pod of an attempt newer than status knows is left alone before it counts as foreign. */
export const UNKNOWN_ATTEMPT_GRACE_MS = 15_000;

export type RecordedPod = NonNullable<AIJobAttempt['pods']>[number];

export interface PodClaims {
  /** The operator's pods: the only ones the lifecycle decides from. */
  readonly own: readonly ObservedPod[];
  /** Own pods of the open attempt whose uid status lacks (crash between create and record): record them. */
  readonly adopt: readonly RecordedPod[];
  /** Provider-made pods: ignored, deleted where the credential allows, reported. */
  readonly foreign: ReadonlyArray<{ readonly pod: ObservedPod; readonly violation: ProviderViolation }>;
  /** Pods of an attempt newer than status, still within the grace: decide nothing from this view. */
  readonly unsure: readonly ObservedPod[];
  /** When the first unsure pod's grace ends (epoch ms). */
  readonly unsureUntil?: number;
}

export interface OwnershipJob {
  readonly name: string;
  readonly uid: string;
  readonly replicas: number;
  readonly status: AIJobStatus;
}

/** Deterministic pod name of a replica of an attempt: unique per job (uid) even across hub namespaces. */
export function podName(job: { name: string; uid: string }, attempt: number, replica: number): string {
  return `${job.name}-${job.uid.slice(0, 8)}-a${attempt}-r${replica}`;
}

export function claimPods(job: OwnershipJob, pods: readonly ObservedPod[], now: number, graceMs = UNKNOWN_ATTEMPT_GRACE_MS): PodClaims {
  const attempts = job.status.attempts ?? [];
  const lastKnown = attempts.at(-1)?.index ?? 0;
  const open = attempts.at(-1)?.endTime ? undefined : attempts.at(-1);
  const own: ObservedPod[] = [];
  const adopt: RecordedPod[] = [];
  const foreign: Array<{ pod: ObservedPod; violation: ProviderViolation }> = [];
  const unsure: ObservedPod[] = [];
  let unsureUntil: number | undefined;
  const reject = (p: ObservedPod, why: string) => foreign.push({ pod: p, violation: { provider: p.provider, pod: p.name, uid: p.uid ?? '', why } });

  for (const p of pods) {
    const attempt = attempts.find((a) => a.index === p.attempt && a.provider === p.provider);
    if (!attempt) {
      if (p.attempt > lastKnown) {
        const until = (p.firstSeenAt ?? now) + graceMs;
        if (now < until) {
          unsure.push(p);
          unsureUntil = unsureUntil === undefined ? until : Math.min(unsureUntil, until);
          continue;
        }
      }
      reject(p, `labelled attempt ${p.attempt}, which this job never ran at ${p.provider}`);
      continue;
    }
    const recorded = attempt.pods?.find((r) => r.replica === p.replica);
    if (recorded) {
      // A pod observed without a uid (never the case for a real apiserver) is judged by name only.
      if (p.uid === undefined ? p.name === recorded.name : p.uid === recorded.uid) own.push(p);
      else reject(p, `claims replica ${p.replica} of attempt ${p.attempt}, whose pod the operator created is ${recorded.name} (uid ${recorded.uid})`);
      continue;
    }
    if (p.replica >= 0 && p.replica < job.replicas && p.name === podName(job, p.attempt, p.replica)) {
      own.push(p);
      if (attempt === open && p.uid)
        adopt.push({ replica: p.replica, name: p.name, uid: p.uid, ...(attempt.startTime ? { createdAt: attempt.startTime } : {}) });
      continue;
    }
    reject(
      p,
      `claims replica ${p.replica} of attempt ${p.attempt} but is not a pod the operator creates (expected ${p.replica < job.replicas ? podName(job, p.attempt, p.replica) : `a replica below ${job.replicas}`})`,
    );
  }
  return { own, adopt, foreign, unsure, ...(unsureUntil !== undefined ? { unsureUntil } : {}) };
}

/** The attempt's pods with `created` recorded (replacing any entry of the same replica). */
export function recordPods(status: AIJobStatus, attemptIndex: number, created: readonly RecordedPod[]): AIJobStatus {
  if (created.length === 0) return status;
  const replicas = new Set(created.map((c) => c.replica));
  return {
    ...status,
    attempts: (status.attempts ?? []).map((a) =>
      a.index !== attemptIndex
        ? a
        : {
            ...a,
            pods: [...(a.pods ?? []).filter((r) => !replicas.has(r.replica)), ...created].sort((x, y) => x.replica - y.replica),
          },
    ),
  };
}

/** The attempt without records of `replicas` (their pods are gone and about to be made again). */
export function forgetPods(status: AIJobStatus, attemptIndex: number, replicas: readonly number[]): AIJobStatus {
  const attempt = status.attempts?.find((a) => a.index === attemptIndex);
  if (!attempt?.pods?.some((r) => replicas.includes(r.replica))) return status;
  return {
    ...status,
    attempts: (status.attempts ?? []).map((a) => (a.index !== attemptIndex ? a : { ...a, pods: (a.pods ?? []).filter((r) => !replicas.includes(r.replica)) })),
  };
}

/** Epoch ms from which a replica of the attempt may be billed: its recorded create ack, else the attempt's start. */
export function hubCreatedAt(attempt: AIJobAttempt, replica: number): number | undefined {
  const recorded = Date.parse(attempt.pods?.find((r) => r.replica === replica)?.createdAt ?? '');
  if (Number.isFinite(recorded)) return recorded;
  const started = Date.parse(attempt.startTime ?? '');
  return Number.isFinite(started) ? started : undefined;
}
