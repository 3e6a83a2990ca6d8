// An informer that does not stay down. client-node's ListWatch (what makeInformer builds) restarts
// its watch by itself only after 410 Gone, a server-side close or its own inactivity timeout; any
// other error (connection refused, TLS, 401/403, a failed list) fires 'error' and stops it for good.
// This wrapper starts it again with exponential backoff, resets the backoff once the API server
// answers again, and reports what makeInformer cannot: when a list or a watch actually succeeded.
//
//   start ─▶ list ──ok──▶ watch ──connected──▶ events …  ── closed/timeout ─▶ watch (ListWatch)
//              │              │                                              │
//              └──error───────┴──────────error──▶ onState(error) ─ backoff ─▶ start
//
// Bounded input (a provider's API server is not trusted): the list is read in pages of `pageSize`
// (limit/continue), the cache holds at most `maxObjects` objects (a list or a stream of ADDED events
// beyond that fails the informer with TooManyObjects), and an object without a name is skipped
// (`onMalformed`) instead of reaching ListWatch's cache, which would throw on it.
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { exponentialBackoffMs } from '../core/backoff.ts';

/** Any object with Kubernetes metadata: typed core objects, and our CRDs as plain JSON. */
export interface ObjectWithMeta {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_INFORMER_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerState {
  /** A list succeeded since start() (the cache holds a full picture at some resourceVersion). */
  readonly listed: boolean;
  /** The last list or watch request succeeded; false from an error until the next success. */
  readonly connected: boolean;
  /** The error that stopped the informer, until it reconnects. */
  readonly error?: unknown;
  /** Epoch ms of the API server's latest answer (list, watch connect, or event). */
  readonly lastSeen?: number;
  /** Restarts after errors so far. */
  readonly restarts: number;
  /** 410 Gone answers (the watch's resourceVersion was compacted away): each made ListWatch relist. */
  readonly expired?: number;
}

/** One page of a list: pass `limit` and `continue` on to the API call (both absent: unpaginated). */
export interface ListPage {
  readonly limit?: number;
  readonly continue?: string;
}

/** A list answer, typed (client-node's V1ListMeta calls `continue` `_continue`) or plain JSON. */
export interface ListResult<T> {
  readonly items: T[];
  readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string; readonly continue?: string };
}

export const TOO_MANY_OBJECTS = 'FLOTILLA_TOO_MANY_OBJECTS';

/** The collection holds more objects than the informer keeps: it stops instead of growing. */
export class TooManyObjects extends Error {
  override readonly name = 'TooManyObjects';
  readonly code = TOO_MANY_OBJECTS;
  readonly limit: number;
  constructor(path: string, limit: number) {
    super(`${path} holds more than ${limit} objects, the most the operator keeps of one collection`);
    this.limit = limit;
  }
}

export interface ResilientInformerOptions<T extends ObjectWithMeta> {
  readonly kubeConfig: KubeConfig;
  /** API path of the collection, e.g. `/api/v1/namespaces/x/pods`. */
  readonly path: string;
  /** One page of the list; called with `{}` when pageSize is unset. */
  readonly list: (page: ListPage) => Promise<ListResult<T>>;
  /** Objects per list page (limit/continue); unset: one unpaginated list. */
  readonly pageSize?: number;
  /** The most objects the cache holds; more fail the informer with TooManyObjects. Unset: no limit. */
  readonly maxObjects?: number;
  /**
   * Drops what the operator never reads from each object before it is cached (memory: a node's
   * status.images can be tens of kilobytes). metadata.managedFields is always dropped.
   */
  readonly trim?: (obj: T) => void;
  /** Told of each object skipped because it has no name (it never reaches the cache). */
  readonly onMalformed?: (obj: unknown, problem: string) => void;
  readonly labelSelector?: string;
  readonly backoff?: Backoff;
  readonly onEvent?: (type: InformerEventType, obj: T) => void;
  /** Called whenever InformerState changes (not on every event). */
  readonly onState?: (state: InformerState) => void;
  readonly now?: () => number;
}

