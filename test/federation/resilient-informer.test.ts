// ResilientInformer against the real hub API server: it may call itself synced only once its cache
// holds what it listed. (It once said so a moment before: a reconcile in that gap read an empty
// cache from a "synced" provider and closed a running attempt as Preempted: PodDeleted.)
import type { V1Namespace } from '@kubernetes/client-node';
import { ResilientInformer } from '../../operator/runtime/resilient-informer.ts';
import { clusterClients, pollUntil } from '../support/federation.ts';

it('is synced only once its cache holds every listed object, at every moment it says so', async () => {
  const hub = clusterClients('hub');
  const listed = (await hub.core.listNamespace()).items.map((n) => n.metadata?.name).sort();
  expect(listed.length).toBeGreaterThan(3);
  const seenAtSync: number[] = [];
  let sawSyncedEmpty = false;
  const informer: ResilientInformer<V1Namespace> = new ResilientInformer<V1Namespace>({
    kubeConfig: hub.kc,
    path: '/api/v1/namespaces',
    list: () => hub.core.listNamespace() as Promise<{ items: V1Namespace[] }>,
    onState: (state) => {
      if (state.listed) seenAtSync.push(informer.list().length);
    },
  });
  // Poll the flag on every turn of the event loop too, as the work queue's reconciles do.
  const probe = setInterval(() => {
    if (informer.synced && informer.list().length === 0) sawSyncedEmpty = true;
  }, 0);
  try {
    informer.start();
    await pollUntil(
      'the informer synced',
      async () => informer.synced,
      (s) => s,
      30_000,
      10,
    );
    expect(seenAtSync.length).toBeGreaterThan(0);
    expect(Math.min(...seenAtSync)).toBeGreaterThanOrEqual(listed.length);
    expect(
      informer
        .list()
        .map((n) => n.metadata?.name)
        .sort(),
    ).toEqual(expect.arrayContaining(listed));
    expect(sawSyncedEmpty).toBe(false);
  } finally {
    clearInterval(probe);
    informer.stop();
  }
});
