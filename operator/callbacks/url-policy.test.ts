import { addressClass, addressProblem, callbackPolicyOf, callbackUrlProblem, embeddedIpv4, parseAllowList, parseDenyList } from './url-policy.ts';
import type { CallbackPolicy } from './url-policy.ts';
import { vettingLookup } from './send.ts';

const POLICY: CallbackPolicy = callbackPolicyOf({
  allow: parseAllowList('127.0.0.1:18080, hooks.corp.example, 10.20.0.0/16, [::1]:18081'),
  deny: parseDenyList('100.200.0.0/16'),
  kuboApi: 'http://kubo.flotilla-system:5001',
  reportUrl: 'http://203.0.113.9:8081',
  ownPorts: [8080, 9443],
  localAddresses: ['127.0.0.1', '::1', '192.168.1.5'],
});

describe('callbackUrlProblem: the URL alone (admission and again before each send)', () => {
  const refused: Array<[string, string, RegExp]> = [
    ['loopback', 'http://127.0.0.1:9000/hook', /127\.0\.0\.1 is loopback/],
    ['cloud metadata (link-local)', 'http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is link-local/],
    ['a decimal spelling of loopback', 'http://2130706433/', /127\.0\.0\.1 is loopback/],
    ['an octal spelling of loopback', 'http://0177.0.0.1/', /127\.0\.0\.1 is loopback/],
    ['a hex spelling of loopback', 'http://0x7f000001/', /127\.0\.0\.1 is loopback/],
    ['a short spelling of loopback', 'http://127.1/', /127\.0\.0\.1 is loopback/],
    ['a percent-encoded spelling of loopback', 'http://%31%32%37.0.0.1/', /127\.0\.0\.1 is loopback/],
    ['a decimal spelling of the metadata address', 'http://2852039166/', /169\.254\.169\.254 is link-local/],
    ['IPv6 loopback', 'http://[::1]/', /::1 is loopback/],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/', /IPv4-mapped form of 127\.0\.0\.1: loopback/],
    ['IPv4-mapped metadata, hex form', 'http://[::ffff:a9fe:a9fe]/', /IPv4-mapped form of 169\.254\.169\.254/],
    ['NAT64 of a private address', 'http://[64:ff9b::10.1.2.3]/', /NAT64 form of 10\.1\.2\.3: private/],
    ['6to4 of loopback', 'http://[2002:7f00:1::1]/', /6to4 form of 127\.0\.0\.1/],
    ['unspecified', 'http://0.0.0.0/', /unspecified/],
    ['unspecified, "0"', 'http://0/', /unspecified/],
    ['IPv6 unspecified', 'http://[::]/', /unspecified/],
    ['private 10/8', 'http://10.0.0.7/', /private/],
    ['private 172.16/12', 'http://172.20.1.1/', /private/],
    ['private 192.168/16', 'https://192.168.0.10/', /private/],
    ['carrier-grade NAT', 'http://100.64.0.1/', /carrier-grade NAT/],
    ['multicast', 'http://224.0.0.1/', /multicast/],
    ['broadcast', 'http://255.255.255.255/', /reserved/],
    ['IPv6 unique local', 'http://[fd00::1]/', /unique local/],
    ['IPv6 link-local', 'http://[fe80::1]/', /link-local/],
    ['IPv6 multicast', 'http://[ff02::1]/', /multicast/],
    ["the hub's service/pod range", 'http://100.200.3.4/', /service\/pod range 100\.200\.0\.0\/16/],
    ['localhost', 'http://localhost:9000/', /localhost is loopback/],
    ["localhost on the operator's own port", 'http://localhost:8080/', /the operator's own listener/],
    ['LOCALHOST. (case, trailing dot)', 'http://LOCALHOST./', /localhost is loopback/],
    ['a .localhost name', 'http://evil.localhost/', /evil\.localhost is loopback/],
    ['credentials', 'https://user:pw@hooks.example.org/', /must not carry credentials/],
    ['a user name alone', 'https://user@hooks.example.org/', /must not carry credentials/],
    ["the hub's Kubo API by name", 'http://kubo.flotilla-system:5001/api/v0/pin/add', /the hub's Kubo API/],
    ["the operator's report endpoint (public IP, allow-list or not)", 'http://203.0.113.9:8081/report', /checkpoint-report endpoint/],
    ["the operator's own listener on an allow-listed loopback host", 'http://[::1]:8080/', /operator's own listener/],
    ['ftp', 'ftp://example.org/x', /http or https/],
    ['not a URL', 'hooks/done', /not a URL/],
  ];
  it.each(refused)('refuses %s', (_name, url, why) => {
    expect(callbackUrlProblem(url, POLICY)).toMatch(why);
  });

  const allowed: Array<[string, string]> = [
    ['a public https URL', 'https://hooks.example.org/flotilla'],
    ['a public IP', 'http://8.8.8.8/hook'],
    ['a public IPv6', 'http://[2606:4700::1111]/hook'],
    ['a name (judged again by its addresses at send time)', 'http://hooks.internal:8080/done'],
    ['an allow-listed loopback port', 'http://127.0.0.1:18080/hook'],
    ['an allow-listed host name', 'http://hooks.corp.example/x'],
    ['an allow-listed CIDR', 'http://10.20.3.4:9000/x'],
    ['an allow-listed IPv6 loopback port', 'http://[::1]:18081/x'],
  ];
  it.each(allowed)('admits %s', (_name, url) => {
    expect(callbackUrlProblem(url, POLICY)).toBeUndefined();
  });

  it("an allow-listed port does not open the same host's other ports", () => {
    expect(callbackUrlProblem('http://127.0.0.1:18081/', POLICY)).toMatch(/loopback/);
  });
});

describe('addressProblem: each address a name resolves to, at connect time', () => {
  it.each([
    ['127.0.0.1', 80, 'rebind.example', /rebind\.example resolves to 127\.0\.0\.1, loopback/],
    ['::ffff:169.254.169.254', 80, 'meta.example', /IPv4-mapped form of 169\.254\.169\.254/],
    ['192.168.1.5', 9443, 'me.example', /the operator's own listener/],
    ['10.9.9.9', 80, 'svc.example', /private/],
  ] as const)('refuses %s:%s for %s', (ip, port, host, why) => {
    expect(addressProblem(ip, port, host, POLICY)).toMatch(why);
  });
  it('connects to public addresses, and to allow-listed ones', () => {
    expect(addressProblem('93.184.215.14', 443, 'hooks.example.org', POLICY)).toBeUndefined();
    expect(addressProblem('10.0.0.1', 443, 'hooks.corp.example', POLICY)).toBeUndefined();
    expect(addressProblem('10.20.0.9', 443, 'anything.example', POLICY)).toBeUndefined();
  });
});

describe('vettingLookup: resolves once and hands the socket only vetted addresses', () => {
  type Addr = { address: string; family: number };
  const resolver = (answers: Addr[]) => {
    let calls = 0;
    const resolve = (_host: string, _opts: unknown, cb: (err: null, a: Addr[]) => void) => {
      calls++;
      cb(null, answers);
    };
    return { resolve, calls: () => calls };
  };
  const run = (answers: Addr[], all: boolean) =>
    new Promise<{ err: Error | null; result: unknown; calls: number }>((done) => {
      const r = resolver(answers);
      const lookup = vettingLookup('hooks.example.org', 443, POLICY, r.resolve as never);
      lookup(
        'hooks.example.org',
        { all } as never,
        ((err: Error | null, address: unknown, family?: unknown) => done({ err, result: all ? address : [address, family], calls: r.calls() })) as never,
      );
    });

  it('passes a public address on, from one resolution', async () => {
    expect(await run([{ address: '93.184.215.14', family: 4 }], false)).toEqual({ err: null, result: ['93.184.215.14', 4], calls: 1 });
    expect(
      (
        await run(
          [
            { address: '93.184.215.14', family: 4 },
            { address: '2606:2800::1', family: 6 },
          ],
          true,
        )
      ).result,
    ).toHaveLength(2);
  });
  it('refuses a name when any of its addresses is internal (a round-robin with loopback in it)', async () => {
    const r = await run(
      [
        { address: '93.184.215.14', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
      true,
    );
    expect(r.err?.name).toBe('CallbackRefused');
    expect(r.err?.message).toMatch(/hooks\.example\.org resolves to 127\.0\.0\.1, loopback/);
  });
});

describe('configuration', () => {
  it('reads the allow-list forms and rejects what it cannot read', () => {
    expect(parseAllowList('a.example, b.example:8443, 10.0.0.0/8, [fd00::1]:80, fd00::2').map((e) => [e.host, e.port, e.cidr?.prefix])).toEqual([
      ['a.example', undefined, undefined],
      ['b.example', 8443, undefined],
      [undefined, undefined, 8],
      ['fd00::1', 80, undefined],
      ['fd00::2', undefined, undefined],
    ]);
    expect(() => parseAllowList('http://x/y')).toThrow(/FLOTILLA_CALLBACK_ALLOW_HOSTS/);
    expect(() => parseAllowList('10.0.0.0/99')).toThrow(/not a CIDR/);
    expect(() => parseDenyList('nonsense/8')).toThrow(/FLOTILLA_HUB_SERVICE_CIDR/);
    expect(parseAllowList(undefined)).toEqual([]);
  });
  it('finds the IPv4 address in mapped, compatible, NAT64 and 6to4 forms', () => {
    expect(embeddedIpv4('::ffff:7f00:1')).toEqual({ ip: '127.0.0.1', form: 'IPv4-mapped' });
    expect(embeddedIpv4('::a00:1')).toEqual({ ip: '10.0.0.1', form: 'IPv4-compatible' });
    expect(embeddedIpv4('64:ff9b::a9fe:a9fe')).toEqual({ ip: '169.254.169.254', form: 'NAT64' });
    expect(embeddedIpv4('2002:c0a8:101::1')).toEqual({ ip: '192.168.1.1', form: '6to4' });
    expect(embeddedIpv4('2606:4700::1111')).toBeUndefined();
    expect(addressClass('::ffff:8.8.8.8')).toBeUndefined();
  });
});
