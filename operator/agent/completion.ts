// When a checkpoint entry counts as complete, and which complete one is the newest. Pure: decided
// from two consecutive scans (scan.ts), so it is the same answer however the folder was read.
//
//   marker set   → a folder with the marker file in it is complete (the trainer says so; the marker
//                  is written last). A file entry, or a folder without it, never is.
//   no marker    → an entry whose fingerprint (paths, sizes, mtimes) did not change between two scans
//                  at least `minGapMs` apart is complete. A trainer that writes a checkpoint
//                  touches its files continuously; one poll of silence means it moved on.
//
// Newest = the greatest newest-mtime of its content; ties go to the later name in natural order
// (step-10 after step-9), so the choice does not depend on the order readdir returned.
import type { CheckpointScan, EntrySnapshot } from './scan.ts';

export interface CompletionRule {
  readonly marker?: string;
  /** Least time between the two scans for a stable fingerprint to count. */
  readonly minGapMs: number;
}

export function isComplete(entry: EntrySnapshot, previous: CheckpointScan | undefined, current: CheckpointScan, rule: CompletionRule): boolean {
  if (rule.marker !== undefined) return entry.kind === 'directory' && entry.hasMarker;
  if (!previous || current.at - previous.at < rule.minGapMs) return false;
  return previous.entries.get(entry.name)?.fingerprint === entry.fingerprint;
}

const DIGITS = /(\d+)/;

/** Numeric-aware name order: runs of digits compare as numbers, the rest by code unit. */
export function naturalCompare(a: string, b: string): number {
  const xs = a.split(DIGITS);
  const ys = b.split(DIGITS);
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i] as string;
    const y = ys[i] as string;
    if (x === y) continue;
    // Odd indexes are the digit runs (split with a capture group alternates text, digits, text…).
    // Compared as strings without leading zeros (any length, no overflow): longer is larger.
    if (i % 2 === 1) {
      const xv = x.replace(/^0+/, '');
      const yv = y.replace(/^0+/, '');
      if (xv !== yv) return xv.length !== yv.length ? xv.length - yv.length : xv < yv ? -1 : 1;
      return x.length - y.length; // same value: fewer leading zeros first
    }
    return x < y ? -1 : 1;
  }
  return xs.length - ys.length;
}

/** Later first: by newest mtime, then by natural name order. */
export function newerFirst(a: EntrySnapshot, b: EntrySnapshot): number {
  return b.newestMtimeMs - a.newestMtimeMs || naturalCompare(b.name, a.name);
}

/** The newest complete entry of `current`; undefined when none is complete. */
export function newestComplete(previous: CheckpointScan | undefined, current: CheckpointScan, rule: CompletionRule): EntrySnapshot | undefined {
  return [...current.entries.values()].filter((e) => isComplete(e, previous, current, rule)).sort(newerFirst)[0];
}

/** What was last added or restored, by name and content. */
export interface KnownCheckpoint {
  readonly name: string;
  readonly fingerprint: string;
}

/** Whether `entry` is another checkpoint than `known` (another name, or the same name rewritten). */
export function isNewCheckpoint(entry: EntrySnapshot, known: KnownCheckpoint | undefined): boolean {
  return known === undefined || known.name !== entry.name || known.fingerprint !== entry.fingerprint;
}
