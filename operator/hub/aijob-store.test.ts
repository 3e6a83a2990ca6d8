import { KubeConfig } from '@kubernetes/client-node';
import type { AIJob } from '../api/types.ts';
import type { InformerEventType, ResilientInformer } from '../runtime/resilient-informer.ts';
import { AIJobStore } from './aijob-store.ts';
import type { SharedJobInformer } from './aijob-store.ts';

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'hub', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
  users: [{ name: 'u', token: 't' }],
  contexts: [{ name: 'c', cluster: 'hub', user: 'u' }],
  currentContext: 'c',
});

const job = (name: string, managedBy?: string): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name, namespace: 'team-a', ...(managedBy !== undefined ? { annotations: { 'flotilla.dev/managed-by': managedBy } } : {}) },
    spec: {},
  }) as unknown as AIJob;

/** An informer someone else runs, holding `jobs`: what HubView offers a store. */
function sharedSource(jobs: AIJob[], namespace?: string) {
  const listeners = new Set<(type: InformerEventType, job: AIJob) => void>();
  const informer = {
    list: () => jobs,
    get: (name: string, ns?: string) => jobs.find((j) => j.metadata.name === name && j.metadata.namespace === ns),
    start: () => {
      throw new Error('a sharer starts its own informer');
    },
    stop: () => {
      throw new Error('a sharer stops its own informer');
    },
  } as unknown as ResilientInformer<AIJob>;
  const source: SharedJobInformer = {
    jobInformer: informer,
    namespace,
    onJob: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  return { source, emit: (type: InformerEventType, j: AIJob) => listeners.forEach((l) => l(type, j)), listeners };
}

describe('AIJobStore on a shared informer', () => {
  it('opens no watch of its own: replays the jobs there on start, follows the sharer, and lets go on stop', () => {
    const a = job('a', 'flotilla-system/op');
    const b = job('b', 'flotilla-system/other');
    const { source, emit, listeners } = sharedSource([a, b], 'team-a');
    const seen: string[] = [];
    const store = new AIJobStore(kc, {
      namespace: 'team-a',
      shared: source,
      owner: 'flotilla-system/op',
      onEvent: (t, j) => seen.push(`${t}:${j.metadata.name}`),
    });
    store.start();
    store.start(); // idempotent: one subscription
    expect(seen).toEqual(['add:a', 'add:b']);
    expect(listeners.size).toBe(1);
    emit('update', a);
    expect(seen.at(-1)).toBe('update:a');
    // The cache is the sharer's; what this store may act on is still its own rule.
    expect(store.get('team-a/a')).toBe(a);
    expect(store.get('team-a/b')).toBeUndefined();
    expect(store.peek('team-a/b')).toBe(b);
    store.stop();
    expect(listeners.size).toBe(0);
    emit('delete', a);
    expect(seen.at(-1)).toBe('update:a');
  });

  it('refuses an informer of another scope (it would act on jobs outside its namespace, or miss some)', () => {
    expect(() => new AIJobStore(kc, { namespace: 'team-a', shared: sharedSource([], undefined).source })).toThrow(/cannot share/);
    expect(() => new AIJobStore(kc, { shared: sharedSource([], 'team-a').source })).toThrow(/cannot share/);
  });
});
