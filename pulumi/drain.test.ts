import type { V1Pod } from '@kubernetes/client-node';
import { staysOnDrain } from './drain.ts';

const pod = (p: Partial<V1Pod['metadata']> = {}, phase = 'Running'): V1Pod => ({ metadata: { name: 'p', namespace: 'n', ...p }, status: { phase } });

describe('staysOnDrain', () => {
  test('a lent pod (no owner, or a ReplicaSet) is evicted', () => {
    expect(staysOnDrain(pod())).toBe(false);
    expect(staysOnDrain(pod({ ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'r', uid: 'u' }] }))).toBe(false);
  });

  test('DaemonSet pods, static (mirror) pods and finished pods stay', () => {
    expect(staysOnDrain(pod({ ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'gpu-operator', uid: 'u' }] }))).toBe(true);
    expect(staysOnDrain(pod({ annotations: { 'kubernetes.io/config.mirror': 'abc' } }))).toBe(true);
    expect(staysOnDrain(pod({}, 'Succeeded'))).toBe(true);
    expect(staysOnDrain(pod({}, 'Failed'))).toBe(true);
  });
});
