// One nonce manager per signing key and process: transactions from a key are sent one after
// another with consecutive nonces, without asking the node for every one of them.
//
// ethers' own NonceManager counts up forever: a send that fails before it reaches the chain (gas
// estimation reverts, the RPC times out) leaves a gap, and every later transaction from that key
// waits behind it forever. Here any failed send drops the count, so the next send asks the node for
// the key's pending nonce again; a node that answers "nonce too low" (another process used the key)
// gets one retry with a fresh nonce.
export interface NonceSource {
  /** The key's address (what the manager is registered under). */
  readonly address: string;
  /** The next nonce the node would accept from the key: eth_getTransactionCount(address, 'pending'). */
  pendingNonce(): Promise<number>;
}

/** The node refused the nonce because it was used (ethers' NONCE_EXPIRED, or the node's own words). */
export function isNonceConflict(err: unknown): boolean {
  const e = err as { code?: string; message?: string; shortMessage?: string; error?: { message?: string } };
  if (e?.code === 'NONCE_EXPIRED' || e?.code === 'REPLACEMENT_UNDERPRICED') return true;
  const text = `${e?.shortMessage ?? ''} ${e?.message ?? ''} ${e?.error?.message ?? ''}`.toLowerCase();
  return text.includes('nonce too low') || text.includes('already known') || text.includes('replacement transaction underpriced');
}

export class KeyNonceManager {
  readonly address: string;
  private readonly source: NonceSource;
  private next: number | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(source: NonceSource) {
    this.source = source;
    this.address = source.address;
  }

  /**
   * Runs `send` with the key's next nonce, after every earlier send of this manager has returned.
   * `send` must broadcast a transaction with exactly that nonce and resolve once the node accepted it.
   */
  send<T>(send: (nonce: number) => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.sendNow(send));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Forgets the count; the next send asks the node. */
  reset(): void {
    this.next = undefined;
  }

  private async sendNow<T>(send: (nonce: number) => Promise<T>, retried = false): Promise<T> {
    const nonce = this.next ?? (await this.source.pendingNonce());
    try {
      const result = await send(nonce);
      this.next = nonce + 1;
      return result;
    } catch (err) {
      this.next = undefined;
      if (!retried && isNonceConflict(err)) return this.sendNow(send, true);
      throw err;
    }
  }
}

const managers = new Map<string, KeyNonceManager>();

/** The process's one manager for `source.address` (created on first use). */
export function nonceManagerFor(source: NonceSource): KeyNonceManager {
  const key = source.address.toLowerCase();
  let manager = managers.get(key);
  if (!manager) {
    manager = new KeyNonceManager(source);
    managers.set(key, manager);
  }
  return manager;
}
