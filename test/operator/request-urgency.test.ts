// Urgent requests overtake queued normal ones on a rate-limited client, through
// @kubernetes/client-node's generated API calls against the real hub: the urgency travels with the
// async call chain (operator/runtime/request-urgency.ts) to the client's token bucket.
import { CoreV1Api } from '@kubernetes/client-node';
import { RateLimitedKubeConfig } from '../../operator/runtime/rate-limited-kubeconfig.ts';
import { urgently } from '../../operator/runtime/request-urgency.ts';
import { clusterClients } from '../support/federation.ts';

describe('request urgency on a rate-limited hub client', () => {
  it('sends an urgent call before normal calls queued ahead of it, and a normal call made after it stays normal', async () => {
    // One token, then one every 200 ms: the first call goes at once, the rest queue.
    const kc = RateLimitedKubeConfig.fromKubeConfig(clusterClients('hub').kc, { qps: 5, burst: 1 });
    const core = kc.makeApiClient(CoreV1Api);
    const order: string[] = [];
    const read = (label: string) => core.readNamespace({ name: 'default' }).then(() => order.push(label));
    const calls = [read('normal-1'), read('normal-2'), read('normal-3')];
    // Let the three reach the bucket (the generated client awaits before authenticating a request).
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(kc.bucket.queued()).toEqual({ urgent: 0, normal: 2 });
    calls.push(urgently(() => read('urgent')));
    calls.push(read('normal-4'));
    await Promise.all(calls);
    expect(order).toEqual(['normal-1', 'urgent', 'normal-2', 'normal-3', 'normal-4']);
    expect(kc.bucket.throttled).toBe(4);
  });
});
