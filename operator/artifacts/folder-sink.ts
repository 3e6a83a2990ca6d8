// Writes a verified DAG walk (verified-dag.ts) as files and folders under `root`: the one writer that
// `flotilla get` and the job agent's restore share. Files are created exclusively, so a duplicate
// entry name fails instead of overwriting; the walker has already refused names that leave `root`.
import { chmod, mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DagSink } from './verified-dag.ts';

export class FolderSink implements DagSink {
  protected readonly root: string;
  private readonly handles = new Map<string, FileHandle>();
  /** Writable by everyone (whatever the umask): for a folder another user must be able to change. */
  private readonly shared: boolean;

  constructor(root: string, opts: { shared?: boolean } = {}) {
    this.root = root;
    this.shared = opts.shared ?? false;
  }

  /** Where `path` is written; a subclass refuses here what it must not write. */
  protected target(path: string): string {
    return join(this.root, path);
  }

  async directory(path: string): Promise<void> {
    if (path === '') return;
    const abs = this.target(path);
    await mkdir(abs);
    if (this.shared) await chmod(abs, 0o777);
  }

  async file(path: string): Promise<void> {
    const handle = await open(this.target(path), 'wx', 0o666);
    this.handles.set(path, handle);
    if (this.shared) await handle.chmod(0o666);
  }

  async data(path: string, bytes: Uint8Array): Promise<void> {
    await this.handles.get(path)?.write(bytes);
  }

  async end(path: string): Promise<void> {
    await this.handles.get(path)?.close();
    this.handles.delete(path);
  }

  async closeAll(): Promise<void> {
    for (const h of this.handles.values()) await h.close().catch(() => undefined);
    this.handles.clear();
  }
}
