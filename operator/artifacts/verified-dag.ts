// Reads a UnixFS DAG (what `ipfs add` makes of a file or a folder) block by block and checks every
// block against the hash its CID names before using a byte of it: the IPFS node that serves the
// blocks is not trusted, the CID is. So the files `flotilla get` writes are the output the receipt
// names, whoever served them.
//
//   root CID ─▶ getBlock ─▶ hash(bytes) == CID's digest? ─▶ dag-pb + UnixFS: file | directory
//                                                             file: leaves in order → onData
//                                                             directory: each named link, recursively
//
// Pure: the blocks come from `getBlock` (Kubo's block/get in the CLI, a Map in the tests), the
// bytes go to `sink`. Supported: CIDv0/v1, dag-pb and raw codecs, sha2-256 and identity hashes,
// files and plain directories (what `ipfs add` writes by default). Anything else — HAMT-sharded
// directories (more than about 10,000 entries), symlinks, other hashes — is refused by name rather
// than skipped. Entry names are checked so a hostile DAG cannot write outside the target folder.
import { createHash } from 'node:crypto';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';

const RAW = 0x55;
const SHA2_256 = 0x12;
const IDENTITY = 0x00;

export class DagVerificationError extends Error {
  override readonly name = 'DagVerificationError';
}

export interface DagSink {
  /** A folder at `path` (relative, '/'-separated; '' is the root). */
  directory(path: string): Promise<void>;
  /** A file at `path`: called once per file, then `data` for its bytes in order, then `end`. */
  file(path: string): Promise<void>;
  data(path: string, bytes: Uint8Array): Promise<void>;
  end(path: string): Promise<void>;
}

export interface DagLimits {
  /** Most content bytes written in all (files' data). */
  readonly maxBytes: number;
  /** Most entries (files and folders) in all. */
  readonly maxEntries: number;
  /** Deepest nesting of blocks (files' trees and folders together). */
  readonly maxDepth: number;
}

export const DEFAULT_DAG_LIMITS: DagLimits = { maxBytes: 16 * 1024 ** 3, maxEntries: 100_000, maxDepth: 64 };

export interface DagSummary {
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
}

/** The block's bytes, checked against the CID's multihash; throws DagVerificationError when they differ. */
export function checkBlock(cid: CID, bytes: Uint8Array): void {
  const { code, digest } = cid.multihash;
  if (code === IDENTITY) {
    if (!Buffer.from(digest).equals(Buffer.from(bytes))) throw new DagVerificationError(`block ${cid} does not match its (identity) CID`);
    return;
  }
  if (code !== SHA2_256) throw new DagVerificationError(`block ${cid} uses hash function 0x${code.toString(16)}; only sha2-256 and identity can be verified`);
  const actual = createHash('sha256').update(bytes).digest();
  if (!actual.equals(Buffer.from(digest)))
    throw new DagVerificationError(`block ${cid} does not match its CID: the IPFS node served other bytes (sha2-256 ${actual.toString('hex')})`);
}

/** A directory entry's name, refused when it could leave the folder or is not a plain name. */
export function safeEntryName(name: string | undefined, parent: string): string {
  const where = parent === '' ? 'the output' : parent;
  if (name === undefined || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new DagVerificationError(`${where} has an entry named ${JSON.stringify(name ?? '')}, which is not a plain file name; refusing to write it`);
  }
  return name;
}

const join = (parent: string, name: string) => (parent === '' ? name : `${parent}/${name}`);

export class DagWalker {
  private files = 0;
  private directories = 0;
  private bytes = 0;
  private readonly getBlock: (cid: CID) => Promise<Uint8Array>;
  private readonly sink: DagSink;
  private readonly limits: DagLimits;

  constructor(getBlock: (cid: CID) => Promise<Uint8Array>, sink: DagSink, limits: DagLimits = DEFAULT_DAG_LIMITS) {
    this.getBlock = getBlock;
    this.sink = sink;
    this.limits = limits;
  }

  /** Walks the DAG under `root` into the sink: a file root is written at `rootName`, a folder's entries at the top. */
  async walk(root: string, rootName: string): Promise<DagSummary> {
    let cid: CID;
    try {
      cid = CID.parse(root);
    } catch (err) {
      throw new DagVerificationError(`${root} is not a CID: ${err instanceof Error ? err.message : String(err)}`);
    }
    await this.node(cid, '', 0, rootName);
    return { files: this.files, directories: this.directories, bytes: this.bytes };
  }

