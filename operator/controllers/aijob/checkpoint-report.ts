// Where running replicas report checkpoints: POST /v1/checkpoints on the operator's report listener
// (FLOTILLA_REPORT_PORT, its own port: operator/http/server.ts).
// A preemption can take a replica without warning (node deleted, provider unreachable), so the
// termination message is not enough to know the last checkpoint; replicas report each one as they
// pin it, and the next attempt resumes from the newest on record.
//
//   POST /v1/checkpoints
//   Authorization: Bearer $FLOTILLA_REPORT_TOKEN
//   {"namespace": "...", "name": "...", "uid": "...", "attempt": 2, "cid": "bafy...", "time": "<RFC 3339>"}
//
// The token is an HMAC of (uid, attempt) under the operator's report secret, handed to the pods of
// that attempt only (FLOTILLA_REPORT_TOKEN): a replica can report for its own attempt and nothing
// else. Any replica of the operator can take a report (it reads the AIJob and writes the attempt's
// checkpoint with a JSON patch that tests the attempt is still open and at the checkpoint read), so
// reports keep working across leader changes.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import express from 'express';
import type { Router } from 'express';
import { AIJOB, GROUP, VERSION } from '../../api/group.ts';
import type { AIJob } from '../../api/types.ts';
import { applyCheckpoint, parseCheckpointReport } from '../../core/lifecycle/checkpoint.ts';
import type { Logger } from '../../log.ts';
import type { KeyedRateLimiter } from '../../runtime/keyed-rate-limiter.ts';
import { failedTest } from '../../hub/aijob-store.ts';
import { errorMessage } from '../../log.ts';
import { recordWriteConflict } from '../../telemetry/metrics.ts';

export const CHECKPOINT_REPORT_PATH = '/v1/checkpoints';
const MAX_CONFLICT_RETRIES = 5;
/** Names these writes in the job's managedFields and in flotilla_aijob_write_conflicts_total. */
const CHECKPOINTS_FIELD_MANAGER = 'flotilla-checkpoints';

/** The bearer token of one attempt's replicas. */
export function reportToken(secret: string, uid: string, attempt: number): string {
  return createHmac('sha256', secret).update(`${uid}/${attempt}`).digest('hex');
}

function tokenMatches(secret: string, uid: string, attempt: number, presented: string): boolean {
  const want = Buffer.from(reportToken(secret, uid, attempt));
  const got = Buffer.from(presented);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface CheckpointReportsOptions {
  readonly hub: KubeConfig;
  readonly secret: string;
  readonly log: Logger;
  /** Called after a checkpoint was recorded (metrics). */
  readonly onRecorded?: (report: { namespace: string; name: string; attempt: number; cid: string }) => void;
  readonly now?: () => number;
  /**
   * Reports per job (keyed by uid, counted only once the token matched, so nobody can spend another
   * job's allowance): past it 429 with Retry-After, before any hub request. A container flooding
   * its report URL then costs the operator a parse and an HMAC per request, and the hub nothing.
   */
  readonly perJob?: KeyedRateLimiter;
}

export function checkpointReportRouter(opts: CheckpointReportsOptions): Router {
  const custom = opts.hub.makeApiClient(CustomObjectsApi);
  const now = opts.now ?? Date.now;
  const router = express.Router();
  router.post(CHECKPOINT_REPORT_PATH, express.json({ limit: '16kb' }), async (req, res) => {
    const report = parseCheckpointReport(req.body, now());
    if (typeof report === 'string') return void res.status(400).json({ error: report });
    const auth = req.get('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!tokenMatches(opts.secret, report.uid, report.attempt, token)) return void res.status(401).json({ error: 'token does not match this job and attempt' });
    const limited = opts.perJob?.take(report.uid);
    if (limited && !limited.ok)
      return void res
        .set('Retry-After', String(Math.max(1, Math.ceil(limited.retryAfterMs / 1000))))
        .status(429)
        .json({ error: 'too many checkpoint reports for this job; retry later' });
    const ref = { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: report.namespace, name: report.name };
    try {
      for (let attempt = 0; ; attempt++) {
        const job = (await custom.getNamespacedCustomObject(ref)) as AIJob;
        if (job.metadata.uid !== report.uid) return void res.status(409).json({ error: 'the job was replaced (uid differs)' });
        const verdict = applyCheckpoint(job.status ?? {}, report);
        if (!verdict.ok) return void res.status(verdict.code).json({ error: verdict.error });
        try {
          // No resourceVersion: the patch tests the attempt itself (core/lifecycle/checkpoint.ts), so
          // the lifecycle's or another controller's write of the same moment does not refuse it.
          await custom.patchNamespacedCustomObjectStatus(
            { ...ref, fieldManager: CHECKPOINTS_FIELD_MANAGER, body: verdict.ops },
            setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
          );
          opts.log('info', 'checkpoint recorded', { job: `${report.namespace}/${report.name}`, attempt: report.attempt, cid: report.cid });
          opts.onRecorded?.(report);
          return void res.status(204).end();
        } catch (err) {
          // A failed test: the attempt moved on since the read (closed, a newer checkpoint); read again.
          if ((err as { code?: number }).code !== 409 && !failedTest(err)) throw err;
          recordWriteConflict(CHECKPOINTS_FIELD_MANAGER, 'status');
          if (attempt >= MAX_CONFLICT_RETRIES) throw err;
        }
      }
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return void res.status(404).json({ error: `AIJob ${report.namespace}/${report.name} not found` });
      opts.log('warn', 'could not record a checkpoint; the replica will retry', { job: `${report.namespace}/${report.name}`, error: errorMessage(err) });
      return void res.status(503).json({ error: 'hub unavailable, retry later' });
    }
  });
  return router;
}
