import { RESTART_BACKOFF_MAX_MS, restartBackoffMs } from './restart.ts';

describe('restartBackoffMs', () => {
  it('fails over at once the first time, then doubles from 5 s up to the cap', () => {
    expect([1, 2, 3, 4, 5].map(restartBackoffMs)).toEqual([0, 5_000, 10_000, 20_000, 40_000]);
    expect(restartBackoffMs(30)).toBe(RESTART_BACKOFF_MAX_MS);
  });
});
