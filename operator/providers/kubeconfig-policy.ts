// What a provider's kubeconfig may say: an allow-list, not a deny-list. The kubeconfig comes from the
// provider, a business Flotilla does not trust, and client-node acts on everything in it: a
// `token-file` is read from the operator's disk and sent to the provider as its Bearer token (the
// settlement key, or /dev/zero until the heap is gone), `exec` runs a command, `proxy-url` routes
// through a host of the provider's choice, `as` impersonates, `username`/`password` send basic auth.
// So the parsed YAML is checked here, key by key, before client-node sees any of it, and only the
// fields below are handed on:
//
//   one cluster   server (https), certificate-authority-data, tls-server-name
//   one user      token, or client-certificate-data + client-key-data
//   one context   cluster, user (namespace is ignored)
//
// Plain http, insecure-skip-tls-verify and a loopback server are allowed only with `allowInsecure`
// (FLOTILLA_ALLOW_INSECURE_PROVIDERS, local development; the hub chart never sets it). Pure: a
// parsed document in, the vetted connection settings or the refused key and why out.
import { forbiddenAddress } from './address-policy.ts';
import type { NamedRange } from './address-policy.ts';

export interface VettedKubeconfig {
  readonly contextName: string;
  readonly cluster: {
    readonly name: string;
    readonly server: string;
    readonly caData?: string;
    readonly tlsServerName?: string;
    readonly skipTLSVerify: boolean;
  };
  readonly user: {
    readonly name: string;
    readonly token?: string;
    readonly certData?: string;
    readonly keyData?: string;
  };
}

export interface KubeconfigRefusal {
  /** The refused key as a path in the document, e.g. `users[0].user.token-file`. */
  readonly key: string;
  readonly message: string;
}

export type KubeconfigVerdict = { readonly ok: true; readonly config: VettedKubeconfig } | { readonly ok: false; readonly refusal: KubeconfigRefusal };

export interface KubeconfigPolicy {
  /** Plain http, insecure-skip-tls-verify and loopback servers (local development only). */
  readonly allowInsecure: boolean;
  /** The hub's own service and pod ranges: never a provider's API server. */
  readonly hubRanges: readonly NamedRange[];
}

/** The policy of a production hub: nothing insecure, no hub ranges configured. */
export const STRICT_KUBECONFIG_POLICY: KubeconfigPolicy = { allowInsecure: false, hubRanges: [] };

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'clusters', 'contexts', 'users', 'current-context', 'preferences']);
const CLUSTER_KEYS = new Set(['server', 'certificate-authority-data', 'tls-server-name', 'insecure-skip-tls-verify']);
const USER_KEYS = new Set(['token', 'client-certificate-data', 'client-key-data']);
const CONTEXT_KEYS = new Set(['cluster', 'user', 'namespace']);

