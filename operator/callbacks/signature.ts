// Callback signatures as the Standard Webhooks specification defines them (standardwebhooks.com),
// so a receiver can verify them with any of its libraries:
//
//   webhook-id:        <job uid>.<phase>   (the same on every retry: receivers dedupe on it)
//   webhook-timestamp: <unix seconds>
//   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
//
// The key is the secret's bytes: a "whsec_<base64>" secret is decoded, any other string is taken
// as UTF-8 (docs/operator.md, "Callbacks").
//
// Every namespace signs with its own key, derived from one operator master secret with HKDF-SHA256
// (info = the namespace): a tenant who holds its key can verify its callbacks but not forge
// another tenant's, and the operator stores nothing per namespace (the dispatcher publishes each
// key in the namespace's Secret flotilla-callback-key for the tenant to read).
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export function secretKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

const KEY_SALT = 'flotilla.dev/callback-signing/v1';

/** The namespace's signing secret ("whsec_<base64 of 32 bytes>") under the operator's master secret. */
export function namespaceKey(master: string, namespace: string): string {
  const key = Buffer.from(hkdfSync('sha256', secretKey(master), KEY_SALT, `namespace:${namespace}`, 32));
  return `whsec_${key.toString('base64')}`;
}

export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

export function signedHeaders(secret: string, id: string, timestampSeconds: number, body: string): SignedHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': sign(secret, id, timestampSeconds, body) };
}

/**
 * What a receiver does (and what the tests do): recompute and compare in constant time; reject
 * timestamps further than `toleranceSeconds` from now (replays).
 */
export function verify(secret: string, headers: Record<string, string | undefined>, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const id = headers['webhook-id'];
  const ts = Number(headers['webhook-timestamp']);
  const given = headers['webhook-signature'];
  if (!id || !given || !Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(secret, id, ts, body));
  return given.split(' ').some((candidate) => {
    const c = Buffer.from(candidate);
    return c.length === expected.length && timingSafeEqual(c, expected);
  });
}
