import { aggregateMessage, flushDue, flushed, observe } from './event-series.ts';
import type { SeriesState } from './event-series.ts';

const opts = { individual: 2, windowMs: 60_000, flushMs: 10_000 };

function run(times: number[], from?: SeriesState): { actions: string[]; state: SeriesState | undefined } {
  let state = from;
  const actions: string[] = [];
  for (const [i, t] of times.entries()) {
    const r = observe(state, `job-${i} scheduled`, t, opts);
    state = r.state;
    actions.push(r.action.kind);
  }
  return { actions, state };
}

describe('event series: routine Events are counted once a burst repeats them', () => {
  it('records the first few individually and only counts the rest', () => {
    const { actions, state } = run([0, 1, 2, 3, 4, 5]);
    expect(actions).toEqual(['individual', 'individual', 'counted', 'counted', 'counted', 'counted']);
    expect(state).toMatchObject({ unflushed: 4, flushedAt: 2, lastMessage: 'job-5 scheduled' });
  });
  it('an aggregate is due flushMs after counting began, then flushMs after the last, and only with something counted', () => {
    const s = run([0, 1, 2, 3]).state as SeriesState;
    expect(flushDue(s, 5_000, opts)).toBe(false);
    expect(flushDue(s, 10_002, opts)).toBe(true);
    const after = flushed(s, 10_002);
    expect(after.unflushed).toBe(0);
    expect(flushDue(after, 30_000, opts)).toBe(false);
  });
  it('a new window starts individual again, but keeps what was counted and not yet written', () => {
    const { actions, state } = run([0, 1, 2, 3, 60_000, 60_001, 60_002]);
    expect(actions).toEqual(['individual', 'individual', 'counted', 'counted', 'individual', 'individual', 'counted']);
    expect(state).toMatchObject({ windowStart: 60_000, unflushed: 3, flushedAt: 2 });
  });
  it('says how many and gives the latest example, bounded', () => {
    expect(aggregateMessage('Scheduled', 41, 'attempt 1: 1 replica(s) on a')).toBe(
      '41 more AIJob(s) in this namespace: Scheduled; latest: attempt 1: 1 replica(s) on a',
    );
    expect(aggregateMessage('Scheduled', 1, 'x'.repeat(5_000)).length).toBe(1024);
  });
});