/** Why a key that is not on the allow-list is dangerous, for the keys providers are likely to try. */
const WHY: Readonly<Record<string, string>> = {
  'token-file': 'it makes the operator read a file of its own and send it as the token',
  tokenFile: 'it makes the operator read a file of its own and send it as the token',
  'client-certificate': 'it makes the operator read a file of its own; inline the certificate as client-certificate-data',
  'client-key': 'it makes the operator read a file of its own; inline the key as client-key-data',
  'certificate-authority': 'it makes the operator read a file of its own; inline the CA as certificate-authority-data',
  exec: "it runs a command in the operator's process; use a token or a client certificate",
  'auth-provider': 'it makes the operator call an identity provider; use a token or a client certificate',
  username: 'basic authentication is not accepted; use a token or a client certificate',
  password: 'basic authentication is not accepted; use a token or a client certificate',
  'proxy-url': "it routes the operator's requests through a host of the kubeconfig's choosing",
  as: 'impersonation is not accepted: the credential itself must hold the permissions',
  'as-uid': 'impersonation is not accepted: the credential itself must hold the permissions',
  'as-groups': 'impersonation is not accepted: the credential itself must hold the permissions',
  'as-user-extra': 'impersonation is not accepted: the credential itself must hold the permissions',
  'disable-compression': 'the operator decides compression itself',
  extensions: 'extensions are not read',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class Refused extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

function refuseKey(path: string, key: string, allowed: ReadonlySet<string>): never {
  const why = WHY[key] ?? `only ${[...allowed].join(', ')} are accepted ${path ? 'here' : 'at the top level'}`;
  const at = path ? `${path}.${key}` : key;
  throw new Refused(at, `has ${at}, which is not accepted: ${why}`);
}

function onlyKeys(obj: Record<string, unknown>, path: string, allowed: ReadonlySet<string>): void {
  for (const key of Object.keys(obj)) if (!allowed.has(key)) refuseKey(path, key, allowed);
}

function stringAt(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new Refused(`${path}.${key}`, `has ${path}.${key} that is not a non-empty string`);
  return v;
}

/** The one entry of a named list (clusters, users, contexts): `{ name, <inner>: {…} }`. */
function single(
  doc: Record<string, unknown>,
  list: 'clusters' | 'users' | 'contexts',
  inner: string,
): { name: string; body: Record<string, unknown>; path: string } {
  const items = doc[list];
  if (!Array.isArray(items) || items.length !== 1) {
    const n = Array.isArray(items) ? items.length : 0;
    throw new Refused(list, `has ${n} ${list}; exactly one is accepted`);
  }
  const item: unknown = items[0];
  const path = `${list}[0]`;
  if (!isRecord(item)) throw new Refused(path, `has ${path} that is not a mapping`);
  onlyKeys(item, path, new Set(['name', inner]));
  const name = stringAt(item, 'name', path);
  if (!name) throw new Refused(`${path}.name`, `has ${path} without a name`);
  const body = item[inner];
  if (!isRecord(body)) throw new Refused(`${path}.${inner}`, `has ${path} without a ${inner} mapping`);
  return { name, body, path: `${path}.${inner}` };
}

function vet(doc: unknown, policy: KubeconfigPolicy): VettedKubeconfig {
  if (!isRecord(doc)) throw new Refused('', 'is not a mapping (a kubeconfig document)');
  onlyKeys(doc, '', TOP_LEVEL);
  const prefs = doc.preferences;
  if (prefs !== undefined && prefs !== null && !(isRecord(prefs) && Object.keys(prefs).length === 0)) {
    throw new Refused('preferences', 'has preferences, which are not accepted (only an empty mapping)');
  }
  const cluster = single(doc, 'clusters', 'cluster');
  const user = single(doc, 'users', 'user');
  const context = single(doc, 'contexts', 'context');
  onlyKeys(cluster.body, cluster.path, CLUSTER_KEYS);
  onlyKeys(user.body, user.path, USER_KEYS);
  onlyKeys(context.body, context.path, CONTEXT_KEYS);

  const current = doc['current-context'];
  if (current === undefined || current === null || current === '') throw new Refused('current-context', 'has no current-context');
  if (current !== context.name) throw new Refused('current-context', `names current-context "${String(current)}", which it does not define`);
  const clusterRef = stringAt(context.body, 'cluster', context.path);
  if (clusterRef !== cluster.name) {
    throw new Refused(`${context.path}.cluster`, `context "${context.name}" names cluster "${clusterRef ?? ''}", which it does not define`);
  }
  const userRef = stringAt(context.body, 'user', context.path);
  if (userRef !== user.name) {
    throw new Refused(`${context.path}.user`, `context "${context.name}" names user "${userRef ?? ''}", which it does not define`);
  }

  const server = stringAt(cluster.body, 'server', cluster.path);
  if (!server) throw new Refused(`${cluster.path}.server`, `cluster "${cluster.name}" has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server "${server}", which is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server "${server}": only https is accepted`);
  if (url.protocol === 'http:' && !policy.allowInsecure) {
    throw new Refused(
      `${cluster.path}.server`,
      `has ${cluster.path}.server "${server}": plain http is not accepted (only https; FLOTILLA_ALLOW_INSECURE_PROVIDERS allows it for local development)`,
    );
  }
  if (url.username || url.password) throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server with credentials in it, which is not accepted`);
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server "${server}" with a path, query or fragment; only scheme://host:port is accepted`);
  }
  const skip = cluster.body['insecure-skip-tls-verify'];
  if (skip !== undefined && skip !== null && typeof skip !== 'boolean') {
    throw new Refused(`${cluster.path}.insecure-skip-tls-verify`, `has ${cluster.path}.insecure-skip-tls-verify that is not a boolean`);
  }
  if (skip === true && !policy.allowInsecure) {
    throw new Refused(
      `${cluster.path}.insecure-skip-tls-verify`,
      `has ${cluster.path}.insecure-skip-tls-verify: true, which is not accepted: the API server's certificate must verify against certificate-authority-data (FLOTILLA_ALLOW_INSECURE_PROVIDERS allows it for local development)`,
    );
  }
  const host = url.hostname;
  const forbidden = forbiddenAddress(host, { hubRanges: policy.hubRanges, allowLoopback: policy.allowInsecure });
  if (forbidden) throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server "${server}", which is not accepted: ${forbidden}`);
  if (!policy.allowInsecure && host.toLowerCase().replace(/\.$/, '') === 'localhost') {
    throw new Refused(`${cluster.path}.server`, `has ${cluster.path}.server "${server}", which is not accepted: localhost is loopback`);
  }

  const caData = stringAt(cluster.body, 'certificate-authority-data', cluster.path);
  const tlsServerName = stringAt(cluster.body, 'tls-server-name', cluster.path);
  const token = stringAt(user.body, 'token', user.path);
  const certData = stringAt(user.body, 'client-certificate-data', user.path);
  const keyData = stringAt(user.body, 'client-key-data', user.path);
  if ((certData === undefined) !== (keyData === undefined)) {
    const missing = certData === undefined ? 'client-certificate-data' : 'client-key-data';
    throw new Refused(`${user.path}.${missing}`, `user "${user.name}" has a client ${certData === undefined ? 'key' : 'certificate'} without ${missing}`);
  }
  if (token === undefined && certData === undefined) {
    throw new Refused(user.path, `user "${user.name}" has no credential: set token, or client-certificate-data and client-key-data`);
  }
  return {
    contextName: context.name,
    cluster: {
      name: cluster.name,
      server,
      ...(caData !== undefined ? { caData } : {}),
      ...(tlsServerName !== undefined ? { tlsServerName } : {}),
      // client-node refuses plain http unless TLS verification is off: there is no TLS to verify.
      skipTLSVerify: skip === true || url.protocol === 'http:',
    },
    user: {
      name: user.name,
      ...(token !== undefined ? { token } : {}),
      ...(certData !== undefined ? { certData } : {}),
      ...(keyData !== undefined ? { keyData } : {}),
    },
  };
}

/** Checks a parsed kubeconfig document against the allow-list. */
export function vetKubeconfig(doc: unknown, policy: KubeconfigPolicy): KubeconfigVerdict {
  try {
    return { ok: true, config: vet(doc, policy) };
  } catch (err) {
    if (err instanceof Refused) return { ok: false, refusal: { key: err.key, message: err.message } };
    throw err;
  }
}
