// Size limits on everything a provider's API server sends, enforced where the bytes arrive: an
// undici interceptor on the dispatcher every request of a provider client goes through (lists,
// reads, writes, watches and the heartbeat alike; see ProviderKubeConfig). A hostile or broken
// provider can otherwise answer a list with gigabytes, or hold a watch open and send one endless
// line, and the operator buffers all of it (client-node reads list bodies whole with text(), and its
// Watch splits lines with readline, which buffers a line until it ends).
//
//   request ─▶ Accept-Encoding: identity ─▶ provider
//   response ◀─ Content-Encoding set? refuse (a gzip bomb would be inflated after this point)
//            ◀─ Content-Length > maxResponseBytes? refuse before reading
//            ◀─ each chunk: body total > maxResponseBytes (not for watches: they stream forever)
//                            bytes since the last newline > maxWatchEventBytes (watches)
//
// Over a limit the request is aborted with ProviderResponseTooLarge, which reaches the informer as
// its error (the cause chain of fetch's "terminated") and the GPUProvider's Reachable condition as
// ResponseTooLarge; the bytes read so far are dropped with the aborted request.
import type { RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type DispatchOptions = Parameters<Dispatcher['dispatch']>[0];
type DispatchHandler = Parameters<Dispatcher['dispatch']>[1];
type Dispatch = Dispatcher['dispatch'];

export interface ResponseLimits {
  /** Largest body of any response but a watch (bytes). */
  readonly maxResponseBytes: number;
  /** Longest line of a watch stream, i.e. one watch event (bytes). */
  readonly maxWatchEventBytes: number;
}

export const MiB = 1024 * 1024;

/**
 * 64 MiB: a list page of 500 large nodes is a few MiB; a whole unpaginated list of a 5,000-node
 * cluster stays below it. 4 MiB per watch event: etcd stores objects of at most 1.5 MiB, and the
 * JSON form of one is at most a few times its stored form.
 */
export const DEFAULT_RESPONSE_LIMITS: ResponseLimits = { maxResponseBytes: 64 * MiB, maxWatchEventBytes: 4 * MiB };

export const RESPONSE_TOO_LARGE = 'FLOTILLA_RESPONSE_TOO_LARGE';

export class ProviderResponseTooLarge extends Error {
  override readonly name = 'ProviderResponseTooLarge';
  readonly code = RESPONSE_TOO_LARGE;
  readonly limitBytes: number;
  constructor(message: string, limitBytes: number) {
    super(message);
    this.limitBytes = limitBytes;
  }
}

const mib = (bytes: number) => (bytes >= MiB ? `${Math.round((bytes / MiB) * 10) / 10} MiB` : `${bytes} bytes`);

/** Does this request path ask for a watch stream? */
function isWatch(path: string | undefined): boolean {
  const query = (path ?? '').split('?')[1] ?? '';
  return new URLSearchParams(query).get('watch') === 'true';
}

/** The request's headers with Accept-Encoding replaced by identity (object or flat-array form). */
function identityEncoding(headers: DispatchOptions['headers']): NonNullable<DispatchOptions['headers']> {
  if (Array.isArray(headers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() !== 'accept-encoding') out.push(String(headers[i]), String(headers[i + 1]));
    }
    return [...out, 'accept-encoding', 'identity'];
  }
  const out: Record<string, string | string[] | undefined> = {};
  if (headers && typeof headers === 'object') {
    const entries =
      Symbol.iterator in headers
        ? [...(headers as Iterable<[string, string | string[] | undefined]>)]
        : Object.entries(headers as Record<string, string | string[] | undefined>);
    for (const [k, v] of entries) if (k.toLowerCase() !== 'accept-encoding') out[k] = v;
  }
  out['accept-encoding'] = 'identity';
  return out;
}

