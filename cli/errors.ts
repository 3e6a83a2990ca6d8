// Errors the CLI prints as one helpful line (and exits 1), instead of a stack trace: what went
// wrong, in the user's terms, and what to do about it.
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface ApiError {
  code?: number;
  body?: unknown;
  message?: string;
  cause?: { code?: string; message?: string };
}

function apiMessage(body: unknown): string | undefined {
  const text = typeof body === 'string' ? body : body && typeof body === 'object' ? JSON.stringify(body) : '';
  try {
    const parsed = JSON.parse(text) as { message?: string };
    return parsed.message;
  } catch {
    return undefined;
  }
}

/** The first error code down the cause chain (fetch wraps ECONNREFUSED in "fetch failed"). */
function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** A Kubernetes client error → a sentence; `what` names the object ("AIJob team-a/train"). */
export function describeKubeError(err: unknown, what: string, server?: string): CliError {
  if (err instanceof CliError) return err;
  const e = err as ApiError;
  const message = apiMessage(e.body);
  switch (e.code) {
    case 404:
      return new CliError(`${what} not found${message && !message.includes('not found') ? `: ${message}` : ''}`);
    case 401:
      return new CliError(`the hub rejected your credentials (401): check --kubeconfig / --context`);
    case 403:
      return new CliError(`not allowed: ${message ?? `you may not access ${what}`}`);
    case 409:
      return new CliError(`${what} already exists; pick another name or delete it first`);
    case 422:
      return new CliError(`the hub rejected ${what}: ${message ?? 'invalid'}`);
    default:
      break;
  }
  if (typeof e.code === 'number') return new CliError(`the hub answered HTTP ${e.code} for ${what}${message ? `: ${message}` : ''}`);
  const inner = (err as { cause?: { message?: string } }).cause?.message;
  const cause = causeCode(err) ?? inner ?? (err instanceof Error ? err.message : String(err));
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|fetch failed|socket hang up/i.test(`${cause} ${e.message ?? ''}`)) {
    return new CliError(`cannot reach the hub apiserver${server ? ` at ${server}` : ''} (${cause}); is it running, and is --kubeconfig right?`);
  }
  return new CliError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}
