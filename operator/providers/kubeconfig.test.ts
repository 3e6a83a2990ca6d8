import * as yaml from 'js-yaml';
import { ProviderConfigError } from './health.ts';
import { kubeconfigFromSecret, kubeconfigHash, loadProviderKubeConfig, resolveProviderServer } from './kubeconfig.ts';
import type { LoadProviderKubeConfigOptions } from './kubeconfig.ts';
import { parseRange } from './address-policy.ts';

const ref = { name: 'provider-x-kubeconfig', namespace: 'flotilla-system', key: 'kubeconfig' };
const strict: LoadProviderKubeConfigOptions = { rateLimit: { qps: 5, burst: 10 }, requestTimeoutMs: 1000 };
const dev: LoadProviderKubeConfigOptions = { ...strict, policy: { allowInsecure: true, hubRanges: [] } };
const withHubRanges: LoadProviderKubeConfigOptions = {
  ...strict,
  policy: {
    allowInsecure: false,
    hubRanges: [
      { range: parseRange('10.96.0.0/12'), what: "inside the hub's service range (FLOTILLA_HUB_SERVICE_CIDR)" },
      { range: parseRange('fd00:10::/64'), what: "inside the hub's pod range (FLOTILLA_HUB_POD_CIDR)" },
    ],
  },
};

interface Doc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  'current-context'?: string;
  [key: string]: unknown;
}

function first<T>(items: T[]): T {
  const item = items[0];
  if (item === undefined) throw new Error('empty list');
  return item;
}

/** An allow-list-clean kubeconfig (as a provider chart's credential looks), with one change. */
function kubeconfig(mutate: (doc: Doc) => void = () => undefined): string {
  const doc: Doc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: 'c', cluster: { server: 'https://203.0.113.10:6443', 'certificate-authority-data': 'Y2E=' } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  mutate(doc);
  return yaml.dump(doc);
}
const cluster = (d: Doc) => first(d.clusters).cluster;
const user = (d: Doc) => first(d.users).user;

function configError(fn: () => unknown): { reason: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProviderConfigError) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('no error');
}

