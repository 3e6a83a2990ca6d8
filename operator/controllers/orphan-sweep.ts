// The orphan sweep: every intervalMs, the leader deletes this hub's pods at the providers whose job
// is gone (its finalizer stripped, then deleted mid-run) or whose attempt has closed. The decision
// is core/lifecycle/orphans.ts; this is the adapter: gather (the providers' pod caches, the hub's
// synced AIJob cache, first-seen times on the hub's clock) → decide → delete. A gang's rendezvous
// Services (controllers/aijob/gang.ts) carry the same labels and are judged by the same rules; they
// are listed from each provider per sweep (one LIST of this hub's Services), not cached. An attempt's
// copies of hub Secrets (controllers/aijob/secret-copies.ts) are found through the pods that
// reference them — the credential may not list Secrets, whose LIST returns their data — and judged
// like those pods; a copy whose pods are all gone already is left to the job's finalizer.
//
// Leader-only (started with the other controllers once the lease is held; every delete asserts it),
// idempotent (a 404 is success, a terminating pod is not deleted again) and rate-limited (at most
// maxDeletions per sweep, each through the provider's rate-limited client). A pod is gone within
// minAgeMs + intervalMs of the operator first seeing it orphaned, plus its termination grace.
import type { AIJob } from '../api/types.ts';
import { ANNOTATION_JOB_NAME, ANNOTATION_JOB_NAMESPACE } from './aijob/pod-template.ts';
import { copiesOf } from './aijob/secret-copies.ts';
import { LABEL_ATTEMPT, LABEL_HUB, LABEL_JOB_UID } from '../api/group.ts';
import { orphanedPods } from '../core/lifecycle/orphans.ts';
import type { OrphanDeletion, SweepJob, SweepPod } from '../core/lifecycle/orphans.ts';
import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { ProviderRegistry } from '../providers/types.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import { recordOrphanDeleted } from '../telemetry/metrics.ts';

export interface OrphanSweepOptions {
  readonly registry: ProviderRegistry;
  /** Names of every known provider. */
  readonly providers: () => readonly string[];
  /** The hub's AIJob cache: only a synced one may say a job is gone. */
  readonly jobs: { list(): readonly AIJob[]; readonly synced: boolean };
  readonly hubId: string;
  readonly namespace?: string;
  readonly intervalMs: number;
  /** A pod first seen less than this ago is not judged yet (default: intervalMs). */
  readonly minAgeMs?: number;
  readonly maxDeletions?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

const MAX_TRACKED = 50_000;

export class OrphanSweep {
  private readonly opts: OrphanSweepOptions;
  private readonly now: () => number;
  /** provider/uid → when this process first saw the pod (hub clock). */
  private readonly firstSeen = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Pods deleted so far (tests, logs). */
  deleted = 0;
  /** Rendezvous Services deleted so far. */
  deletedServices = 0;
  /** Secret copies deleted so far. */
  deletedSecrets = 0;

