// How healthy a provider connection is, as the GPUProvider conditions Reachable and Ready say it.
// Pure: an error (or the absence of one) and a few facts in, reason and message out. Every failure
// mode gets its own reason (operator/api/conditions.ts) and a message that names what to fix.
//
//   Secret → kubeconfig → TLS → credential → list/watch nodes and pods → synced → namespace → spec
//   SecretNotFound  KubeconfigInvalid  CertificateInvalid  Unauthorized  Forbidden  InventoryPending …
//   SecretKeyMissing                   ConnectionFailed / Timeout       ResponseTooLarge
import type { ConditionStatus, GPUProviderConditionReason } from '../api/conditions.ts';
import { TOO_MANY_OBJECTS } from '../runtime/resilient-informer.ts';
import { boundText, TEXT_BOUNDS } from '../core/bounded-text.ts';
import type { MalformedObject } from '../core/inventory.ts';
import { RESPONSE_TOO_LARGE } from './bounded-response.ts';

export interface ConditionVerdict {
  readonly status: ConditionStatus;
  readonly reason: GPUProviderConditionReason;
  readonly message: string;
}

/** Why a provider cannot even be dialled: its Secret or kubeconfig. Thrown while building the client. */
export class ProviderConfigError extends Error {
  override readonly name = 'ProviderConfigError';
  readonly reason: 'SecretNotFound' | 'SecretKeyMissing' | 'KubeconfigInvalid';
  constructor(reason: ProviderConfigError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

interface ErrorFacts {
  readonly httpStatus?: number;
  readonly codes: readonly string[];
  readonly names: readonly string[];
  readonly messages: readonly string[];
  readonly serverMessage?: string;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** The HTTP status, error codes, names and messages along an error's cause chain. */
function factsOf(err: unknown): ErrorFacts {
  const codes: string[] = [];
  const names: string[] = [];
  const messages: string[] = [];
  let httpStatus: number | undefined;
  let serverMessage: string | undefined;
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== undefined && e !== null; depth += 1) {
    const r = record(e);
    if (!r) {
      messages.push(String(e));
      break;
    }
    // ApiException carries the HTTP status as a numeric `code`, client-node's Watch as `statusCode`.
    for (const k of ['code', 'statusCode']) {
      const v = r[k];
      if (typeof v === 'number' && v >= 100 && v < 600) httpStatus ??= v;
      else if (typeof v === 'string') codes.push(v);
    }
    if (typeof r.name === 'string') names.push(r.name);
    if (typeof r.message === 'string') messages.push(r.message);
    serverMessage ??= statusMessage(r.body);
    e = r.cause;
  }
  return { ...(httpStatus !== undefined ? { httpStatus } : {}), codes, names, messages, ...(serverMessage ? { serverMessage } : {}) };
}

/** The message of a metav1.Status body (object or JSON text), when there is one. */
function statusMessage(body: unknown): string | undefined {
  let b: unknown = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b);
    } catch {
      return undefined;
    }
  }
  const m = record(b)?.message;
  return typeof m === 'string' && m !== '' ? m : undefined;
}

const tlsCode = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/;
const timeoutCodes = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const networkWords: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
};

/** The first line of a message, without Node's advice about system CAs. */
function tidy(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/; if the root CA is installed locally.*$/, '').trim();
}

/**
 * Reachable=False for an error of a request to the provider's API server. `server` is the URL the
 * kubeconfig names; `action` says what was being done ("listing nodes").
 */
export function connectionErrorVerdict(err: unknown, server: string, action: string): ConditionVerdict {
  const f = factsOf(err);
  const detail = f.serverMessage ? `: ${tidy(f.serverMessage)}` : '';
  const no = (reason: GPUProviderConditionReason, message: string): ConditionVerdict => ({ status: 'False', reason, message });
  if (f.httpStatus === 401) {
    return no(
      'Unauthorized',
      `${server} rejected the credential while ${action} (401 Unauthorized)${detail}; check the token or client certificate in the kubeconfig`,
    );
  }
  if (f.httpStatus === 403) {
    return no('Forbidden', `the credential may not do this: ${action} (403 Forbidden)${detail}; the provider's Role must allow list and watch`);
  }
  if (f.httpStatus !== undefined) {
    return no('ConnectionFailed', `${server} answered HTTP ${f.httpStatus} while ${action}${detail}`);
  }
  if (f.codes.includes(RESPONSE_TOO_LARGE) || f.codes.includes(TOO_MANY_OBJECTS)) {
    const why = f.messages.find((m) => m !== '' && m !== 'terminated' && m !== 'fetch failed') ?? "a response over the operator's limit";
    return no(
      'ResponseTooLarge',
      `${server} sent more than the operator reads while ${action}: ${tidy(why)}; the provider is not used until it answers within the limits`,
    );
  }
  if (f.codes.includes('FLOTILLA_ADDRESS_REFUSED')) {
    const why = f.messages.find((m) => m.includes(' resolves to ')) ?? 'a refused address';
    return no('ConnectionFailed', `refused to connect to ${server}: ${tidy(why)} (docs/security.md, provider credentials)`);
  }
  const tls = f.codes.find((c) => tlsCode.test(c));
  if (tls) {
    const why = tidy(f.messages[f.messages.length - 1] ?? tls);
    return no(
      'CertificateInvalid',
      `TLS verification of ${server} failed: ${why} (${tls}); check certificate-authority-data and the server name in the kubeconfig`,
    );
  }
  const timedOut = f.codes.find((c) => timeoutCodes.has(c)) ?? f.names.find((n) => n === 'TimeoutError');
  if (timedOut) return no('Timeout', `${server} did not answer in time while ${action} (${timedOut})`);
  const net = f.codes.find((c) => networkWords[c] !== undefined);
  if (net) return no('ConnectionFailed', `cannot connect to ${server}: ${networkWords[net]} (${net})`);
  // fetch refuses some ports outright (1, 22, 25, …): the request never leaves the process.
  if (f.messages.some((m) => m === 'bad port')) return no('ConnectionFailed', `cannot connect to ${server}: fetch blocks this port ("bad port")`);
  const message =
    f.messages
      .map(tidy)
      .filter((m) => m !== '')
      .join(': ') || 'unknown error';
  return no('ConnectionFailed', `cannot reach ${server} while ${action}: ${message}`);
}

