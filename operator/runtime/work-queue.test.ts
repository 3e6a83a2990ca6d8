import { WorkQueue } from './work-queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('runs a key queued several times only once', async () => {
    const q = new WorkQueue({ workers: 2 });
    const runs: string[] = [];
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    q.start(async (key) => {
      runs.push(key);
    });
    await q.idle();
    expect(runs.sort()).toEqual(['a', 'b']);
  });

  it('never runs the same key on two workers at once, and reruns it when added while running', async () => {
    const q = new WorkQueue({ workers: 4 });
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    q.start(async () => {
      concurrent += 1;
      runs += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(20);
      concurrent -= 1;
    });
    q.add('job');
    await sleep(5);
    q.add('job');
    q.add('job');
    await q.idle();
    expect(maxConcurrent).toBe(1);
    expect(runs).toBe(2);
  });

  it('retries a failing key with exponential backoff and forgets failures after a success', async () => {
    const errors: number[] = [];
    const q = new WorkQueue({ workers: 1, baseBackoffMs: 10, onError: (_k, _e, retryIn) => errors.push(retryIn) });
    let attempts = 0;
    q.start(async () => {
      attempts += 1;
      if (attempts < 4) throw new Error('apiserver unavailable');
    });
    q.add('k');
    await q.idle();
    expect(attempts).toBe(4);
    expect(errors).toEqual([10, 20, 40]);
    expect(q.backoffFor('k')).toBe(10);
  });

  it('caps the backoff', () => {
    const q = new WorkQueue({ workers: 1, baseBackoffMs: 100, maxBackoffMs: 250 });
    (q as unknown as { failures: Map<string, number> }).failures.set('k', 10);
    expect(q.backoffFor('k')).toBe(250);
  });

  it('requeues after the delay a handler asks for', async () => {
    const q = new WorkQueue({ workers: 1 });
    const times: number[] = [];
    const t0 = Date.now();
    q.start(async () => {
      times.push(Date.now() - t0);
      return times.length < 2 ? { requeueAfterMs: 50 } : {};
    });
    q.add('k');
    await q.idle();
    expect(times).toHaveLength(2);
    expect(times[1]).toBeGreaterThanOrEqual(45);
  });

  it('lets a shorter requeue delay replace a longer pending one', async () => {
    const q = new WorkQueue({ workers: 1 });
    const times: number[] = [];
    const t0 = Date.now();
    q.start(async () => {
      times.push(Date.now() - t0);
    });
    q.addAfter('k', 5_000);
    q.addAfter('k', 30);
    q.addAfter('k', 2_000);
    await q.idle();
    expect(times).toHaveLength(1);
    expect(times[0]).toBeLessThan(1_000);
  });

  it('drops everything after shutdown', async () => {
    const q = new WorkQueue({ workers: 1 });
    let runs = 0;
    q.shutdown();
    q.add('k');
    q.start(async () => {
      runs += 1;
    });
    await sleep(10);
    expect(runs).toBe(0);
  });
});