  constructor(opts: OrphanSweepOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(
      () => void this.sweep().catch((err: unknown) => this.opts.log('warn', 'orphan sweep failed; next one in an interval', { error: errorMessage(err) })),
      this.opts.intervalMs,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One sweep; returns the pods it deleted (then sweeps Services). Overlapping calls are skipped. */
  async sweep(): Promise<OrphanDeletion[]> {
    if (this.running || !this.opts.jobs.synced) return [];
    this.running = true;
    try {
      const now = this.now();
      const pods: SweepPod[] = [];
      const services: SweepPod[] = [];
      const secrets = new Map<string, SweepPod>();
      const live = new Set<string>();
      const sweepable = (provider: string, meta: V1ObjectMeta | undefined): SweepPod => {
        const id = `${provider}/${meta?.uid ?? meta?.name ?? ''}`;
        live.add(id);
        let first = this.firstSeen.get(id);
        if (first === undefined) {
          first = now;
          if (this.firstSeen.size < MAX_TRACKED) this.firstSeen.set(id, first);
        }
        const labels = meta?.labels ?? {};
        const attempt = Number(labels[LABEL_ATTEMPT]);
        return {
          provider,
          name: meta?.name ?? '',
          ...(labels[LABEL_HUB] !== undefined ? { hub: labels[LABEL_HUB] } : {}),
          ...(labels[LABEL_JOB_UID] !== undefined ? { jobUid: labels[LABEL_JOB_UID] } : {}),
          ...(meta?.annotations?.[ANNOTATION_JOB_NAMESPACE] !== undefined ? { jobNamespace: meta.annotations[ANNOTATION_JOB_NAMESPACE] } : {}),
          ...(Number.isInteger(attempt) ? { attempt } : {}),
          deleting: Boolean(meta?.deletionTimestamp),
          firstSeenAt: first,
        };
      };
      for (const provider of this.opts.providers()) {
        const client = this.opts.registry.get(provider);
        if (!client?.synced) continue;
        for (const pod of client.pods()) {
          const judged = sweepable(provider, pod.metadata);
          pods.push(judged);
          // A terminating pod still names its copies: they are judged (not deleting) until it is gone.
          for (const name of secretCopiesOf(pod, judged)) secrets.set(`${provider}/${name}`, { ...judged, name, deleting: false });
        }
        try {
          const listed = await client.core.listNamespacedService({ namespace: client.namespace, labelSelector: `${LABEL_HUB}=${this.opts.hubId}` });
          for (const service of listed.items) services.push(sweepable(provider, service.metadata));
        } catch (err) {
          this.opts.log('warn', 'could not list rendezvous Services; next sweep retries', { provider, error: errorMessage(err) });
        }
      }
      for (const id of this.firstSeen.keys()) if (!live.has(id)) this.firstSeen.delete(id);
      const jobs = new Map<string, SweepJob>();
      for (const job of this.opts.jobs.list()) {
        if (job.metadata.uid)
          jobs.set(job.metadata.uid, {
            attempts: (job.status?.attempts ?? []).map((a) => ({ index: a.index, provider: a.provider, ended: Boolean(a.endTime) })),
          });
      }
      const rules = {
        hubId: this.opts.hubId,
        ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
        minAgeMs: this.opts.minAgeMs ?? this.opts.intervalMs,
        maxDeletions: this.opts.maxDeletions ?? 20,
        now,
      };
      const deletions = orphanedPods(pods, jobs, rules);
      for (const d of deletions) {
        const client = this.opts.registry.get(d.provider);
        if (!client) continue;
        assertLeading(`delete orphaned pod ${d.provider}/${d.name}`);
        try {
          await client.core.deleteNamespacedPod({ name: d.name, namespace: client.namespace });
          this.deleted++;
          recordOrphanDeleted(d.provider);
          this.opts.log('info', 'deleted orphaned remote pod', { provider: d.provider, pod: d.name, why: d.why });
        } catch (err) {
          if ((err as { code?: number }).code !== 404)
            this.opts.log('warn', 'could not delete an orphaned pod; next sweep retries', { provider: d.provider, pod: d.name, error: errorMessage(err) });
        }
      }
      for (const d of orphanedPods(services, jobs, rules)) {
        const client = this.opts.registry.get(d.provider);
        if (!client) continue;
        assertLeading(`delete orphaned service ${d.provider}/${d.name}`);
        try {
          await client.core.deleteNamespacedService({ name: d.name, namespace: client.namespace });
          this.deletedServices++;
          this.opts.log('info', 'deleted orphaned rendezvous Service', { provider: d.provider, service: d.name, why: d.why });
        } catch (err) {
          if ((err as { code?: number }).code !== 404)
            this.opts.log('warn', 'could not delete an orphaned Service; next sweep retries', {
              provider: d.provider,
              service: d.name,
              error: errorMessage(err),
            });
        }
      }
      for (const d of orphanedPods([...secrets.values()], jobs, rules)) {
        const client = this.opts.registry.get(d.provider);
        if (!client) continue;
        assertLeading(`delete orphaned secret ${d.provider}/${d.name}`);
        try {
          await client.core.deleteNamespacedSecret({ name: d.name, namespace: client.namespace });
          this.deletedSecrets++;
          this.opts.log('info', 'deleted orphaned Secret copy', { provider: d.provider, secret: d.name, why: d.why });
        } catch (err) {
          if ((err as { code?: number }).code !== 404)
            this.opts.log('warn', 'could not delete an orphaned Secret copy; next sweep retries', {
              provider: d.provider,
              secret: d.name,
              error: errorMessage(err),
            });
        }
      }
      return deletions;
    } finally {
      this.running = false;
    }
  }
}

/** The attempt's Secret copies a pod of this hub references (only names its attempt's copies have). */
function secretCopiesOf(pod: V1Pod, judged: SweepPod): string[] {
  const name = pod.metadata?.annotations?.[ANNOTATION_JOB_NAME];
  if (!name || !judged.jobUid || judged.attempt === undefined) return [];
  return copiesOf(pod, { name, uid: judged.jobUid }, judged.attempt);
}