/** A Watch that tells when the API server accepted the watch request (HTTP 200) or sent an event. */
interface WatchHooks {
  connected(): void;
  activity(): void;
  expired(): void;
  /** False: the event is dropped before ListWatch sees it. */
  accept(phase: string, obj: unknown): boolean;
}

class ObservedWatch extends Watch {
  private readonly hooks: WatchHooks;

  constructor(kc: KubeConfig, hooks: WatchHooks) {
    super(kc);
    this.hooks = hooks;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let failed = false;
    const controller = await super.watch(
      path,
      queryParams,
      (phase, obj, watchObj) => {
        this.hooks.activity();
        // ListWatch clears its resourceVersion on this event and relists when the watch ends.
        if (phase === 'ERROR' && (obj as { code?: unknown } | undefined)?.code === 410) this.hooks.expired();
        if (this.hooks.accept(phase, obj)) callback(phase, obj, watchObj);
      },
      (err) => {
        if (err) failed = true;
        done(err);
      },
    );
    if (!failed && !controller.signal.aborted) this.hooks.connected();
    return controller;
  }
}

export class ResilientInformer<T extends ObjectWithMeta> {
  /** Told of every 410 Gone of every informer, with the collection's path (set once by the telemetry). */
  static expiredObserver: ((path: string) => void) | undefined;
  private readonly informer: ListWatch<KubernetesObject>;
  private readonly opts: ResilientInformerOptions<T>;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private state: InformerState = { listed: false, connected: false, restarts: 0 };
  /** Failures since the API server last answered: they set the restart delay. */
  private failuresInRow = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** Objects in ListWatch's cache (its adds minus its deletes). */
  private objectCount = 0;
  /** Stopped for holding too many objects: events still in flight are dropped until the restart. */
  private halted = false;

  constructor(opts: ResilientInformerOptions<T>) {
    this.opts = opts;
    this.backoff = opts.backoff ?? DEFAULT_INFORMER_BACKOFF;
    this.now = opts.now ?? Date.now;
    const watch = new ObservedWatch(opts.kubeConfig, {
      connected: () => this.answered(),
      activity: () => {
        this.state = { ...this.state, lastSeen: this.now() };
      },
      expired: () => {
        this.state = { ...this.state, expired: (this.state.expired ?? 0) + 1 };
        ResilientInformer.expiredObserver?.(opts.path);
      },
      accept: (phase, obj) => {
        // Lines already read when the informer overflowed still arrive: drop them.
        if (this.halted) return false;
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return true;
        const problem = nameProblem(obj);
        if (problem) {
          this.opts.onMalformed?.(obj, problem);
          return false;
        }
        trimObject(obj as T, opts.trim);
        const meta = (obj as ObjectWithMeta).metadata;
        const isNew = phase !== 'DELETED' && this.informer.get(meta?.name ?? '', meta?.namespace ?? undefined) === undefined;
        if (isNew && opts.maxObjects !== undefined && this.objectCount >= opts.maxObjects) {
          this.overflow();
          return false;
        }
        return true;
      },
    });
    const list = async () => {
      const result = await this.listAllPages();
      // ListWatch fills its cache from this result only once it resumes after this returns; until
      // then the cache is empty (first list) or old (relist). Say "listed" after that, never
      // before: a reader in between saw a synced, empty cache and took a running pod for deleted.
      setImmediate(() => this.listed());
      return result as unknown as KubernetesListObject<KubernetesObject>;
    };
    // What makeInformer does, with the observed Watch in place of a plain one.
    this.informer = new ListWatch<KubernetesObject>(opts.path, watch, list, false, opts.labelSelector);
    for (const type of ['add', 'update', 'delete'] as const) {
      this.informer.on(type, (obj: KubernetesObject) => {
        if (type === 'add') this.objectCount += 1;
        if (type === 'delete') this.objectCount -= 1;
        if (!this.stopped) opts.onEvent?.(type, obj as T);
        if (type === 'add' && opts.maxObjects !== undefined && this.objectCount > opts.maxObjects) this.overflow();
      });
    }
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  get current(): InformerState {
    return this.state;
  }

  /** Listed since start and connected now: the cache can be trusted. */
  get synced(): boolean {
    return this.state.listed && this.state.connected;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.informer.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace) as readonly T[];
  }

