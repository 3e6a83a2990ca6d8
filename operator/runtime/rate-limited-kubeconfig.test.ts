import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { KubeConfig } from '@kubernetes/client-node';
import { RateLimitedKubeConfig } from './rate-limited-kubeconfig.ts';

const source = new KubeConfig();
source.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false, caData: Buffer.from('not a real CA').toString('base64') }],
  users: [{ name: 'u', token: 'secret-token' }],
  contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
  currentContext: 'ctx',
});

describe('RateLimitedKubeConfig', () => {
  it('shares one connection pool across requests and keeps credentials per request, counting each by verb', async () => {
    const kc = RateLimitedKubeConfig.fromKubeConfig(source, { qps: 100, burst: 100 });
    const a = new RequestContext('https://127.0.0.1:6443/api/v1/pods', HttpMethod.GET);
    const b = new RequestContext('https://127.0.0.1:6443/api/v1/nodes', HttpMethod.POST);
    await kc.applySecurityAuthentication(a);
    await kc.applySecurityAuthentication(b);
    expect(a.getDispatcher()).toBeDefined();
    expect(b.getDispatcher()).toBe(a.getDispatcher());
    expect(b.getHeaders().Authorization).toBe('Bearer secret-token');
    expect(Object.fromEntries(kc.requests)).toEqual({ GET: 1, POST: 1 });
  });
});