async function asyncConfigError(fn: () => Promise<unknown>): Promise<{ reason: string; message: string }> {
  try {
    await fn();
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
      reason: 'SecretNotFound',
      message: 'Secret flotilla-system/provider-x-kubeconfig not found (spec.kubeconfigSecretRef)',
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

describe('loadProviderKubeConfig: what is accepted', () => {
  it('loads a token kubeconfig into a rate-limited client with the given limit', () => {
    const kc = loadProviderKubeConfig(kubeconfig(), 'Secret s', strict);
    expect(kc.server).toBe('https://203.0.113.10:6443');
    expect(kc.bucket.limit).toEqual({ qps: 5, burst: 10 });
    expect(kc.getCurrentUser()).toEqual({ name: 'u', token: 't' });
    expect(kc.getCurrentCluster()).toEqual({ name: 'c', server: 'https://203.0.113.10:6443', caData: 'Y2E=', skipTLSVerify: false });
  });

  it('accepts a client certificate and tls-server-name, and hands client-node nothing else', () => {
    const kc = loadProviderKubeConfig(
      kubeconfig((d) => {
        user(d).token = undefined;
        delete user(d).token;
        Object.assign(user(d), { 'client-certificate-data': 'Y2VydA==', 'client-key-data': 'a2V5' });
        cluster(d)['tls-server-name'] = 'api.provider.example';
        first(d.contexts).context.namespace = 'ignored';
      }),
      'Secret s',
      strict,
    );
    expect(kc.getCurrentUser()).toEqual({ name: 'u', certData: 'Y2VydA==', keyData: 'a2V5' });
    expect(kc.getCurrentCluster()?.tlsServerName).toBe('api.provider.example');
    expect(kc.contexts).toEqual([{ name: 'x', cluster: 'c', user: 'u' }]);
  });

  it('accepts insecure-skip-tls-verify: false (it asks for nothing)', () => {
    expect(
      loadProviderKubeConfig(
        kubeconfig((d) => {
          cluster(d)['insecure-skip-tls-verify'] = false;
        }),
        'Secret s',
        strict,
      ).getCurrentCluster()?.skipTLSVerify,
    ).toBe(false);
  });

  it('a host name passes the pure check (resolveProviderServer judges what it resolves to)', () => {
    expect(
      loadProviderKubeConfig(
        kubeconfig((d) => {
          cluster(d).server = 'https://api.provider.example:6443';
        }),
        'Secret s',
        strict,
      ).server,
    ).toBe('https://api.provider.example:6443');
  });

  it('keeps TLS verification on even when the environment turns it off for undici', () => {
    const kc = loadProviderKubeConfig(kubeconfig(), 'Secret s', strict);
    expect(kc.createDispatcherOptions(kc.getCurrentCluster(), {})).toMatchObject({ type: 'agent', connect: { rejectUnauthorized: true } });
  });
});

describe('loadProviderKubeConfig: what is refused (the message names the key)', () => {
  const refused: { name: string; text: string; key: RegExp; why?: RegExp }[] = [
    {
      name: 'token-file of the settlement key',
      text: kubeconfig((d) => {
        first(d.users).user = { 'token-file': '/etc/flotilla/secrets/settlement-key/key' };
      }),
      key: /users\[0\]\.user\.token-file/,
      why: /read a file of its own/,
    },
    {
      name: 'token-file of /dev/zero',
      text: kubeconfig((d) => {
        first(d.users).user = { token: 't', 'token-file': '/dev/zero' };
      }),
      key: /users\[0\]\.user\.token-file/,
    },
    {
      name: 'tokenFile (camelCase)',
      text: kubeconfig((d) => {
        user(d).tokenFile = '/dev/zero';
      }),
      key: /users\[0\]\.user\.tokenFile/,
    },
    {
      name: 'insecure-skip-tls-verify',
      text: kubeconfig((d) => {
        cluster(d)['insecure-skip-tls-verify'] = true;
      }),
      key: /clusters\[0\]\.cluster\.insecure-skip-tls-verify/,
      why: /must verify/,
    },
    {
      name: 'plain http',
      text: kubeconfig((d) => {
        cluster(d).server = 'http://203.0.113.10:8080';
      }),
      key: /clusters\[0\]\.cluster\.server/,
      why: /plain http is not accepted/,
    },
    {
      name: 'proxy-url',
      text: kubeconfig((d) => {
        cluster(d)['proxy-url'] = 'http://203.0.113.99:3128';
      }),
      key: /clusters\[0\]\.cluster\.proxy-url/,
      why: /routes the operator's requests/,
    },
    {
      name: 'a loopback server',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://127.0.0.1:6443';
      }),
      key: /clusters\[0\]\.cluster\.server/,
      why: /127\.0\.0\.1 is loopback/,
    },
    {
      name: 'a loopback server in another spelling',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://2130706433:6443';
      }),
      key: /server/,
      why: /loopback/,
    },
    {
      name: 'an IPv6 loopback server',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://[::1]:6443';
      }),
      key: /server/,
      why: /loopback/,
    },
    {
      name: 'an IPv4-mapped IPv6 loopback server',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://[::ffff:127.0.0.1]:6443';
      }),
      key: /server/,
      why: /loopback/,
    },
    {
      name: 'the unspecified address',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://0.0.0.0:6443';
      }),
      key: /server/,
      why: /unspecified/,
    },
    {
      name: 'localhost',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://localhost:6443';
      }),
      key: /server/,
      why: /localhost is loopback/,
    },
    {
      name: 'the cloud metadata service (link-local)',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://169.254.169.254';
      }),
      key: /server/,
      why: /link-local/,
    },
    {
      name: 'an IPv6 link-local server',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://[fe80::1]:6443';
      }),
      key: /server/,
      why: /link-local/,
    },
    {
      name: 'impersonation (as)',
      text: kubeconfig((d) => {
        user(d).as = 'system:admin';
      }),
      key: /users\[0\]\.user\.as\b/,
      why: /impersonation/,
    },
    {
      name: 'impersonation (as-groups)',
      text: kubeconfig((d) => {
        user(d)['as-groups'] = ['system:masters'];
      }),
      key: /users\[0\]\.user\.as-groups/,
      why: /impersonation/,
    },
    {
      name: 'username and password',
      text: kubeconfig((d) => {
        first(d.users).user = { username: 'admin', password: 'secret' };
      }),
      key: /users\[0\]\.user\.(username|password)/,
      why: /basic authentication/,
    },
    {
      name: 'an exec plugin',
      text: kubeconfig((d) => {
        first(d.users).user = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh' } };
      }),
      key: /users\[0\]\.user\.exec/,
      why: /runs a command/,
    },
    {
      name: 'an auth-provider',
      text: kubeconfig((d) => {
        first(d.users).user = { 'auth-provider': { name: 'oidc', config: {} } };
      }),
      key: /users\[0\]\.user\.auth-provider/,
    },
    {
      name: 'a client certificate file',
      text: kubeconfig((d) => {
        first(d.users).user = { 'client-certificate': '/etc/passwd', 'client-key-data': 'a2V5' };
      }),
      key: /users\[0\]\.user\.client-certificate\b/,
      why: /file/,
    },
    {
      name: 'a client key file',
      text: kubeconfig((d) => {
        first(d.users).user = { 'client-certificate-data': 'Y2VydA==', 'client-key': '/etc/shadow' };
      }),
      key: /users\[0\]\.user\.client-key\b/,
      why: /file/,
    },
    {
      name: 'a CA file',
      text: kubeconfig((d) => {
        cluster(d)['certificate-authority'] = '/etc/ca.pem';
      }),
      key: /clusters\[0\]\.cluster\.certificate-authority\b/,
      why: /file/,
    },
    {
      name: 'extensions on the user',
      text: kubeconfig((d) => {
        user(d).extensions = [{ name: 'x', extension: {} }];
      }),
      key: /users\[0\]\.user\.extensions/,
    },
    {
      name: 'an unknown top-level key',
      text: kubeconfig((d) => {
        d.extensions = [];
      }),
      key: /has extensions,/,
    },
    {
      name: 'preferences that are not empty',
      text: kubeconfig((d) => {
        d.preferences = { colors: true };
      }),
      key: /preferences/,
    },
    {
      name: 'an unknown cluster key',
      text: kubeconfig((d) => {
        cluster(d)['disable-compression'] = true;
      }),
      key: /clusters\[0\]\.cluster\.disable-compression/,
    },
    {
      name: 'an unknown context key',
      text: kubeconfig((d) => {
        first(d.contexts).context.extensions = [];
      }),
      key: /contexts\[0\]\.context\.extensions/,
    },
    {
      name: 'two users',
      text: kubeconfig((d) => {
        d.users.push({ name: 'v', user: { token: 'x' } });
      }),
      key: /has 2 users; exactly one/,
    },
    {
      name: 'two clusters',
      text: kubeconfig((d) => {
        d.clusters.push({ name: 'd', cluster: { server: 'https://203.0.113.11' } });
      }),
      key: /has 2 clusters/,
    },
    {
      name: 'two contexts',
      text: kubeconfig((d) => {
        d.contexts.push({ name: 'y', context: { cluster: 'c', user: 'u' } });
      }),
      key: /has 2 contexts/,
    },
    {
      name: 'no credential at all',
      text: kubeconfig((d) => {
        first(d.users).user = {};
      }),
      key: /has no credential/,
    },
    {
      name: 'a certificate without its key',
      text: kubeconfig((d) => {
        first(d.users).user = { 'client-certificate-data': 'Y2VydA==' };
      }),
      key: /without client-key-data/,
    },
    {
      name: 'a token that is not a string',
      text: kubeconfig((d) => {
        user(d).token = 42;
      }),
      key: /users\[0\]\.user\.token that is not a non-empty string/,
    },
    {
      name: 'credentials in the server URL',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://a:b@203.0.113.10';
      }),
      key: /credentials in it/,
    },
    {
      name: 'a server URL with a path',
      text: kubeconfig((d) => {
        cluster(d).server = 'https://203.0.113.10/proxy/x';
      }),
      key: /with a path/,
    },
    { name: 'garbage does not parse', text: 'garbage: [', key: /^kubeconfig in Secret s does not parse: unexpected end of the stream/ },
    { name: 'an empty document', text: '', key: /does not parse: it is empty/ },
    { name: 'a YAML scalar', text: 'hello', key: /is not a mapping/ },
    { name: 'a YAML tag of the default schema', text: kubeconfig().replace('token: t', 'token: !!binary aGk='), key: /does not parse/ },
    {
      name: 'no current-context',
      text: kubeconfig((d) => {
        delete d['current-context'];
      }),
      key: /has no current-context$/,
    },
    {
      name: 'a current-context it does not define',
      text: kubeconfig((d) => {
        d['current-context'] = 'nope';
      }),
      key: /names current-context "nope", which it does not define/,
    },
    {
      name: 'a context naming an undefined cluster',
      text: kubeconfig((d) => {
        first(d.contexts).context.cluster = 'gone';
      }),
      key: /names cluster "gone"/,
    },
    {
      name: 'a context naming an undefined user',
      text: kubeconfig((d) => {
        first(d.contexts).context.user = 'gone';
      }),
      key: /names user "gone"/,
    },
    {
      name: 'a server that is not a URL',
      text: kubeconfig((d) => {
        cluster(d).server = 'not a url';
      }),
      key: /is not a URL/,
    },
    {
      name: 'a server that is not http(s)',
      text: kubeconfig((d) => {
        cluster(d).server = 'ftp://x';
      }),
      key: /only https is accepted/,
    },
  ];
  it.each(refused)('$name', ({ text, key, why }) => {
    const e = configError(() => loadProviderKubeConfig(text, 'Secret s', strict));
    expect(e.reason).toBe('KubeconfigInvalid');
    expect(e.message).toMatch(/^kubeconfig in Secret s /);
    expect(e.message).toMatch(key);
    if (why) expect(e.message).toMatch(why);
  });

  it('every refused shape is refused whatever else the kubeconfig holds (no shape slips through the builder)', () => {
    for (const { text } of refused) expect(() => loadProviderKubeConfig(text, 'Secret s', strict)).toThrow(ProviderConfigError);
  });
});

