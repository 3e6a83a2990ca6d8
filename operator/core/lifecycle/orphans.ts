// The orphan sweep's decision: which of this hub's pods at the providers no job will ever clean up.
// A job's own reconcile deletes its pods; it cannot when the job is gone without its finalizer
// having run (a tenant stripped flotilla.dev/remote-pods and deleted it mid-run), and it does not
// look at providers it has no attempt on. The sweep (controllers/orphan-sweep.ts) closes that gap.
//
//   pod (labels flotilla.dev/hub = this hub, job-uid, attempt)      verdict
//   other hub's label, or another namespace than this operator's    not ours to judge: left alone
//   first seen by this operator less than minAgeMs ago               too new (its job may not be cached yet)
//   no AIJob with that uid in the hub                                delete: job gone
//   the job's attempt N at this provider has ended                   delete: attempt closed
//   anything else                                                     the job's own reconcile decides
//
// Pure: the adapter passes the pods it sees, the jobs from a synced hub cache and the hub's clock.

export interface SweepPod {
  readonly provider: string;
  readonly name: string;
  /** Labels and annotations as the provider shows them. */
  readonly hub?: string;
  readonly jobUid?: string;
  readonly jobNamespace?: string;
  readonly attempt?: number;
  readonly deleting: boolean;
  /** Epoch ms, hub clock: when this operator first saw the pod. */
  readonly firstSeenAt: number;
}

export interface SweepJob {
  readonly attempts: ReadonlyArray<{ readonly index: number; readonly provider: string; readonly ended: boolean }>;
}

export interface SweepOptions {
  readonly hubId: string;
  /** The operator's watch namespace: pods of jobs elsewhere belong to another operator. */
  readonly namespace?: string;
  readonly minAgeMs: number;
  /** At most this many deletions per sweep (the rest wait for the next one). */
  readonly maxDeletions: number;
  readonly now: number;
}

export interface OrphanDeletion {
  readonly provider: string;
  readonly name: string;
  readonly why: 'job gone' | 'attempt closed';
}

export function orphanedPods(pods: readonly SweepPod[], jobsByUid: ReadonlyMap<string, SweepJob>, opts: SweepOptions): OrphanDeletion[] {
  const out: OrphanDeletion[] = [];
  for (const p of pods) {
    if (out.length >= opts.maxDeletions) break;
    if (p.hub !== opts.hubId || !p.jobUid || p.deleting) continue;
    if (opts.namespace !== undefined && p.jobNamespace !== opts.namespace) continue;
    if (opts.now - p.firstSeenAt < opts.minAgeMs) continue;
    const job = jobsByUid.get(p.jobUid);
    if (!job) {
      out.push({ provider: p.provider, name: p.name, why: 'job gone' });
      continue;
    }
    const attempt = job.attempts.find((a) => a.index === p.attempt && a.provider === p.provider);
    if (attempt?.ended) out.push({ provider: p.provider, name: p.name, why: 'attempt closed' });
  }
  return out;
}
