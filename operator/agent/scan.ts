// What the checkpoint folder holds right now: one snapshot per candidate entry (a direct child),
// each with a fingerprint of everything in it — relative paths, sizes and mtimes — so two scans
// tell whether an entry is still being written without reading a byte of it. The same walk lists
// what an add uploads, so what was judged complete is what goes to IPFS.
//
// Symlinks, sockets and devices are skipped: following a link could add files from outside the
// folder, and a trainer's checkpoint is plain files and folders.
import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Names trainers and libraries use while an entry is still being written; never a checkpoint. */
export function isCheckpointName(name: string): boolean {
  return !name.startsWith('.') && !name.startsWith('tmp') && !/\.(tmp|partial|incomplete)$/.test(name);
}

export interface TreeRecord {
  /** Relative to the walked root, '/'-separated; '' is the root itself. */
  readonly path: string;
  readonly kind: 'file' | 'directory';
  readonly size: number;
  readonly mtimeNs: bigint;
}

export interface WalkLimits {
  readonly maxEntries: number;
  readonly maxDepth: number;
}

export class ScanLimitError extends Error {
  override readonly name = 'ScanLimitError';
}

/**
 * Every file and folder under `root` (itself first), depth first in name order. `skip` leaves out
 * a relative path and everything under it. Throws ScanLimitError past the limits and the fs error
 * (ENOENT when the root went away mid-walk) otherwise.
 */
export async function walkTree(root: string, limits: WalkLimits, skip: (path: string) => boolean = () => false): Promise<TreeRecord[]> {
  const out: TreeRecord[] = [];
  const visit = async (path: string, depth: number): Promise<void> => {
    const abs = path === '' ? root : join(root, path);
    const st = await lstat(abs, { bigint: true });
    const kind = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : undefined;
    if (kind === undefined) return;
    if (out.length >= limits.maxEntries) throw new ScanLimitError(`${root} holds more than ${limits.maxEntries} files and folders`);
    out.push({ path, kind, size: kind === 'file' ? Number(st.size) : 0, mtimeNs: st.mtimeNs });
    if (kind === 'file') return;
    if (depth >= limits.maxDepth) throw new ScanLimitError(`${root} is nested deeper than ${limits.maxDepth} folders`);
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      const child = path === '' ? name : `${path}/${name}`;
      if (!skip(child)) await visit(child, depth + 1);
    }
  };
  await visit('', 0);
  return out;
}

/** A digest of the records: equal exactly when every path, kind, size and mtime is. */
export function fingerprintOf(records: readonly TreeRecord[]): string {
  const lines = records.map((r) => `${r.kind === 'file' ? 'f' : 'd'} ${r.size} ${r.mtimeNs} ${JSON.stringify(r.path)}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export interface EntrySnapshot {
  readonly name: string;
  readonly kind: 'file' | 'directory';
  readonly fingerprint: string;
  /** The latest mtime of anything in the entry, in epoch ms. */
  readonly newestMtimeMs: number;
  /** A folder with a file named the configured marker directly inside it. */
  readonly hasMarker: boolean;
  readonly files: number;
  readonly bytes: number;
}

export interface CheckpointScan {
  /** Epoch ms the scan started. */
  readonly at: number;
  readonly entries: ReadonlyMap<string, EntrySnapshot>;
  /** Entries left out of this scan, with why (over a limit, unreadable). */
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
}

export function snapshotOf(name: string, records: readonly TreeRecord[], marker: string | undefined): EntrySnapshot {
  const root = records[0];
  let newestNs = 0n;
  let files = 0;
  let bytes = 0;
  for (const r of records) {
    if (r.mtimeNs > newestNs) newestNs = r.mtimeNs;
    if (r.kind === 'file') {
      files += 1;
      bytes += r.size;
    }
  }
  return {
    name,
    kind: root?.kind ?? 'file',
    fingerprint: fingerprintOf(records),
    newestMtimeMs: Number(newestNs / 1_000_000n),
    hasMarker: marker !== undefined && root?.kind === 'directory' && records.some((r) => r.kind === 'file' && r.path === marker),
    files,
    bytes,
  };
}

const isMissing = (err: unknown) => (err as { code?: string }).code === 'ENOENT' || (err as { code?: string }).code === 'ENOTDIR';

/** One entry's snapshot; undefined when it went away while being read. */
export async function scanEntry(dir: string, name: string, marker: string | undefined, limits: WalkLimits): Promise<EntrySnapshot | undefined> {
  try {
    const records = await walkTree(join(dir, name), limits);
    return records.length === 0 ? undefined : snapshotOf(name, records, marker);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export interface ScanOptions {
  readonly marker?: string;
  readonly limits: WalkLimits;
  readonly now: () => number;
  /** Children that are not checkpoints whatever their name (the output folder, when it is one). */
  readonly exclude?: ReadonlySet<string>;
}

/** Snapshots of the candidate entries directly in `dir`; a missing `dir` scans as empty. */
export async function scanCheckpoints(dir: string, opts: ScanOptions): Promise<CheckpointScan> {
  const at = opts.now();
  const entries = new Map<string, EntrySnapshot>();
  const skipped: Array<{ name: string; reason: string }> = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => isCheckpointName(n) && !opts.exclude?.has(n)).sort();
  } catch (err) {
    if (isMissing(err)) return { at, entries, skipped };
    throw err;
  }
  for (const name of names) {
    try {
      const snap = await scanEntry(dir, name, opts.marker, opts.limits);
      if (snap) entries.set(name, snap);
    } catch (err) {
      skipped.push({ name, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return { at, entries, skipped };
}
