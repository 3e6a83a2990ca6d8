// Event aggregation against the real hub apiserver (operator/hub/event-recorder.ts): routine Events
// of one namespace and reason are written one per job only up to a threshold; the rest are counted
// into aggregate Events on the Namespace, one per flush interval, created (the operator's role may
// not patch Events). Warnings always name their job.
import { CoreV1Api } from '@kubernetes/client-node';
import type { AIJob } from '../../operator/api/types.ts';
import { EventRecorder } from '../../operator/hub/event-recorder.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil } from '../support/federation.ts';

const hub = clusterClients('hub');
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-events');
});
afterAll(async () => {
  await deleteNamespace(hub.core, ns);
});

const job = (i: number) => ({ metadata: { namespace: ns, name: `job-${i}`, uid: `uid-${i}` } }) as AIJob;

describe('Events of a burst of AIJobs', () => {
  it('the first ones name their job; the rest are counted into one aggregate Event; Warnings stay per job', async () => {
    const recorder = new EventRecorder(hub.kc.makeApiClient(CoreV1Api), 'flotilla-test', { individual: 3, windowMs: 60_000, flushMs: 300 });
    try {
      for (let i = 0; i < 12; i++) await recorder.record(job(i), { type: 'Normal', reason: 'Scheduled', message: `attempt 1 of job-${i} on provider-a` });
      await recorder.record(job(11), { type: 'Warning', reason: 'Preempted', message: 'job-11 was preempted' });
      // 12 Scheduled + 1 Preempted occurrences: 3 individual + 1 Warning so far; 9 counted.
      expect(recorder.writes).toBe(4);
      const events = await pollUntil(
        'the aggregate counts all nine',
        async () => (await hub.core.listNamespacedEvent({ namespace: ns })).items,
        (items) => items.some((e) => e.involvedObject.kind === 'Namespace' && e.count === 9),
        10_000,
      );
      const scheduled = events.filter((e) => e.reason === 'Scheduled');
      expect(
        scheduled
          .filter((e) => e.involvedObject.kind === 'AIJob')
          .map((e) => e.involvedObject.name)
          .sort(),
      ).toEqual(['job-0', 'job-1', 'job-2']);
      const aggregate = scheduled.find((e) => e.involvedObject.kind === 'Namespace');
      expect(aggregate).toMatchObject({ type: 'Normal', count: 9, involvedObject: { name: ns } });
      expect(aggregate?.message).toBe('9 more AIJob(s) in this namespace: Scheduled; latest: attempt 1 of job-11 on provider-a');
      expect(events.filter((e) => e.reason === 'Preempted').map((e) => e.involvedObject.name)).toEqual(['job-11']);
      // One aggregate after the burst: 13 occurrences cost 5 writes, all of them creates.
      expect(recorder.writes).toBe(5);
      expect(scheduled.filter((e) => e.involvedObject.kind === 'Namespace')).toHaveLength(1);
    } finally {
      recorder.stop();
    }
  });
});