  /**
   * Every page of the list, objects without a name left out. Bounded: more than maxObjects objects,
   * or more pages than they can fill, fail the list with TooManyObjects.
   */
  private async listAllPages(): Promise<ListResult<T>> {
    const { pageSize, maxObjects } = this.opts;
    const maxPages = pageSize !== undefined && maxObjects !== undefined ? Math.ceil(maxObjects / pageSize) + 1 : Infinity;
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await this.opts.list({ ...(pageSize !== undefined ? { limit: pageSize } : {}), ...(next ? { continue: next } : {}) });
      pages += 1;
      for (const item of Array.isArray(page.items) ? page.items : []) {
        const problem = nameProblem(item);
        if (problem) this.opts.onMalformed?.(item, problem);
        else items.push(trimObject(item, this.opts.trim));
      }
      if (maxObjects !== undefined && items.length > maxObjects) throw new TooManyObjects(this.opts.path, maxObjects);
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      next = pageSize !== undefined ? (page.metadata?._continue ?? page.metadata?.continue) || undefined : undefined;
      if (next && pages >= maxPages) throw new TooManyObjects(this.opts.path, maxObjects ?? 0);
    } while (next);
    return { items, metadata: { ...(resourceVersion !== undefined ? { resourceVersion } : {}) } };
  }

  /** More objects than maxObjects arrived by watch: stop, and relist (bounded) after the backoff. */
  private overflow(): void {
    if (this.stopped || this.halted) return;
    this.halted = true;
    void this.informer.stop();
    this.failed(new TooManyObjects(this.opts.path, this.opts.maxObjects ?? 0));
  }

  private run(): void {
    this.halted = false;
    // start() rejects only on what no retry fixes soon (no current cluster); report it and retry anyway.
    this.informer.start().catch((err: unknown) => this.failed(err));
  }

  /** The cache holds a fresh list: synced (when connected), and subscribers are told. */
  private listed(): void {
    if (this.stopped) return;
    const first = !this.state.listed;
    const wasConnected = this.state.connected && this.state.error === undefined;
    this.state = { ...this.state, listed: true };
    this.answered();
    // answered() reports a change of connection only; the first list is a change of its own.
    if (first && wasConnected) this.opts.onState?.(this.state);
  }

  private answered(): void {
    if (this.stopped) return;
    this.failuresInRow = 0;
    const { error: _gone, ...rest } = this.state;
    const changed = !this.state.connected || this.state.error !== undefined;
    this.state = { ...rest, connected: true, lastSeen: this.now() };
    if (changed) this.opts.onState?.(this.state);
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    this.state = { ...this.state, connected: false, error: err };
    this.opts.onState?.(this.state);
    // The listener may have stopped us (e.g. no permission to list): then no restart.
    if (this.stopped || this.timer) return;
    this.failuresInRow += 1;
    const delay = exponentialBackoffMs(this.failuresInRow, { baseMs: this.backoff.initialMs, maxMs: this.backoff.maxMs });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.state = { ...this.state, restarts: this.state.restarts + 1 };
      this.run();
    }, delay);
  }
}

/** The object without what no reader needs (managedFields: often the largest part of an object). */
function trimObject<T>(obj: T, trim: ((obj: T) => void) | undefined): T {
  const meta = (obj as { metadata?: { managedFields?: unknown } }).metadata;
  if (meta && 'managedFields' in meta) delete meta.managedFields;
  trim?.(obj);
  return obj;
}

/** Why ListWatch cannot keep this object (it keys its cache by metadata.name), or undefined. */
function nameProblem(obj: unknown): string | undefined {
  const meta = (obj as { metadata?: unknown } | null | undefined)?.metadata;
  if (typeof meta !== 'object' || meta === null) return 'it has no metadata';
  const { name, namespace } = meta as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string' || name === '') return 'metadata.name is not a non-empty string';
  if (namespace !== undefined && namespace !== null && typeof namespace !== 'string') return 'metadata.namespace is not a string';
  return undefined;
}