  private async block(cid: CID, depth: number): Promise<Uint8Array> {
    if (depth > this.limits.maxDepth) throw new DagVerificationError(`the DAG is deeper than ${this.limits.maxDepth} blocks at ${cid}`);
    const bytes = cid.multihash.code === IDENTITY ? cid.multihash.digest : await this.getBlock(cid);
    checkBlock(cid, bytes);
    return bytes;
  }

  private count(kind: 'file' | 'directory'): void {
    if (kind === 'file') this.files += 1;
    else this.directories += 1;
    if (this.files + this.directories > this.limits.maxEntries) throw new DagVerificationError(`the output has more than ${this.limits.maxEntries} entries`);
  }

  /** One entry at `path`; the root (path '') is a folder written in place, or a file written at `rootFile`. */
  private async node(cid: CID, entryPath: string, depth: number, rootFile?: string): Promise<void> {
    const filePath = rootFile ?? entryPath;
    const bytes = await this.block(cid, depth);
    if (cid.code === RAW) {
      this.count('file');
      await this.sink.file(filePath);
      await this.write(filePath, bytes);
      await this.sink.end(filePath);
      return;
    }
    if (cid.code !== dagPb.code) throw new DagVerificationError(`block ${cid} has codec 0x${cid.code.toString(16)}; a UnixFS output is dag-pb or raw`);
    const pb = this.decode(cid, bytes);
    const fs = this.unixfs(cid, pb);
    if (fs.type === 'directory') {
      this.count('directory');
      await this.sink.directory(entryPath);
      for (const link of pb.Links) await this.node(link.Hash, join(entryPath, safeEntryName(link.Name, entryPath)), depth + 1);
      return;
    }
    if (fs.type === 'file' || fs.type === 'raw') {
      this.count('file');
      await this.sink.file(filePath);
      await this.fileData(cid, pb, fs, filePath, depth);
      await this.sink.end(filePath);
      return;
    }
    throw new DagVerificationError(
      `${entryPath === '' ? 'the output' : entryPath} is a UnixFS ${fs.type}, which flotilla get does not write (only files and plain folders)`,
    );
  }

  /** A file node's bytes: its own data, then each child's, in link order. */
  private async fileData(cid: CID, pb: dagPb.PBNode, fs: UnixFS, path: string, depth: number): Promise<void> {
    if (fs.data && fs.data.length > 0) await this.write(path, fs.data);
    if (pb.Links.length !== fs.blockSizes.length && pb.Links.length > 0)
      throw new DagVerificationError(`file block ${cid} has ${pb.Links.length} links but ${fs.blockSizes.length} block sizes`);
    for (const link of pb.Links) {
      const child = await this.block(link.Hash, depth + 1);
      if (link.Hash.code === RAW) {
        await this.write(path, child);
        continue;
      }
      if (link.Hash.code !== dagPb.code) throw new DagVerificationError(`file block ${link.Hash} has codec 0x${link.Hash.code.toString(16)}`);
      const childPb = this.decode(link.Hash, child);
      const childFs = this.unixfs(link.Hash, childPb);
      if (childFs.type !== 'file' && childFs.type !== 'raw') throw new DagVerificationError(`file ${path} has a ${childFs.type} block ${link.Hash} inside it`);
      await this.fileData(link.Hash, childPb, childFs, path, depth + 1);
    }
  }

  private async write(path: string, bytes: Uint8Array): Promise<void> {
    this.bytes += bytes.length;
    if (this.bytes > this.limits.maxBytes) throw new DagVerificationError(`the output is larger than ${this.limits.maxBytes} bytes (--max-bytes)`);
    await this.sink.data(path, bytes);
  }

  private decode(cid: CID, bytes: Uint8Array): dagPb.PBNode {
    try {
      return dagPb.decode(bytes);
    } catch (err) {
      throw new DagVerificationError(`block ${cid} is not valid dag-pb: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private unixfs(cid: CID, pb: dagPb.PBNode): UnixFS {
    if (!pb.Data) throw new DagVerificationError(`block ${cid} has no UnixFS data`);
    try {
      return UnixFS.unmarshal(pb.Data);
    } catch (err) {
      throw new DagVerificationError(`block ${cid} has invalid UnixFS data: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
