// One callback POST, through the URL policy (url-policy.ts) at the moment of sending.
//
//   URL ─▶ callbackUrlProblem (literal hosts) ─▶ http(s).request with lookup = resolve once, vet
//   every address ─▶ connect to a vetted address ─▶ status code only (the body is never read)
//
// The check sits inside the socket's own DNS lookup, so the address that was vetted is the one
// connected to: a name that resolves to a public address for a check and to 127.0.0.1 for the
// connection (DNS rebinding) has no second lookup to win. A fresh connection per POST (no agent)
// means every send is vetted. Redirects are answers, not instructions: a 3xx is returned as is.
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { addressProblem, callbackUrlProblem, urlPort } from './url-policy.ts';
import type { CallbackPolicy } from './url-policy.ts';

/** The URL may not be called: final, never retried. */
export class CallbackRefused extends Error {
  override name = 'CallbackRefused';
  readonly code = 'ECALLBACKREFUSED';
}

type Resolve = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A `lookup` for net.connect that resolves `hostname` once and fails unless every address it
 * resolves to passes the policy (one bad address refuses the name: a round-robin with 127.0.0.1
 * in it is a way in).
 */
export function vettingLookup(host: string, port: number, policy: CallbackPolicy, resolve: Resolve = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...(options.family ? { family: options.family } : {}), all: true }, (err, addresses) => {
      if (err) return void callback(err, '', 0);
      if (addresses.length === 0) return void callback(Object.assign(new Error(`${hostname} resolves to no address`), { code: 'ENOTFOUND' }), '', 0);
      for (const a of addresses) {
        const why = addressProblem(a.address, port, host, policy);
        if (why) return void callback(new CallbackRefused(why) as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
    });
  };
}

export interface PostOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  readonly policy: CallbackPolicy;
  /** For tests: the resolver (default: the system's, as every other client of the operator). */
  readonly resolve?: Resolve;
}

/** POSTs `body` to `url`; resolves with the answer's status code. Throws CallbackRefused when the policy forbids the URL. */
export async function postCallback(url: string, opts: PostOptions): Promise<number> {
  const problem = callbackUrlProblem(url, opts.policy);
  if (problem) throw new CallbackRefused(problem);
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
        lookup: vettingLookup(u.hostname, urlPort(u), opts.policy, opts.resolve),
        agent: false,
        signal: AbortSignal.timeout(opts.timeoutMs),
      },
      (res: IncomingMessage) => {
        // Only the status matters; the body (whatever the receiver says) is never read nor echoed.
        resolve(res.statusCode ?? 0);
        res.destroy();
      },
    );
    req.once('error', (err: Error) =>
      reject(err instanceof CallbackRefused || (err as { code?: string }).code === 'ECALLBACKREFUSED' ? new CallbackRefused(err.message) : err),
    );
    req.end(opts.body);
  });
}
