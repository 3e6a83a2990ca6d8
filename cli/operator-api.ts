// How a CLI command reaches the operator's HTTP API (docs/operator.md, "HTTP endpoints"), for what
// only the operator can answer (replicas' logs, read through its provider connections):
//
//   URL    --operator <url>, else $FLOTILLA_OPERATOR_URL
//   token  --token <token>, else $FLOTILLA_TOKEN, else the bearer token of the kubeconfig's user
//          (a static token, or what an exec / auth-provider plugin yields)
//
// The operator authenticates the token with the hub (TokenReview) and authorizes each request as
// the user (SubjectAccessReview), so the CLI sends the user's own identity, never another.
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { CliError } from './errors.ts';
import type { Hub } from './kube.ts';

export interface OperatorFlags {
  readonly operator?: string;
  readonly token?: string;
}

export function operatorUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag ?? env.FLOTILLA_OPERATOR_URL;
  if (!url)
    throw new CliError(
      "where is the operator's API? pass --operator <url> (e.g. http://127.0.0.1:8080 after `kubectl -n <operator namespace> port-forward svc/flotilla-operator 8080`) or set FLOTILLA_OPERATOR_URL",
    );
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(`--operator ${url} is not an http(s) URL`);
  }
  return url.replace(/\/+$/, '');
}

/** The bearer token to send: flag, env, else the kubeconfig user's (undefined when it has none, e.g. a client certificate). */
export async function bearerTokenFor(hub: Hub | undefined, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const token = flag ?? env.FLOTILLA_TOKEN;
  if (token) return token;
  if (hub) {
    const ctx = new RequestContext(hub.server, HttpMethod.GET);
    try {
      await hub.kc.applySecurityAuthentication(ctx);
    } catch (err) {
      throw new CliError(`could not get your credentials from the kubeconfig: ${err instanceof Error ? err.message : String(err)}`);
    }
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.getHeaders().Authorization ?? ctx.getHeaders().authorization ?? '');
    if (m?.[1]) return m[1];
  }
  throw new CliError(
    "the operator's API needs a bearer token and your kubeconfig user has none (a client certificate?): pass --token <token> or set FLOTILLA_TOKEN (e.g. `kubectl create token <serviceaccount>`)",
  );
}

/** The operator's JSON error of a non-2xx answer as a CLI error. */
export async function operatorError(res: Response, what: string): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let message = text.trim().slice(0, 1000);
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? message;
  } catch {
    /* not JSON: the text as is */
  }
  switch (res.status) {
    case 401:
      return new CliError(`the operator did not accept your token (401): ${message}`);
    case 403:
      return new CliError(`not allowed: ${message}`);
    case 429:
      return new CliError(`the operator is busy (429): ${message}; retry in ${res.headers.get('retry-after') ?? 'a few'} s`);
    default:
      return new CliError(`${what}: ${message || `HTTP ${res.status}`} (HTTP ${res.status})`);
  }
}
