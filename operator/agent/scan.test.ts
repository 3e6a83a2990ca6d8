// The scan over a real folder in a temp dir: which children are candidates, what the fingerprint
// notices (a byte appended, an mtime touched, a file added) and what it does not (nothing changed),
// the marker, the limits, and symlinks left out.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf, isCheckpointName, scanCheckpoints, ScanLimitError, walkTree } from './scan.ts';

const limits = { maxEntries: 1000, maxDepth: 8 };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-scan-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A checkpoint folder `name` with `files` (relative path → content), every mtime set to `mtimeS`. */
function checkpoint(name: string, files: Record<string, string>, mtimeS = 1_700_000_000): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, path, '..'), { recursive: true });
    writeFileSync(join(dir, name, path), content);
    utimesSync(join(dir, name, path), mtimeS, mtimeS);
  }
}

const scan = (marker?: string) => scanCheckpoints(dir, { ...(marker ? { marker } : {}), limits, now: () => 1_000 });

describe('isCheckpointName', () => {
  it.each(['step-100', 'checkpoint-5', 'epoch_3.pt', 'latest', 'model.ckpt'])('takes %s', (name) => expect(isCheckpointName(name)).toBe(true));
  it.each(['.hidden', '.flotilla-agent.json', 'tmp-step-100', 'tmpabc', 'step-100.tmp', 'step-100.partial', 'shard.incomplete'])('ignores %s', (name) =>
    expect(isCheckpointName(name)).toBe(false),
  );
});

describe('scanCheckpoints', () => {
  it('snapshots each candidate child, file or folder, with its size and newest mtime', async () => {
    checkpoint('step-1', { 'model.bin': 'abcd', 'sub/opt.bin': 'xy' }, 1_700_000_000);
    checkpoint('step-2.tmp', { 'model.bin': 'partial' });
    writeFileSync(join(dir, 'epoch-3.pt'), 'weights');
    utimesSync(join(dir, 'epoch-3.pt'), 1_700_000_100, 1_700_000_100);
    mkdirSync(join(dir, '.hidden'));
    const s = await scan();
    expect([...s.entries.keys()]).toEqual(['epoch-3.pt', 'step-1']);
    expect(s.entries.get('step-1')).toMatchObject({ kind: 'directory', files: 2, bytes: 6, hasMarker: false });
    expect(s.entries.get('epoch-3.pt')).toMatchObject({ kind: 'file', files: 1, bytes: 7, newestMtimeMs: 1_700_000_100_000 });
    expect(s.at).toBe(1_000);
  });

  it('gives the same fingerprint when nothing changed, another when a byte, an mtime or a file did', async () => {
    checkpoint('step-1', { 'a.bin': 'aaaa', 'b/c.bin': 'cc' });
    const fp = async () => (await scan()).entries.get('step-1')?.fingerprint;
    const first = await fp();
    expect(await fp()).toBe(first);
    appendFileSync(join(dir, 'step-1', 'a.bin'), 'a');
    const grown = await fp();
    expect(grown).not.toBe(first);
    utimesSync(join(dir, 'step-1', 'b', 'c.bin'), 1_700_000_500, 1_700_000_500);
    const touched = await fp();
    expect(touched).not.toBe(grown);
    writeFileSync(join(dir, 'step-1', 'b', 'new'), '');
    expect(await fp()).not.toBe(touched);
  });

  it('sees the marker only as a file directly inside a folder', async () => {
    checkpoint('step-1', { 'model.bin': 'x', COMPLETE: '' });
    checkpoint('step-2', { 'model.bin': 'x', 'nested/COMPLETE': '' });
    writeFileSync(join(dir, 'COMPLETE'), '');
    const s = await scan('COMPLETE');
    expect(s.entries.get('step-1')?.hasMarker).toBe(true);
    expect(s.entries.get('step-2')?.hasMarker).toBe(false);
    expect(s.entries.get('COMPLETE')?.hasMarker).toBe(false);
  });

  it('leaves out the children it is told are not checkpoints (the output folder inside the checkpoint folder)', async () => {
    checkpoint('step-1', { a: 'x' });
    checkpoint('output', { 'model.bin': 'y' });
    const s = await scanCheckpoints(dir, { limits, now: () => 0, exclude: new Set(['output']) });
    expect([...s.entries.keys()]).toEqual(['step-1']);
  });

  it('scans a missing folder as empty', async () => {
    const s = await scanCheckpoints(join(dir, 'not-yet'), { limits, now: () => 5 });
    expect(s.entries.size).toBe(0);
  });

  it('skips an entry over the limits and says why, keeping the others', async () => {
    checkpoint('big', Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, 'x'])));
    checkpoint('small', { a: 'x' });
    const s = await scanCheckpoints(dir, { limits: { maxEntries: 10, maxDepth: 8 }, now: () => 0 });
    expect([...s.entries.keys()]).toEqual(['small']);
    expect(s.skipped).toEqual([{ name: 'big', reason: expect.stringMatching(/more than 10 files and folders/) }]);
  });
});

describe('walkTree', () => {
  it('lists the root first, then depth first in name order, with hidden files and without symlinks', async () => {
    checkpoint('c', { 'b.bin': 'b', '.meta': 'm', 'a/x': 'x' });
    symlinkSync('/etc/passwd', join(dir, 'c', 'link'));
    const records = await walkTree(join(dir, 'c'), limits);
    expect(records.map((r) => `${r.kind[0]} ${r.path}`)).toEqual(['d ', 'f .meta', 'd a', 'f a/x', 'f b.bin']);
  });

  it('leaves out what `skip` names, and what is under it', async () => {
    checkpoint('c', { 'keep.bin': 'k', 'drop/x': 'x', '.flotilla-agent.json': '{}' });
    const records = await walkTree(join(dir, 'c'), limits, (p) => p === 'drop' || p === '.flotilla-agent.json');
    expect(records.map((r) => r.path)).toEqual(['', 'keep.bin']);
  });

  it('refuses a tree nested deeper than the limit', async () => {
    checkpoint('deep', { 'a/b/c/d/e': 'x' });
    await expect(walkTree(join(dir, 'deep'), { maxEntries: 100, maxDepth: 3 })).rejects.toThrow(ScanLimitError);
  });
});

describe('fingerprintOf', () => {
  it('does not depend on the order of the records', () => {
    const a = { path: 'a', kind: 'file' as const, size: 1, mtimeNs: 5n };
    const b = { path: 'b', kind: 'directory' as const, size: 0, mtimeNs: 6n };
    expect(fingerprintOf([a, b])).toBe(fingerprintOf([b, a]));
    expect(fingerprintOf([a, b])).not.toBe(fingerprintOf([a, { ...b, mtimeNs: 7n }]));
  });
});
