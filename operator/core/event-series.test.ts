import { aggregateMessage, flushDue, flushed, observe } from './event-series.ts';
import type { SeriesState } from './event-series.ts';

const opts = { individual: 2, windowMs: 60_000, flushMs: 10_000 };

function run(times: number[]): { actions: string[]; state: SeriesState | undefined } {
  let state: SeriesState | undefined;
  const actions: string[] = [];
  for (const [i, t] of times.entries()) {
    const r = observe(state, `job-${i} scheduled`, t, opts);
    state = r.state;
    actions.push(r.action.kind);
  }
  return { actions, state };
}

describe('event series: routine Events aggregate once a burst repeats them', () => {
  it('records the first few individually, then creates one aggregate and only counts the rest', () => {
    const { actions, state } = run([0, 1, 2, 3, 4, 5]);
    expect(actions).toEqual(['individual', 'individual', 'create-aggregate', 'counted', 'counted', 'counted']);
    expect(state).toMatchObject({ aggregated: 4, unflushed: 3, lastMessage: 'job-5 scheduled' });
  });
  it('a new window starts over: individual again, and a new aggregate', () => {
    const { actions } = run([0, 1, 2, 3, 60_000, 60_001, 60_002]);
    expect(actions).toEqual(['individual', 'individual', 'create-aggregate', 'counted', 'individual', 'individual', 'create-aggregate']);
  });
  it('an aggregate is updated at most once per flush interval, and only with something new', () => {
    const { state } = run([0, 1, 2, 3]);
    const s = state as SeriesState;
    expect(flushDue(s, 5_000, opts)).toBe(false);
    expect(flushDue(s, 10_002, opts)).toBe(true);
    const after = flushed(s, 10_002);
    expect(after.unflushed).toBe(0);
    expect(flushDue(after, 30_000, opts)).toBe(false);
  });
  it('says how many and gives the latest example, bounded', () => {
    expect(aggregateMessage('Scheduled', 41, 'attempt 1: 1 replica(s) on a')).toBe(
      '41 more AIJob(s) in this namespace: Scheduled; latest: attempt 1: 1 replica(s) on a',
    );
    expect(aggregateMessage('Scheduled', 1, 'x'.repeat(5_000)).length).toBe(1024);
  });
});
