// The agent's port to the provider's Kubo node: add a checkpoint entry wrapped in a folder, add the
// output folder, read blocks for a verified restore. Errors come back as the operator's KuboError
// ("unreachable", "timed out", or Kubo's own words) for the logs and for restore's decision to retry.
//
// Adds go to Kubo's /api/v0/add as a multipart stream written here, with backpressure: the sidecar
// has a small memory limit, and kubo-rpc-client's addAll held a whole 700 MB file in memory before
// Kubo had it (measured: RSS 823 MB). Blocks are read with kubo-rpc-client.
//
// What is uploaded is listed by scan.ts's walk, not by a glob: hidden files are included, symlinks
// are not followed (nothing from outside the folder), and names need no glob escaping.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create } from 'kubo-rpc-client';
import type { KuboRPCClient } from 'kubo-rpc-client';
import type { CID } from 'multiformats/cid';
import { describeKuboError } from '../artifacts/kubo.ts';
import { boundText, TEXT_BOUNDS } from '../core/bounded-text.ts';
import { isCid } from '../core/lifecycle/report.ts';
import { walkTree } from './scan.ts';
import type { TreeRecord, WalkLimits } from './scan.ts';

export interface AddOptions {
  readonly limits: WalkLimits;
  readonly signal: AbortSignal;
  /** Relative paths (and what is under them) to leave out. */
  readonly skip?: (path: string) => boolean;
}

/** One part of the upload: a folder (no file) or a file read from `file`, at `path` in the upload. */
interface UploadEntry {
  readonly path: string;
  readonly file?: string;
}

/** `records` of `root` as upload entries under `prefix`. */
export function uploadEntries(root: string, prefix: string, records: readonly TreeRecord[]): UploadEntry[] {
  return records.map((r) => {
    const path = r.path === '' ? prefix : `${prefix}/${r.path}`;
    return r.kind === 'file' ? { path, file: r.path === '' ? root : join(root, r.path) } : { path };
  });
}

/** The multipart body Kubo's add reads (the layout kubo-rpc-client sends), file contents streamed. */
async function* multipartBody(boundary: string, entries: readonly UploadEntry[]): AsyncGenerator<Buffer> {
  for (const [i, e] of entries.entries()) {
    const field = `${e.file !== undefined ? 'file' : 'dir'}${i > 0 ? `-${i}` : ''}`;
    const type = e.file !== undefined ? 'application/octet-stream' : 'application/x-directory';
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${encodeURIComponent(e.path)}"\r\nContent-Type: ${type}\r\n\r\n`,
    );
    // O_NOFOLLOW: a file the trainer swapped for a symlink since the walk is not followed out of the folder.
    if (e.file !== undefined) yield* (await open(e.file, constants.O_RDONLY | constants.O_NOFOLLOW)).createReadStream();
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}

/** Longest line of Kubo's answer kept: one entry's {Name, Hash, Size}, with a long path. */
const MAX_LINE = 64 * 1024;

