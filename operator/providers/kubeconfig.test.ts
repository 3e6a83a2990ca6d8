import * as yaml from 'js-yaml';
import { ProviderConfigError } from './health.ts';
import { kubeconfigFromSecret, kubeconfigHash, loadProviderKubeConfig } from './kubeconfig.ts';

const ref = { name: 'provider-x-kubeconfig', namespace: 'flotilla-system', key: 'kubeconfig' };
const opts = { rateLimit: { qps: 5, burst: 10 }, requestTimeoutMs: 1000 };

interface Doc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
  [key: string]: unknown;
}

function first<T>(items: T[]): T {
  const item = items[0];
  if (item === undefined) throw new Error('empty list');
  return item;
}

function kubeconfig(mutate: (doc: Doc) => void = () => undefined): string {
  const doc: Doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': 'Y2E=' } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  mutate(doc);
  return yaml.dump(doc);
}

function configError(fn: () => unknown): { reason: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProviderConfigError) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('no error');
}

describe('kubeconfigFromSecret', () => {
  it('decodes the key from data', () => {
    expect(kubeconfigFromSecret({ data: { kubeconfig: Buffer.from('hello').toString('base64') } }, ref)).toBe('hello');
  });
  it('a missing Secret names it', () => {
    expect(configError(() => kubeconfigFromSecret(undefined, ref))).toEqual({
      reason: 'SecretNotFound', message: 'Secret flotilla-system/provider-x-kubeconfig not found (spec.kubeconfigSecretRef)',
    });
  });
  it('a Secret without the key lists the keys it has', () => {
    expect(configError(() => kubeconfigFromSecret({ data: { config: 'eA==', other: 'eA==' } }, ref))).toEqual({
      reason: 'SecretKeyMissing',
      message: 'Secret flotilla-system/provider-x-kubeconfig has no key "kubeconfig" (spec.kubeconfigSecretRef.key); it has "config", "other"',
    });
  });
  it('an empty Secret says it has no data', () => {
    expect(configError(() => kubeconfigFromSecret({}, ref)).message).toMatch(/it has no data$/);
  });
});

describe('loadProviderKubeConfig', () => {
  it('loads an inline kubeconfig into a rate-limited client with the given limit', () => {
    const kc = loadProviderKubeConfig(kubeconfig(), 'Secret s', opts);
    expect(kc.server).toBe('https://127.0.0.1:6443');
    expect(kc.bucket.limit).toEqual({ qps: 5, burst: 10 });
  });

  const cases: { name: string; text: string; message: RegExp }[] = [
    { name: 'garbage does not parse', text: 'garbage: [', message: /^kubeconfig in Secret s does not parse: unexpected end of the stream/ },
    { name: 'an empty document does not parse', text: '', message: /does not parse/ },
    { name: 'a YAML scalar has no current-context', text: 'hello', message: /has no current-context$/ },
    { name: 'a current-context it does not define', text: kubeconfig((d) => { d['current-context'] = 'nope'; }), message: /names current-context "nope", which it does not define/ },
    { name: 'a context naming an undefined cluster', text: kubeconfig((d) => { first(d.contexts).context.cluster = 'gone'; }), message: /names cluster "gone"/ },
    { name: 'a context naming an undefined user', text: kubeconfig((d) => { first(d.contexts).context.user = 'gone'; }), message: /names user "gone"/ },
    { name: 'a server that is not a URL', text: kubeconfig((d) => { first(d.clusters).cluster.server = 'not a url'; }), message: /is not a URL/ },
    { name: 'a server that is not http(s)', text: kubeconfig((d) => { first(d.clusters).cluster.server = 'ftp://x'; }), message: /only https and http/ },
    { name: 'an exec plugin is never run', text: kubeconfig((d) => { first(d.users).user = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh' } }; }), message: /exec credential plugin/ },
    { name: 'files of the operator are never read', text: kubeconfig((d) => { first(d.users).user = { 'client-certificate': '/etc/passwd', 'client-key': '/etc/shadow' }; }), message: /from a file/ },
    { name: 'a CA file is never read', text: kubeconfig((d) => { first(d.clusters).cluster = { server: 'https://x', 'certificate-authority': '/etc/ca.pem' }; }), message: /certificate-authority from a file/ },
  ];
  it.each(cases)('$name', ({ text, message }) => {
    const e = configError(() => loadProviderKubeConfig(text, 'Secret s', opts));
    expect(e.reason).toBe('KubeconfigInvalid');
    expect(e.message).toMatch(message);
  });
});

describe('kubeconfigHash', () => {
  it('changes with the content and only with it', () => {
    expect(kubeconfigHash('a')).toBe(kubeconfigHash('a'));
    expect(kubeconfigHash('a')).not.toBe(kubeconfigHash('b'));
  });
});
