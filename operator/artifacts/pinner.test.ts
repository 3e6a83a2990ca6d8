// The pinner against an in-memory pin target (a port fake, allowed in unit tests; the real Kubo is
// exercised in test/artifacts).
import { KuboError } from './kubo.ts';
import { Pinner, backoffMs, isRetryable } from './pinner.ts';

const CIDS = Array.from({ length: 12 }, (_, i) => `cid-${i}`);

/** A pin target that holds every request open until release() and can fail the next N tries. */
function controlledTarget() {
  const open: Array<{ cid: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  let failNext: unknown[] = [];
  const calls: string[] = [];
  return {
    calls,
    open,
    failWith(...errors: unknown[]) {
      failNext = errors;
    },
    target: {
      pin(cid: string) {
        calls.push(cid);
        const err = failNext.shift();
        if (err) return Promise.reject(err);
        return new Promise<void>((resolve, reject) => open.push({ cid, resolve, reject }));
      },
    },
    releaseAll() {
      open.splice(0).forEach((p) => p.resolve());
    },
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('Pinner', () => {
  it('never has more than `concurrency` pins open, and pins every CID', async () => {
    const t = controlledTarget();
    const pinner = new Pinner(t.target, { concurrency: 3 });
    const all = Promise.all(CIDS.map((c) => pinner.pin(c)));
    await flush();
    expect(t.open).toHaveLength(3);
    while (t.calls.length < CIDS.length || t.open.length > 0) {
      t.releaseAll();
      await flush();
      expect(t.open.length).toBeLessThanOrEqual(3);
    }
    await all;
    expect(pinner.peakConcurrency).toBe(3);
    expect([...t.calls].sort()).toEqual([...CIDS].sort());
  });

  it('joins a pin of the same CID that is already in flight instead of sending a second', async () => {
    const t = controlledTarget();
    const pinner = new Pinner(t.target, { concurrency: 4 });
    const a = pinner.pin('same');
    const b = pinner.pin('same');
    await flush();
    t.releaseAll();
    await Promise.all([a, b]);
    expect(t.calls).toEqual(['same']);
  });

  it('retries an outage with growing delays, then succeeds', async () => {
    const t = controlledTarget();
    const delays: number[] = [];
    const pinner = new Pinner(t.target, {
      tries: 4,
      baseDelayMs: 100,
      maxDelayMs: 1_000,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    t.failWith(new KuboError('unreachable', 'down'), new KuboError('timeout', 'slow'));
    const p = pinner.pin('x');
    while (t.open.length === 0) await flush();
    t.releaseAll();
    await p;
    expect(t.calls).toEqual(['x', 'x', 'x']);
    expect(delays).toEqual([100, 200]);
  });

  it('gives up after `tries` and rejects with the last error', async () => {
    const t = controlledTarget();
    const pinner = new Pinner(t.target, { tries: 2, sleep: async () => undefined });
    t.failWith(new KuboError('unreachable', 'first'), new KuboError('unreachable', 'second'));
    await expect(pinner.pin('x')).rejects.toThrow('second');
    expect(t.calls).toHaveLength(2);
  });

  it('does not retry an answer that says no', async () => {
    const t = controlledTarget();
    const pinner = new Pinner(t.target, { tries: 5, sleep: async () => undefined });
    t.failWith(new KuboError('refused', 'invalid path'));
    await expect(pinner.pin('x')).rejects.toThrow('invalid path');
    expect(t.calls).toHaveLength(1);
  });
});

describe('backoffMs / isRetryable', () => {
  it('doubles from the base and stops at the cap, ±20% jitter', () => {
    const opts = { baseDelayMs: 500, maxDelayMs: 4_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, opts, () => 0.5))).toEqual([500, 1_000, 2_000, 4_000, 4_000]);
    expect(backoffMs(1, opts, () => 0)).toBe(400);
    expect(backoffMs(1, opts, () => 1)).toBe(600);
  });
  it('retries outages, timeouts and unknown errors, not refusals', () => {
    expect([new KuboError('unreachable', ''), new KuboError('timeout', ''), new Error('?'), new KuboError('refused', '')].map(isRetryable)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});
