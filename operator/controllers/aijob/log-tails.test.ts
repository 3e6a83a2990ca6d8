// Log tails kept with a closing attempt: every recorded replica read with the bounds, one folder of
// r<replica>.log, nothing for replicas without a log, and never longer than the time bound.
import { LOG_TAIL_BYTES, LOG_TAIL_LINES, keepLogTail, logTailFiles, logTailPods } from './log-tails.ts';
import type { LogTailPorts } from './log-tails.ts';

const attempt = {
  pods: [
    { replica: 1, name: 'job-a2-r1', uid: 'u1' },
    { replica: 0, name: 'job-a2-r0', uid: 'u0' },
  ],
};

function ports(
  logs: Record<string, string | Error | 'hang'>,
): LogTailPorts & { reads: Array<{ pod: string; opts: unknown }>; added: Array<Array<{ path: string; text: string }>> } {
  const reads: Array<{ pod: string; opts: unknown }> = [];
  const added: Array<Array<{ path: string; text: string }>> = [];
  return {
    reads,
    added,
    read: (pod, opts) => {
      reads.push({ pod, opts });
      const log = logs[pod];
      if (log === 'hang') return new Promise(() => undefined);
      if (log instanceof Error || log === undefined) return Promise.reject(log ?? new Error('404'));
      return Promise.resolve(log);
    },
    addFolder: (files) => {
      added.push(files.map((f) => ({ path: f.path, text: Buffer.from(f.content).toString('utf8') })));
      return Promise.resolve('bafyfolder');
    },
  };
}

describe('log tails of a closing attempt', () => {
  it('reads every recorded replica with the line and byte bounds and adds one folder in replica order', async () => {
    const p = ports({ 'job-a2-r0': 'step 239 loss 0.01\n', 'job-a2-r1': 'rank 1 done\n' });
    expect(await keepLogTail(attempt, p)).toBe('bafyfolder');
    expect(p.reads).toEqual([
      { pod: 'job-a2-r0', opts: { tailLines: LOG_TAIL_LINES, limitBytes: LOG_TAIL_BYTES } },
      { pod: 'job-a2-r1', opts: { tailLines: LOG_TAIL_LINES, limitBytes: LOG_TAIL_BYTES } },
    ]);
    expect(p.added).toEqual([
      [
        { path: 'r0.log', text: 'step 239 loss 0.01\n' },
        { path: 'r1.log', text: 'rank 1 done\n' },
      ],
    ]);
  });

  it('leaves out a replica whose pod is gone or has no log, and adds nothing when none has one', async () => {
    const some = ports({ 'job-a2-r0': new Error('pods "job-a2-r0" not found'), 'job-a2-r1': 'still here\n' });
    await keepLogTail(attempt, some);
    expect(some.added).toEqual([[{ path: 'r1.log', text: 'still here\n' }]]);
    const none = ports({ 'job-a2-r1': '' });
    expect(await keepLogTail(attempt, none)).toBeUndefined();
    expect(none.added).toEqual([]);
  });

  it('gives up after the time bound when the provider does not answer', async () => {
    const started = Date.now();
    expect(await keepLogTail(attempt, ports({ 'job-a2-r0': 'hang', 'job-a2-r1': 'x' }), 100)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('has nothing to read for an attempt that recorded no pods', async () => {
    const p = ports({});
    expect(await keepLogTail({}, p)).toBeUndefined();
    expect(p.reads).toEqual([]);
    expect(logTailPods({ pods: [] })).toEqual([]);
  });

  it('keeps the end of a log longer than the byte bound (a provider may ignore limitBytes)', () => {
    const long = 'a'.repeat(LOG_TAIL_BYTES) + 'THE END\n';
    const [file] = logTailFiles([{ replica: 0, text: long }]);
    expect(file?.content.length).toBe(LOG_TAIL_BYTES);
    expect(
      Buffer.from(file?.content ?? [])
        .toString('utf8')
        .endsWith('THE END\n'),
    ).toBe(true);
  });
});