/** What the controller knows about one provider's connection at one instant. */
export interface ConnectionFacts {
  /** The Secret or kubeconfig is unusable: no connection exists. */
  readonly configError?: ProviderConfigError;
  /** The API server URL of the kubeconfig, once it parsed. */
  readonly server?: string;
  /** The latest failure of a list or watch, while it has not recovered; with what was being done. */
  readonly lastError?: { readonly error: unknown; readonly action: string };
  /** Both informers have listed since the connection was (re)built and are connected now. */
  readonly synced: boolean;
  /** Some request has succeeded since the connection was built. */
  readonly answered: boolean;
  /** spec.namespace was looked up and does not exist (undefined: unknown or exists). */
  readonly namespaceMissing?: boolean;
}

export interface ProviderFacts extends ConnectionFacts {
  readonly namespace: string;
  readonly cordoned: boolean;
  /** Some schedulable node offers a GPU product the provider prices. */
  readonly hasPricedGpus: boolean;
}

/** Reachable: the API server answers the credential. */
export function reachableVerdict(f: ConnectionFacts): ConditionVerdict {
  if (f.configError) return { status: 'False', reason: f.configError.reason, message: f.configError.message };
  if (f.lastError) return connectionErrorVerdict(f.lastError.error, f.server ?? 'the API server', f.lastError.action);
  if (f.answered) return { status: 'True', reason: 'Connected', message: `${f.server ?? 'the API server'} answers; nodes and pods are watched` };
  return { status: 'Unknown', reason: 'Connecting', message: `no request to ${f.server ?? 'the API server'} has completed yet` };
}

/**
 * Ready: new attempts may be placed here. The first failing check wins, in this order: not
 * Reachable, informers not synced, namespace missing, cordoned, no priced GPUs.
 */
export function readyVerdict(f: ProviderFacts, reachable: ConditionVerdict = reachableVerdict(f)): ConditionVerdict {
  // A kubeconfig the operator refuses is not an outage: it stays refused until the provider fixes it.
  if (reachable.status === 'False' && reachable.reason === 'KubeconfigInvalid') {
    return { status: 'False', reason: 'KubeconfigInvalid', message: reachable.message };
  }
  if (reachable.status === 'False') {
    return { status: 'False', reason: 'Unreachable', message: `${reachable.reason}: ${reachable.message}` };
  }
  if (!f.synced) {
    return { status: 'False', reason: 'InventoryPending', message: 'waiting for the first list of nodes and of pods in ' + f.namespace };
  }
  if (f.namespaceMissing) {
    return { status: 'False', reason: 'NamespaceMissing', message: `namespace ${f.namespace} does not exist in the provider (spec.namespace)` };
  }
  if (f.cordoned) return { status: 'False', reason: 'Cordoned', message: 'spec.cordoned is true: no new attempts are placed here' };
  if (!f.hasPricedGpus) {
    return { status: 'False', reason: 'NoGPUs', message: 'no schedulable node offers a GPU product listed in spec.prices' };
  }
  return { status: 'True', reason: 'Ready', message: 'reachable, inventory known, not cordoned' };
}

/**
 * Is the connection healthy enough for placement (ProviderSnapshot.ready)? Cordoned and NoGPUs are
 * left to the placement engine, which says "cordoned" or which products are missing more precisely.
 */
export function connectionUsable(f: ProviderFacts): ConditionVerdict | undefined {
  const ready = readyVerdict({ ...f, cordoned: false, hasPricedGpus: true });
  return ready.status === 'True' ? undefined : ready;
}

/** How many malformed objects InventoryValid names; the rest are counted. */
const MALFORMED_NAMED = 5;

/**
 * InventoryValid: True while every node and pod was readable; False naming the skipped ones (the
 * first few) and what is wrong with each. Names and problems come from the provider: bounded.
 */
export function inventoryValidVerdict(objects: readonly MalformedObject[], nameless: number): ConditionVerdict {
  if (objects.length === 0 && nameless === 0) return { status: 'True', reason: 'Valid', message: 'every node and pod the provider sent is readable' };
  const named = objects.slice(0, MALFORMED_NAMED).map((m) => `${m.kind} ${boundText(m.name, 253)} (${m.problem})`);
  const more = objects.length > MALFORMED_NAMED ? `, and ${objects.length - MALFORMED_NAMED} more` : '';
  const unnamed = nameless > 0 ? `${objects.length > 0 ? '; ' : ''}${nameless} object${nameless === 1 ? '' : 's'} without a name dropped since connecting` : '';
  const list = objects.length > 0 ? `skipped ${objects.length} malformed object${objects.length === 1 ? '' : 's'}: ${named.join(', ')}${more}` : '';
  return {
    status: 'False',
    reason: 'MalformedObjects',
    message: boundText(`${list}${unnamed}; placement uses the provider's other nodes`, TEXT_BOUNDS.message * 4),
  };
}
