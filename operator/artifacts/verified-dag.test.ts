// The verified UnixFS walk of `flotilla get`, over DAGs encoded here the way `ipfs add` encodes them
// (dag-pb + UnixFS, raw leaves, CIDv1 sha2-256): what it writes, and what it refuses — a block whose
// bytes differ from its CID, a name that would leave the target folder, the size bound.
import { createHash } from 'node:crypto';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { checkBlock, DagVerificationError, DagWalker, DEFAULT_DAG_LIMITS, safeEntryName } from './verified-dag.ts';
import type { DagSink } from './verified-dag.ts';

const RAW = 0x55;
const sha256 = (bytes: Uint8Array) => Digest.create(0x12, createHash('sha256').update(bytes).digest());

class Store {
  readonly blocks = new Map<string, Uint8Array>();
  put(code: number, bytes: Uint8Array): CID {
    const cid = CID.createV1(code, sha256(bytes));
    this.blocks.set(cid.toString(), bytes);
    return cid;
  }
  raw(text: string): CID {
    return this.put(RAW, new TextEncoder().encode(text));
  }
  /** A file of raw leaves, as `ipfs add --raw-leaves` chunks a large one. */
  file(chunks: string[]): CID {
    const leaves = chunks.map((c) => ({ cid: this.raw(c), size: new TextEncoder().encode(c).length }));
    const fs = new UnixFS({ type: 'file' });
    for (const l of leaves) fs.addBlockSize(BigInt(l.size));
    return this.put(dagPb.code, dagPb.encode({ Data: fs.marshal(), Links: leaves.map((l) => ({ Hash: l.cid, Tsize: l.size })) }));
  }
  dir(entries: Record<string, CID>): CID {
    const links = Object.entries(entries)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([Name, Hash]) => ({ Name, Hash, Tsize: 1 }));
    return this.put(dagPb.code, dagPb.encode({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: links }));
  }
  get = async (cid: CID): Promise<Uint8Array> => {
    const b = this.blocks.get(cid.toString());
    if (!b) throw new Error(`no block ${cid}`);
    return b;
  };
}

class MemorySink implements DagSink {
  readonly files = new Map<string, string>();
  readonly dirs: string[] = [];
  async directory(path: string) {
    this.dirs.push(path);
  }
  async file(path: string) {
    if (this.files.has(path)) throw new Error(`${path} exists`);
    this.files.set(path, '');
  }
  async data(path: string, bytes: Uint8Array) {
    this.files.set(path, (this.files.get(path) ?? '') + new TextDecoder().decode(bytes));
  }
  async end() {}
}

describe('DagWalker', () => {
  it('writes a folder of files (one chunked, one in a subfolder) with every byte in order', async () => {
    const s = new Store();
    const root = s.dir({ 'model.bin': s.file(['abc', 'def', 'ghi']), logs: s.dir({ 'train.txt': s.raw('loss 0.1\n') }) });
    const sink = new MemorySink();
    const summary = await new DagWalker(s.get, sink).walk(root.toString(), 'output');
    expect(Object.fromEntries(sink.files)).toEqual({ 'model.bin': 'abcdefghi', 'logs/train.txt': 'loss 0.1\n' });
    expect(sink.dirs).toEqual(['', 'logs']);
    expect(summary).toEqual({ files: 2, directories: 2, bytes: 18 });
  });

  it('writes a single-file output under the root name', async () => {
    const s = new Store();
    const sink = new MemorySink();
    await new DagWalker(s.get, sink).walk(s.file(['{"loss":', '0.1}']).toString(), 'output');
    expect(Object.fromEntries(sink.files)).toEqual({ output: '{"loss":0.1}' });
  });

  it('refuses a block whose bytes are not the ones its CID names', async () => {
    const s = new Store();
    const leaf = s.raw('the real weights');
    const root = s.dir({ 'model.bin': leaf });
    s.blocks.set(leaf.toString(), new TextEncoder().encode('forged weights!!'));
    await expect(new DagWalker(s.get, new MemorySink()).walk(root.toString(), 'output')).rejects.toThrow(
      new RegExp(`block ${leaf} does not match its CID: the IPFS node served other bytes`),
    );
  });

  it('refuses a tampered folder block too (its links are what the walk follows)', async () => {
    const s = new Store();
    const root = s.dir({ a: s.raw('a') });
    const evil = s.dir({ a: s.raw('b') });
    s.blocks.set(root.toString(), s.blocks.get(evil.toString()) as Uint8Array);
    await expect(new DagWalker(s.get, new MemorySink()).walk(root.toString(), 'output')).rejects.toBeInstanceOf(DagVerificationError);
  });

  it('refuses names that would leave the folder', async () => {
    for (const name of ['..', '.', '', 'a/b', 'a\\b']) expect(() => safeEntryName(name, '')).toThrow(/not a plain file name/);
    expect(safeEntryName('ok.txt', 'sub')).toBe('ok.txt');
    const s = new Store();
    const root = s.dir({ '..': s.raw('escape') });
    await expect(new DagWalker(s.get, new MemorySink()).walk(root.toString(), 'output')).rejects.toThrow(/an entry named "\.\."/);
  });

  it('stops at the byte bound', async () => {
    const s = new Store();
    const root = s.file(['0123456789', '0123456789']);
    await expect(new DagWalker(s.get, new MemorySink(), { ...DEFAULT_DAG_LIMITS, maxBytes: 15 }).walk(root.toString(), 'output')).rejects.toThrow(
      /larger than 15 bytes/,
    );
  });

  it('refuses what is not a CID, and hashes it cannot check', () => {
    expect(() => checkBlock(CID.createV1(RAW, Digest.create(0x1e, new Uint8Array(32))), new Uint8Array())).toThrow(/only sha2-256 and identity/);
    return expect(new DagWalker(async () => new Uint8Array(), new MemorySink()).walk('not-a-cid', 'output')).rejects.toThrow(/is not a CID/);
  });
});
