import { isNewCheckpoint, naturalCompare, newestComplete } from './completion.ts';
import type { CheckpointScan, EntrySnapshot } from './scan.ts';

const entry = (name: string, fingerprint: string, newestMtimeMs: number, more: Partial<EntrySnapshot> = {}): EntrySnapshot => ({
  name,
  kind: 'directory',
  fingerprint,
  newestMtimeMs,
  hasMarker: false,
  files: 1,
  bytes: 1,
  ...more,
});
const scanAt = (at: number, ...entries: EntrySnapshot[]): CheckpointScan => ({ at, entries: new Map(entries.map((e) => [e.name, e])), skipped: [] });
const poll = { minGapMs: 2000 };

describe('newestComplete without a marker: a fingerprint unchanged across two scans a poll apart', () => {
  it.each<[string, CheckpointScan | undefined, CheckpointScan, string | undefined]>([
    ['nothing is complete on the first scan', undefined, scanAt(0, entry('step-1', 'f1', 10)), undefined],
    ['an unchanged entry is complete', scanAt(0, entry('step-1', 'f1', 10)), scanAt(2000, entry('step-1', 'f1', 10)), 'step-1'],
    ['an entry still being written is not', scanAt(0, entry('step-1', 'f1', 10)), scanAt(2000, entry('step-1', 'f2', 11)), undefined],
    ['an entry that just appeared is not', scanAt(0), scanAt(2000, entry('step-1', 'f1', 10)), undefined],
    ['scans closer than a poll prove nothing', scanAt(0, entry('step-1', 'f1', 10)), scanAt(1999, entry('step-1', 'f1', 10)), undefined],
    [
      'the newest complete one wins over an older complete one',
      scanAt(0, entry('step-1', 'a', 10), entry('step-2', 'b', 20)),
      scanAt(2000, entry('step-1', 'a', 10), entry('step-2', 'b', 20)),
      'step-2',
    ],
    [
      'a newer entry still being written does not hide the older complete one',
      scanAt(0, entry('step-1', 'a', 10), entry('step-2', 'b', 20)),
      scanAt(2000, entry('step-1', 'a', 10), entry('step-2', 'c', 30)),
      'step-1',
    ],
    [
      'equal mtimes go to the later name in natural order',
      scanAt(0, entry('step-9', 'a', 10), entry('step-10', 'b', 10)),
      scanAt(2000, entry('step-9', 'a', 10), entry('step-10', 'b', 10)),
      'step-10',
    ],
    [
      'mtime beats the name',
      scanAt(0, entry('step-9', 'a', 50), entry('step-10', 'b', 10)),
      scanAt(2000, entry('step-9', 'a', 50), entry('step-10', 'b', 10)),
      'step-9',
    ],
  ])('%s', (_, previous, current, want) => {
    expect(newestComplete(previous, current, poll)?.name).toBe(want);
  });
});

describe('newestComplete with a marker', () => {
  const rule = { marker: 'COMPLETE', minGapMs: 2000 };
  it('takes a marked folder on the first scan, however recently written', () => {
    expect(newestComplete(undefined, scanAt(0, entry('step-1', 'a', 10, { hasMarker: true })), rule)?.name).toBe('step-1');
  });
  it('never takes an unmarked folder or a file, however stable', () => {
    const current = scanAt(5000, entry('step-2', 'b', 20), entry('weights.pt', 'c', 30, { kind: 'file' }));
    expect(newestComplete(current, current, rule)).toBeUndefined();
  });
  it('takes the newest marked folder over a newer unmarked one', () => {
    const current = scanAt(0, entry('step-1', 'a', 10, { hasMarker: true }), entry('step-2', 'b', 20));
    expect(newestComplete(undefined, current, rule)?.name).toBe('step-1');
  });
});

describe('the settle check of the final flush (minGapMs 0)', () => {
  it('takes an entry unchanged between two scans taken moments apart', () => {
    expect(newestComplete(scanAt(0, entry('s', 'a', 1)), scanAt(200, entry('s', 'a', 1)), { minGapMs: 0 })?.name).toBe('s');
    expect(newestComplete(scanAt(0, entry('s', 'a', 1)), scanAt(200, entry('s', 'b', 2)), { minGapMs: 0 })).toBeUndefined();
  });
});

describe('naturalCompare', () => {
  it('orders digit runs by value', () => {
    const names = ['step-10', 'step-9', 'step-100', 'step-1', 'step-09', 'epoch2-step3', 'epoch10-step1', 'epoch2-step20', 'step-'];
    expect([...names].sort(naturalCompare)).toEqual([
      'epoch2-step3',
      'epoch2-step20',
      'epoch10-step1',
      'step-',
      'step-1',
      'step-9',
      'step-09',
      'step-10',
      'step-100',
    ]);
  });
  it('compares numbers longer than any integer type', () => {
    expect(naturalCompare('ckpt-123456789012345678901234567890', 'ckpt-123456789012345678901234567891')).toBeLessThan(0);
  });
  it('is 0 only for equal names', () => {
    expect(naturalCompare('a1', 'a1')).toBe(0);
    expect(naturalCompare('a', 'B')).not.toBe(0);
  });
});

describe('isNewCheckpoint', () => {
  const e = entry('step-1', 'f1', 10);
  it.each<[string, { name: string; fingerprint: string } | undefined, boolean]>([
    ['nothing known', undefined, true],
    ['the same name and content', { name: 'step-1', fingerprint: 'f1' }, false],
    ['the same name rewritten', { name: 'step-1', fingerprint: 'f0' }, true],
    ['another name', { name: 'step-0', fingerprint: 'f1' }, true],
  ])('%s → %s', (_, known, want) => expect(isNewCheckpoint(e, known)).toBe(want));
});