function header(headers: Record<string, string | string[] | undefined> | undefined, name: string): string | undefined {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

interface Controller {
  abort(reason: Error): void;
}

/** Forwards to the wrapped handler, counting the body on the way and aborting over a limit. */
class BoundedHandler {
  private total = 0;
  private line = 0;
  private refused = false;

  private readonly inner: DispatchHandler;
  private readonly watch: boolean;
  private readonly limits: ResponseLimits;
  private readonly what: string;

  constructor(inner: DispatchHandler, watch: boolean, limits: ResponseLimits, what: string) {
    this.inner = inner;
    this.watch = watch;
    this.limits = limits;
    this.what = what;
  }

  private refuse(controller: Controller, message: string, limit: number): void {
    this.refused = true;
    controller.abort(new ProviderResponseTooLarge(message, limit));
  }

  onRequestStart(controller: unknown, context: unknown): void {
    return this.inner.onRequestStart?.(controller as never, context);
  }

  onRequestUpgrade(...args: unknown[]): void {
    return (this.inner.onRequestUpgrade as ((...a: unknown[]) => void) | undefined)?.(...args);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    const encoding = header(headers, 'content-encoding')?.trim().toLowerCase();
    if (encoding && encoding !== 'identity') {
      this.refuse(
        controller,
        `${this.what}: the response is ${encoding}-encoded although identity was asked for; compressed responses are refused because their size is only known after inflating them`,
        this.limits.maxResponseBytes,
      );
      return;
    }
    const length = Number(header(headers, 'content-length'));
    if (!this.watch && Number.isFinite(length) && length > this.limits.maxResponseBytes) {
      this.refuse(
        controller,
        `${this.what}: the response is ${mib(length)}, over the limit of ${mib(this.limits.maxResponseBytes)}`,
        this.limits.maxResponseBytes,
      );
      return;
    }
    return (this.inner.onResponseStart as (...a: unknown[]) => void | undefined)?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.refused) return;
    this.total += chunk.length;
    if (!this.watch && this.total > this.limits.maxResponseBytes) {
      this.refuse(controller, `${this.what}: the response exceeded the limit of ${mib(this.limits.maxResponseBytes)}`, this.limits.maxResponseBytes);
      return;
    }
    if (this.watch && this.lineTooLong(chunk)) {
      this.refuse(controller, `${this.what}: a watch event exceeded the limit of ${mib(this.limits.maxWatchEventBytes)}`, this.limits.maxWatchEventBytes);
      return;
    }
    return (this.inner.onResponseData as (...a: unknown[]) => void | undefined)?.(controller, chunk);
  }

  /** Tracks the bytes since the last newline; true when some line grew past the limit. */
  private lineTooLong(chunk: Buffer): boolean {
    let start = 0;
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
      if (this.line + (i - start) > this.limits.maxWatchEventBytes) return true;
      this.line = 0;
      start = i + 1;
    }
    this.line += chunk.length - start;
    return this.line > this.limits.maxWatchEventBytes;
  }

  onResponseEnd(...args: unknown[]): void {
    return (this.inner.onResponseEnd as ((...a: unknown[]) => void) | undefined)?.(...args);
  }

  onResponseError(...args: unknown[]): void {
    return (this.inner.onResponseError as ((...a: unknown[]) => void) | undefined)?.(...args);
  }

  onBodySent(...args: unknown[]): void {
    return (this.inner as { onBodySent?: (...a: unknown[]) => void }).onBodySent?.(...args);
  }

  onRequestSent(): void {
    return (this.inner as { onRequestSent?: () => void }).onRequestSent?.();
  }

  onResponseStarted(): void {
    return (this.inner as { onResponseStarted?: () => void }).onResponseStarted?.();
  }
}

/** The interceptor: every request gets identity encoding and a BoundedHandler. */
export function boundedResponses(limits: ResponseLimits, what: () => string): (dispatch: Dispatch) => Dispatch {
  return (dispatch) =>
    function boundedDispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
      const watch = isWatch(opts.path);
      const bounded = new BoundedHandler(
        handler,
        watch,
        limits,
        `${what()} ${watch ? 'watch' : String(opts.method ?? 'GET')} ${(opts.path ?? '').split('?')[0]}`,
      );
      return dispatch({ ...opts, headers: identityEncoding(opts.headers) }, bounded as unknown as DispatchHandler);
    };
}

/** `dispatcher` with the size limits in front of it (same connection pool). */
export function withResponseLimits(dispatcher: Dispatcher, limits: ResponseLimits, what: () => string): Dispatcher {
  return dispatcher.compose(boundedResponses(limits, what));
}