/** Reads add's NDJSON answer line by line (one per file and folder: not kept), returning the CID named `want`. */
async function addedCid(res: IncomingMessage, want: string): Promise<string> {
  res.setEncoding('utf8');
  let buffered = '';
  let found: string | undefined;
  let failure: string | undefined;
  const line = (text: string) => {
    if (text.trim() === '') return;
    let v: { Name?: unknown; Hash?: unknown; Message?: unknown; Type?: unknown };
    try {
      v = JSON.parse(text) as typeof v;
    } catch {
      // Not Kubo's JSON (a proxy's or the auth layer's plain-text refusal): its words, bounded.
      failure ??= boundText(text.trim(), TEXT_BOUNDS.message);
      return;
    }
    if (v.Type === 'error' || (v.Message !== undefined && v.Hash === undefined))
      failure = boundText(typeof v.Message === 'string' ? v.Message : text, TEXT_BOUNDS.message);
    else if (v.Name === want && v.Hash !== undefined) {
      // It becomes the report's and the termination message's CID: anything else fails this add, not the flush.
      if (!isCid(v.Hash)) throw new Error(`Kubo answered a Hash that is not a CID for ${want === '' ? 'the wrapping folder' : want}`);
      found = v.Hash;
    }
  };
  for await (const chunk of res as AsyncIterable<string>) {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      line(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
    if (buffered.length > MAX_LINE) throw new Error(`Kubo answered a line longer than ${MAX_LINE} characters`);
  }
  line(buffered);
  const streamError = res.trailers['x-stream-error'];
  if (res.statusCode !== 200 || failure !== undefined || streamError)
    throw new Error(failure ?? (boundText(streamError, TEXT_BOUNDS.message) || `HTTP ${res.statusCode}`));
  if (found === undefined) throw new Error(`Kubo returned no CID for ${want === '' ? 'the wrapping folder' : want}`);
  return found;
}

export class AgentKubo {
  readonly api: string;
  private readonly client: KuboRPCClient;
  /** The provider's Kubo credential (an API.Authorizations entry), sent with every request. */
  private readonly auth: Record<string, string>;

  constructor(api: string, authorization?: string) {
    this.api = api;
    this.auth = authorization !== undefined ? { authorization } : {};
    this.client = create({ url: api, headers: this.auth });
  }

  /** Uploads `entries` (CIDv1, pinned); returns the CID of the entry at `want` ('' = the wrapping folder). */
  private async add(action: string, entries: readonly UploadEntry[], wrap: boolean, want: string, signal: AbortSignal): Promise<string> {
    const url = new URL(`${this.api}/api/v0/add`);
    for (const [k, v] of Object.entries({ 'cid-version': '1', pin: 'true', 'wrap-with-directory': String(wrap), progress: 'false', 'stream-channels': 'true' }))
      url.searchParams.set(k, v);
    const boundary = `flotilla-agent-${randomBytes(12).toString('hex')}`;
    let localError: unknown;
    try {
      return await new Promise<string>((resolve, reject) => {
        const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const req = request(url, { method: 'POST', headers: { ...this.auth, 'content-type': `multipart/form-data; boundary=${boundary}` }, signal });
        // An answer that fails to read ends the upload too, instead of streaming the rest for nothing.
        req.once(
          'response',
          (res) =>
            void addedCid(res, want).then(resolve, (err: unknown) => {
              reject(err);
              req.destroy();
            }),
        );
        req.once('error', (err) => reject(localError ?? err));
        pipeline(Readable.from(multipartBody(boundary, entries)), req).catch((err: unknown) => {
          // A file that could not be read is ours to report, not Kubo's; a failed send shows on req.
          if ((err as { syscall?: string }).syscall !== undefined && (err as { path?: string }).path !== undefined) localError = err;
          req.destroy(err as Error);
        });
      });
    } catch (err) {
      if (localError !== undefined) throw localError;
      throw describeKuboError(err, this.api, action);
    }
  }

  /**
   * Adds the entry `dir/name` (a file or a folder) inside a folder that holds only it, and returns
   * that folder's CID: restoring it re-creates `<checkpoint path>/<name>` under its own name.
   */
  async addWrapped(dir: string, name: string, opts: AddOptions): Promise<string> {
    const root = join(dir, name);
    const records = await walkTree(root, opts.limits, opts.skip);
    if (records.length === 0) throw new Error(`${root} is neither a file nor a folder`);
    return this.add(`adding checkpoint ${name}`, uploadEntries(root, name, records), true, '', opts.signal);
  }

  /** Adds the folder `dir` with everything in it (hidden files too); returns the folder's own CID. */
  async addFolder(dir: string, opts: AddOptions): Promise<string> {
    const records = await walkTree(dir, opts.limits, opts.skip);
    if (records[0]?.kind !== 'directory') throw new Error(`${dir} is not a folder`);
    // The top folder's name in the upload is only a handle for finding its CID: a folder's CID does
    // not depend on its own name, only on its entries'.
    return this.add(`adding ${dir}`, uploadEntries(dir, 'output', records), false, 'output', opts.signal);
  }

  /** Kubo's block/get, bounded in time; the bytes are checked against the CID by the walker, not here. */
  blockReader(timeoutMs: number, signal?: AbortSignal): (cid: CID) => Promise<Uint8Array> {
    return async (cid) => {
      const deadline = AbortSignal.timeout(timeoutMs);
      try {
        return await this.client.block.get(cid, { signal: signal ? AbortSignal.any([deadline, signal]) : deadline });
      } catch (err) {
        throw describeKuboError(err, this.api, `reading block ${cid}`, timeoutMs);
      }
    };
  }
}
