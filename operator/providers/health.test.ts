import { ApiException } from '@kubernetes/client-node';
import { connectionErrorVerdict, connectionUsable, inventoryValidVerdict, ProviderConfigError, readyVerdict, reachableVerdict } from './health.ts';
import type { ProviderFacts } from './health.ts';

const server = 'https://127.0.0.1:6443';

/** undici's fetch: a TypeError "fetch failed" whose cause carries the system or TLS error code. */
const fetchFailed = (message: string, code?: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(message), code ? { code } : {}) });

describe('connectionErrorVerdict', () => {
  const cases: { name: string; err: unknown; reason: string; message: RegExp }[] = [
    {
      name: 'a wrong CA is a certificate problem that points at certificate-authority-data',
      err: fetchFailed(
        'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      ),
      reason: 'CertificateInvalid',
      message:
        /^TLS verification of https:\/\/127\.0\.0\.1:6443 failed: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); check certificate-authority-data/,
    },
    {
      name: 'a certificate for another name is a certificate problem',
      err: fetchFailed("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      reason: 'CertificateInvalid',
      message: /ERR_TLS_CERT_ALTNAME_INVALID/,
    },
    {
      name: 'a refused connection says so',
      err: fetchFailed('connect ECONNREFUSED 127.0.0.1:6443', 'ECONNREFUSED'),
      reason: 'ConnectionFailed',
      message: /^cannot connect to https:\/\/127\.0\.0\.1:6443: connection refused \(ECONNREFUSED\)$/,
    },
    {
      name: 'an unknown host says so',
      err: fetchFailed('getaddrinfo ENOTFOUND nope.invalid', 'ENOTFOUND'),
      reason: 'ConnectionFailed',
      message: /host not found \(ENOTFOUND\)/,
    },
    {
      name: 'a port fetch refuses to dial (e.g. 1) is a connection failure, not a crash',
      err: fetchFailed('bad port'),
      reason: 'ConnectionFailed',
      message: /fetch blocks this port/,
    },
    {
      name: 'a connect timeout is a timeout',
      err: fetchFailed('Connect Timeout Error', 'UND_ERR_CONNECT_TIMEOUT'),
      reason: 'Timeout',
      message: /did not answer in time while listing nodes \(UND_ERR_CONNECT_TIMEOUT\)/,
    },
    {
      name: 'the request deadline (AbortSignal.timeout) is a timeout',
      err: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      reason: 'Timeout',
      message: /TimeoutError/,
    },
    {
      name: 'a rejected credential from a typed call is Unauthorized',
      err: new ApiException(401, 'HTTP-Code: 401\nMessage: Unauthorized', undefined, {}),
      reason: 'Unauthorized',
      message: /rejected the credential while listing nodes \(401 Unauthorized\)/,
    },
    {
      name: 'a rejected credential from a watch (statusCode) is Unauthorized',
      err: Object.assign(new Error('Unauthorized'), { statusCode: 401 }),
      reason: 'Unauthorized',
      message: /401/,
    },
    {
      name: "a forbidden list quotes the API server's message",
      err: new ApiException(403, 'Forbidden', JSON.stringify({ kind: 'Status', message: 'nodes is forbidden: User "x" cannot list resource "nodes"' }), {}),
      reason: 'Forbidden',
      message: /\(403 Forbidden\): nodes is forbidden: User "x" cannot list resource "nodes"/,
    },
    {
      name: 'another HTTP status names it',
      err: new ApiException(503, 'Service Unavailable', undefined, {}),
      reason: 'ConnectionFailed',
      message: /answered HTTP 503 while listing nodes/,
    },
    {
      name: 'anything else keeps its message',
      err: new Error('something odd'),
      reason: 'ConnectionFailed',
      message: /while listing nodes: something odd$/,
    },
    {
      name: 'a thrown string is still described',
      err: 'boom',
      reason: 'ConnectionFailed',
      message: /boom$/,
    },
  ];
  it.each(cases)('$name', ({ err, reason, message }) => {
    const verdict = connectionErrorVerdict(err, server, 'listing nodes');
    expect(verdict).toEqual({ status: 'False', reason, message: expect.stringMatching(message) });
  });
});

const healthy: ProviderFacts = {
  server,
  synced: true,
  answered: true,
  namespace: 'flotilla-workloads',
  cordoned: false,
  hasPricedGpus: true,
};

describe('reachableVerdict and readyVerdict', () => {
  const cases: { name: string; facts: Partial<ProviderFacts>; reachable: string; ready: string; readyMessage?: RegExp }[] = [
    { name: 'a synced connection with priced GPUs is Ready', facts: {}, reachable: 'True Connected', ready: 'True Ready' },
    {
      name: 'a missing Secret makes both False and Ready names the Secret problem',
      facts: { configError: new ProviderConfigError('SecretNotFound', 'Secret ns/s not found'), synced: false, answered: false },
      reachable: 'False SecretNotFound',
      ready: 'False Unreachable',
      readyMessage: /^SecretNotFound: Secret ns\/s not found$/,
    },
    {
      name: 'before the first answer Reachable is Unknown and Ready waits for the inventory',
      facts: { synced: false, answered: false },
      reachable: 'Unknown Connecting',
      ready: 'False InventoryPending',
    },
    {
      name: "a failed watch after a good start is Unreachable with the error's reason",
      facts: { synced: false, lastError: { error: fetchFailed('refused', 'ECONNREFUSED'), action: 'listing and watching nodes' } },
      reachable: 'False ConnectionFailed',
      ready: 'False Unreachable',
      readyMessage: /^ConnectionFailed: cannot connect/,
    },
    {
      name: 'a reachable provider whose informers have not synced is pending',
      facts: { synced: false },
      reachable: 'True Connected',
      ready: 'False InventoryPending',
    },
    { name: 'a missing namespace keeps it from Ready', facts: { namespaceMissing: true }, reachable: 'True Connected', ready: 'False NamespaceMissing' },
    { name: 'a cordoned provider is not Ready', facts: { cordoned: true }, reachable: 'True Connected', ready: 'False Cordoned' },
    { name: 'no priced GPU on a schedulable node is not Ready', facts: { hasPricedGpus: false }, reachable: 'True Connected', ready: 'False NoGPUs' },
    {
      name: 'unreachable wins over cordoned',
      facts: { cordoned: true, lastError: { error: fetchFailed('x', 'ECONNRESET'), action: 'a' } },
      reachable: 'False ConnectionFailed',
      ready: 'False Unreachable',
    },
  ];
  it.each(cases)('$name', ({ facts, reachable, ready, readyMessage }) => {
    const f = { ...healthy, ...facts };
    const r = reachableVerdict(f);
    const y = readyVerdict(f);
    expect(`${r.status} ${r.reason}`).toBe(reachable);
    expect(`${y.status} ${y.reason}`).toBe(ready);
    if (readyMessage) expect(y.message).toMatch(readyMessage);
  });

  it('leaves cordon and missing products to placement: the connection is still usable', () => {
    expect(connectionUsable({ ...healthy, cordoned: true, hasPricedGpus: false })).toBeUndefined();
    expect(connectionUsable({ ...healthy, synced: false })?.reason).toBe('InventoryPending');
  });
});

describe('bounded input and refused kubeconfigs', () => {
  it('a refused kubeconfig is Ready=False KubeconfigInvalid with the same message (not an outage)', () => {
    const f = {
      ...healthy,
      configError: new ProviderConfigError('KubeconfigInvalid', 'kubeconfig in Secret s has users[0].user.token-file, which is not accepted'),
      synced: false,
      answered: false,
    };
    expect(reachableVerdict(f)).toMatchObject({ status: 'False', reason: 'KubeconfigInvalid' });
    expect(readyVerdict(f)).toEqual({
      status: 'False',
      reason: 'KubeconfigInvalid',
      message: 'kubeconfig in Secret s has users[0].user.token-file, which is not accepted',
    });
  });

  it("a response over the limit (in fetch's cause chain) is ResponseTooLarge, and Ready says Unreachable", () => {
    const cause = Object.assign(new Error('provider p: GET /api/v1/nodes: the response exceeded the limit of 64 MiB'), { code: 'FLOTILLA_RESPONSE_TOO_LARGE' });
    const err = new TypeError('terminated', { cause });
    const v = connectionErrorVerdict(err, 'https://p', 'listing and watching nodes');
    expect(v).toEqual({
      status: 'False',
      reason: 'ResponseTooLarge',
      message:
        'https://p sent more than the operator reads while listing and watching nodes: provider p: GET /api/v1/nodes: the response exceeded the limit of 64 MiB; the provider is not used until it answers within the limits',
    });
    expect(readyVerdict({ ...healthy, lastError: { error: err, action: 'x' } })).toMatchObject({ status: 'False', reason: 'Unreachable' });
  });

  it('too many objects is ResponseTooLarge too', () => {
    const err = Object.assign(new Error('/api/v1/nodes holds more than 20000 objects, the most the operator keeps of one collection'), {
      code: 'FLOTILLA_TOO_MANY_OBJECTS',
    });
    expect(connectionErrorVerdict(err, 'https://p', 'listing nodes')).toMatchObject({
      reason: 'ResponseTooLarge',
      message: expect.stringMatching(/more than 20000 objects/),
    });
  });

  it('InventoryValid names the skipped objects (a few), counts the rest and the nameless', () => {
    expect(inventoryValidVerdict([], 0)).toMatchObject({ status: 'True', reason: 'Valid' });
    const one = inventoryValidVerdict([{ kind: 'node', name: 'gpu-a-0', problem: 'spec.taints is not a list' }], 0);
    expect(one).toEqual({
      status: 'False',
      reason: 'MalformedObjects',
      message: "skipped 1 malformed object: node gpu-a-0 (spec.taints is not a list); placement uses the provider's other nodes",
    });
    const many = inventoryValidVerdict(
      Array.from({ length: 8 }, (_, i) => ({ kind: 'pod' as const, name: `p${i}`, problem: 'x' })),
      2,
    );
    expect(many.message).toMatch(/^skipped 8 malformed objects: pod p0 \(x\), .*pod p4 \(x\), and 3 more; 2 objects without a name dropped since connecting/);
    const long = inventoryValidVerdict([{ kind: 'node', name: 'n'.repeat(100_000), problem: 'x' }], 0);
    expect(long.message.length).toBeLessThan(600);
  });
});
