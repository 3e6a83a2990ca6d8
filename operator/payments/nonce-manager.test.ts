// The nonce manager's bookkeeping against an in-memory node (the real anvil is in
// test/payments/nonce-manager.test.ts).
import { KeyNonceManager, isNonceConflict, nonceManagerFor } from './nonce-manager.ts';

/** A node that accepts exactly the next nonce of one key, and counts the nonce queries. */
class MemoryNode {
  nonce = 0;
  queries = 0;
  readonly accepted: number[] = [];
  readonly address = '0xAbC0000000000000000000000000000000000001';
  pendingNonce = async () => {
    this.queries += 1;
    return this.nonce;
  };
  broadcast = async (nonce: number, delayMs = 0): Promise<number> => {
    await new Promise((r) => setTimeout(r, delayMs));
    if (nonce < this.nonce) throw Object.assign(new Error('nonce too low'), { code: 'NONCE_EXPIRED' });
    if (nonce > this.nonce) throw new Error(`nonce gap: got ${nonce}, expected ${this.nonce}`);
    this.accepted.push(nonce);
    this.nonce += 1;
    return nonce;
  };
}

describe('KeyNonceManager', () => {
  it('sends concurrent transactions with consecutive nonces, asking the node once', async () => {
    const node = new MemoryNode();
    node.nonce = 7;
    const m = new KeyNonceManager(node);
    // Later sends are faster than earlier ones: without serialisation they would overtake.
    const sent = await Promise.all([30, 20, 10, 0].map((delay) => m.send((n) => node.broadcast(n, delay))));
    expect(sent).toEqual([7, 8, 9, 10]);
    expect(node.accepted).toEqual([7, 8, 9, 10]);
    expect(node.queries).toBe(1);
  });

  it('a send that fails before reaching the node leaves no gap', async () => {
    const node = new MemoryNode();
    const m = new KeyNonceManager(node);
    await m.send((n) => node.broadcast(n));
    await expect(
      m.send(async () => {
        throw new Error('execution reverted: AlreadySettled');
      }),
    ).rejects.toThrow('AlreadySettled');
    expect(await m.send((n) => node.broadcast(n))).toBe(1);
    expect(node.accepted).toEqual([0, 1]);
  });

  it("a nonce used by someone else is retried once with the node's pending nonce", async () => {
    const node = new MemoryNode();
    const m = new KeyNonceManager(node);
    await m.send((n) => node.broadcast(n));
    node.nonce = 5; // another process sent four transactions from the same key
    expect(await m.send((n) => node.broadcast(n))).toBe(5);
    expect(node.queries).toBe(2);
  });

  it('gives up after one retry when the conflict persists', async () => {
    const node = new MemoryNode();
    const m = new KeyNonceManager(node);
    const calls: number[] = [];
    await expect(
      m.send(async (n) => {
        calls.push(n);
        throw Object.assign(new Error('nonce too low'), { code: 'NONCE_EXPIRED' });
      }),
    ).rejects.toThrow('nonce too low');
    expect(calls).toEqual([0, 0]);
  });

  it('a failure does not block the sends queued behind it', async () => {
    const node = new MemoryNode();
    const m = new KeyNonceManager(node);
    const results = await Promise.allSettled([
      m.send((n) => node.broadcast(n, 10)),
      m.send(async () => {
        throw new Error('boom');
      }),
      m.send((n) => node.broadcast(n)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(node.accepted).toEqual([0, 1]);
  });
});

describe('nonceManagerFor', () => {
  it('returns one manager per address, whatever its case', () => {
    const a = nonceManagerFor({ address: '0xabc0000000000000000000000000000000000009', pendingNonce: async () => 0 });
    const b = nonceManagerFor({ address: '0xABC0000000000000000000000000000000000009', pendingNonce: async () => 0 });
    const c = nonceManagerFor({ address: '0xabc0000000000000000000000000000000000008', pendingNonce: async () => 0 });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });
});

describe('isNonceConflict', () => {
  it.each<[unknown, boolean]>([
    [{ code: 'NONCE_EXPIRED' }, true],
    [{ code: 'UNKNOWN_ERROR', error: { message: 'nonce too low: next nonce 5, tx nonce 4' } }, true],
    [{ message: 'already known' }, true],
    [{ code: 'CALL_EXCEPTION', message: 'execution reverted' }, false],
    [new Error('connect ECONNREFUSED'), false],
  ])('%j → %p', (err, expected) => expect(isNonceConflict(err)).toBe(expected));
});