describe('the local-development flag (FLOTILLA_ALLOW_INSECURE_PROVIDERS)', () => {
  it('allows a loopback server, plain http and insecure-skip-tls-verify', () => {
    expect(
      loadProviderKubeConfig(
        kubeconfig((d) => {
          cluster(d).server = 'https://127.0.0.1:6443';
        }),
        'Secret s',
        dev,
      ).server,
    ).toBe('https://127.0.0.1:6443');
    const http = loadProviderKubeConfig(
      kubeconfig((d) => {
        cluster(d).server = 'http://127.0.0.1:8080';
      }),
      'Secret s',
      dev,
    );
    // client-node refuses plain http unless TLS verification is off: there is none to do.
    expect(http.getCurrentCluster()?.skipTLSVerify).toBe(true);
    expect(
      loadProviderKubeConfig(
        kubeconfig((d) => {
          cluster(d)['insecure-skip-tls-verify'] = true;
        }),
        'Secret s',
        dev,
      ).getCurrentCluster()?.skipTLSVerify,
    ).toBe(true);
  });

  it('still refuses every file path, exec, proxy, impersonation and basic auth, and link-local', () => {
    for (const mutate of [
      (d: Doc) => {
        first(d.users).user = { 'token-file': '/dev/zero' };
      },
      (d: Doc) => {
        cluster(d)['certificate-authority'] = '/etc/ca.pem';
      },
      (d: Doc) => {
        first(d.users).user = { exec: { command: 'sh' } };
      },
      (d: Doc) => {
        cluster(d)['proxy-url'] = 'http://127.0.0.1:3128';
      },
      (d: Doc) => {
        user(d).as = 'admin';
      },
      (d: Doc) => {
        first(d.users).user = { username: 'a', password: 'b' };
      },
      (d: Doc) => {
        cluster(d).server = 'https://169.254.169.254';
      },
    ]) {
      expect(configError(() => loadProviderKubeConfig(kubeconfig(mutate), 'Secret s', dev)).reason).toBe('KubeconfigInvalid');
    }
  });
});

