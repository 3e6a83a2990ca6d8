import { orphanedPods } from './orphans.ts';
import type { SweepJob, SweepPod } from './orphans.ts';

const NOW = Date.parse('2026-11-23T10:00:00Z');
/** Overrides; a field set to undefined removes the default (a pod without the hub label). */
const pod = (over: { [K in keyof SweepPod]?: SweepPod[K] | undefined } = {}): SweepPod =>
  Object.fromEntries(
    Object.entries({
      provider: 'provider-a',
      name: 'p',
      hub: 'hub',
      jobUid: 'u1',
      jobNamespace: 'ml',
      attempt: 1,
      deleting: false,
      firstSeenAt: NOW - 60_000,
      ...over,
    }).filter(([, v]) => v !== undefined),
  ) as unknown as SweepPod;
const jobs = new Map<string, SweepJob>([
  [
    'u1',
    {
      attempts: [
        { index: 1, provider: 'provider-a', ended: true },
        { index: 2, provider: 'provider-b', ended: false },
      ],
    },
  ],
]);
const opts = { hubId: 'hub', namespace: 'ml', minAgeMs: 20_000, maxDeletions: 10, now: NOW };

describe('orphanedPods', () => {
  it.each([
    ['a pod whose job is gone is deleted', pod({ jobUid: 'gone' }), 'job gone'],
    ['a pod of a closed attempt is deleted', pod(), 'attempt closed'],
    ['a pod of the open attempt is left to the job', pod({ provider: 'provider-b', attempt: 2 }), undefined],
    ["another hub's pod is left alone", pod({ jobUid: 'gone', hub: 'other-hub' }), undefined],
    ['a pod without the hub label is left alone', pod({ jobUid: 'gone', hub: undefined }), undefined],
    ["a pod of another operator's namespace is left alone", pod({ jobUid: 'gone', jobNamespace: 'other' }), undefined],
    ['a pod just seen is left alone (its job may not be cached yet)', pod({ jobUid: 'gone', firstSeenAt: NOW - 1_000 }), undefined],
    ['a pod already terminating is not deleted again', pod({ jobUid: 'gone', deleting: true }), undefined],
    ["a pod of an attempt the job never ran is the job's to judge (foreign)", pod({ attempt: 999 }), undefined],
  ] as const)('%s', (_name, p, why) => {
    const out = orphanedPods([p], jobs, opts);
    expect(out.map((d) => d.why)).toEqual(why ? [why] : []);
  });

  it('is rate-limited: at most maxDeletions per sweep', () => {
    const many = Array.from({ length: 25 }, (_, i) => pod({ name: `p${i}`, jobUid: 'gone' }));
    expect(orphanedPods(many, jobs, { ...opts, maxDeletions: 10 })).toHaveLength(10);
  });

  it('is idempotent: the same input, the same verdict', () => {
    const input = [pod({ jobUid: 'gone' }), pod()];
    expect(orphanedPods(input, jobs, opts)).toEqual(orphanedPods(input, jobs, opts));
  });
});
