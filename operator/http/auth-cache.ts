// A small cache of authentication and authorization answers: bounded (least recently used entries
// go first), each answer kept for a short TTL so a revoked token or RoleBinding stops working
// within seconds, and concurrent lookups of one key share one request to the apiserver.
// Failures are not cached: the next request asks again.
export interface DecisionCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

export class DecisionCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly pending = new Map<string, Promise<V>>();
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  private readonly opts: DecisionCacheOptions;

  constructor(opts: DecisionCacheOptions) {
    this.opts = opts;
    if (!(opts.maxEntries >= 1)) throw new RangeError(`maxEntries must be at least 1, got ${opts.maxEntries}`);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > this.now()) {
      this.entries.delete(key);
      this.entries.set(key, hit); // most recently used last
      this.hits += 1;
      return hit.value;
    }
    if (hit) this.entries.delete(key);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    this.misses += 1;
    const loading = load()
      .then((value) => {
        this.entries.set(key, { value, expires: this.now() + this.opts.ttlMs });
        while (this.entries.size > this.opts.maxEntries) {
          const oldest = this.entries.keys().next();
          if (oldest.done) break;
          this.entries.delete(oldest.value);
        }
        return value;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, loading);
    return loading;
  }
}