describe("the hub's own ranges", () => {
  it.each([
    ['a service address', 'https://10.96.0.1:443', /10\.96\.0\.1 is inside the hub's service range \(FLOTILLA_HUB_SERVICE_CIDR\) \(10\.96\.0\.0\/12\)/],
    ['a pod address (IPv6)', 'https://[fd00:10::5]:6443', /inside the hub's pod range/],
  ])('refuses %s', (_name, server, why) => {
    expect(
      configError(() =>
        loadProviderKubeConfig(
          kubeconfig((d) => {
            cluster(d).server = server;
          }),
          'Secret s',
          withHubRanges,
        ),
      ).message,
    ).toMatch(why);
  });
  it('accepts an address outside them', () => {
    expect(
      loadProviderKubeConfig(
        kubeconfig((d) => {
          cluster(d).server = 'https://10.112.0.1';
        }),
        'Secret s',
        withHubRanges,
      ).server,
    ).toBe('https://10.112.0.1');
  });
});

describe('resolveProviderServer', () => {
  const named = (server: string, opts = strict) =>
    loadProviderKubeConfig(
      kubeconfig((d) => {
        cluster(d).server = server;
      }),
      'Secret s',
      opts,
    );
  const lookup = (answers: Record<string, string[]>) => async (host: string) => (answers[host] ?? []).map((address) => ({ address }));

  it('refuses a name that resolves to loopback, naming the name and the address', async () => {
    const e = await asyncConfigError(() =>
      resolveProviderServer(named('https://sneaky.example'), 'Secret s', undefined, lookup({ 'sneaky.example': ['203.0.113.5', '127.0.0.1'] })),
    );
    expect(e).toEqual({
      reason: 'KubeconfigInvalid',
      message:
        'kubeconfig in Secret s has clusters[0].cluster.server "https://sneaky.example", which is not accepted: sneaky.example resolves to 127.0.0.1 is loopback (127.0.0.0/8)',
    });
  });

  it("refuses a name that resolves into the hub's service range", async () => {
    const e = await asyncConfigError(() =>
      resolveProviderServer(
        named('https://kubernetes.default.svc', withHubRanges),
        'Secret s',
        withHubRanges.policy,
        lookup({ 'kubernetes.default.svc': ['10.96.0.1'] }),
      ),
    );
    expect(e.message).toMatch(/resolves to 10\.96\.0\.1 is inside the hub's service range/);
  });

  it('accepts a name that resolves to public addresses, and a name that does not resolve (the connection reports that)', async () => {
    await expect(
      resolveProviderServer(named('https://api.provider.example'), 'Secret s', undefined, lookup({ 'api.provider.example': ['203.0.113.7', '2001:db8::7'] })),
    ).resolves.toBeUndefined();
    await expect(
      resolveProviderServer(named('https://gone.example'), 'Secret s', undefined, async () => {
        throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      }),
    ).resolves.toBeUndefined();
  });

  it('allows a name for loopback under the local-development flag', async () => {
    await expect(
      resolveProviderServer(named('https://localhost.example', dev), 'Secret s', dev.policy, lookup({ 'localhost.example': ['127.0.0.1'] })),
    ).resolves.toBeUndefined();
  });
});

describe('kubeconfigHash', () => {
  it('changes with the content and only with it', () => {
    expect(kubeconfigHash('a')).toBe(kubeconfigHash('a'));
    expect(kubeconfigHash('a')).not.toBe(kubeconfigHash('b'));
  });
});
