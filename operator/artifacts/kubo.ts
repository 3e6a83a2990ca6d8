// The operator's port to a Kubo node over its RPC API (kubo-rpc-client): pin (with a timeout, so a
// CID nobody provides fails instead of hanging), pin ls, unpin, add (bytes, a file or a folder),
// cat. Errors come back as KuboError with a message a user can act on — "unreachable", "timed out",
// or Kubo's own words — because they end up in conditions.
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { create, globSource } from 'kubo-rpc-client';
import type { CID, KuboRPCClient } from 'kubo-rpc-client';
import { parseCid } from './cid.ts';

// kubo-rpc-client's globSource() yields { path, content?: … } where addAll() expects
// { content?: … | undefined }: the same values, typed apart under exactOptionalPropertyTypes.
type AddAllSource = Parameters<KuboRPCClient['addAll']>[0];

export type KuboErrorKind = 'unreachable' | 'timeout' | 'refused';

export class KuboError extends Error {
  override readonly name = 'KuboError';
  readonly kind: KuboErrorKind;
  constructor(kind: KuboErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Turns what kubo-rpc-client (fetch, undici) throws into a KuboError naming the node and the cause. */
export function describeKuboError(err: unknown, api: string, action: string, timeoutMs?: number): KuboError {
  if (err instanceof KuboError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  const code = causeCode(err);
  if (code && CONNECTION_CODES.has(code)) return new KuboError('unreachable', `${action}: the IPFS node at ${api} is unreachable (${code})`, { cause: err });
  if (name === 'TimeoutError' || name === 'AbortError' || /context deadline exceeded|timed? ?out/i.test(message)) {
    const after = timeoutMs !== undefined ? ` after ${Math.round(timeoutMs / 100) / 10}s` : '';
    return new KuboError('timeout', `${action}: timed out${after} at ${api} (no connected peer provided the blocks?)`, { cause: err });
  }
  if (/fetch failed/i.test(message)) return new KuboError('unreachable', `${action}: the IPFS node at ${api} is unreachable (${message})`, { cause: err });
  return new KuboError('refused', `${action}: ${api} answered: ${message}`, { cause: err });
}

export interface PinOptions {
  /** Gives up after this long (server side and client side). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export class KuboNode {
  readonly api: string;
  private readonly client: KuboRPCClient;

  constructor(api: string) {
    this.api = api.replace(/\/+$/, '');
    this.client = create({ url: this.api });
  }

  private async call<T>(action: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describeKuboError(err, this.api, action, timeoutMs);
    }
  }

  /** Recursive pin; pinning what is already pinned is a no-op in Kubo, so this is idempotent. */
  async pin(cid: string, opts: PinOptions): Promise<void> {
    const parsed = parseCid(cid);
    await this.call(
      `pinning ${cid}`,
      () =>
        this.client.pin.add(parsed, {
          recursive: true,
          // Sent to Kubo too (?timeout=…ms), which then cancels the fetch of the blocks itself.
          timeout: opts.timeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        }),
      opts.timeoutMs,
    );
  }

  /** Whether `cid` is pinned recursively (directly pinned roots, as `pin add` makes them). */
  async isPinned(cid: string): Promise<boolean> {
    const parsed = parseCid(cid);
    return this.call(`listing the pin of ${cid}`, async () => {
      try {
        for await (const p of this.client.pin.ls({ paths: parsed, type: 'recursive' })) if (p.cid.equals(parsed)) return true;
        return false;
      } catch (err) {
        if (/is not pinned/i.test(err instanceof Error ? err.message : String(err))) return false;
        throw err;
      }
    });
  }

  /** Every recursive pin, as CID strings (v1 base32 where Kubo reports v1). */
  async recursivePins(): Promise<string[]> {
    return this.call('listing pins', async () => {
      const out: string[] = [];
      for await (const p of this.client.pin.ls({ type: 'recursive' })) out.push(p.cid.toString());
      return out;
    });
  }

  async unpin(cid: string): Promise<void> {
    const parsed = parseCid(cid);
    await this.call(`unpinning ${cid}`, async () => {
      try {
        await this.client.pin.rm(parsed, { recursive: true });
      } catch (err) {
        if (!/not pinned/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    });
  }

  /** Adds bytes as one UnixFS file (CIDv1, pinned); returns its CID. */
  async addBytes(content: string | Uint8Array): Promise<string> {
    return this.call('adding content', async () => (await this.client.add(content, { cidVersion: 1, pin: true })).cid.toString());
  }

  /** Adds in-memory files as one folder (CIDv1, pinned); returns the folder's CID. */
  async addFolder(files: ReadonlyArray<{ path: string; content: Uint8Array }>): Promise<string> {
    return this.call('adding a folder', async () => {
      let root: CID | undefined;
      for await (const entry of this.client.addAll(
        files.map((f) => ({ path: f.path, content: f.content })),
        { cidVersion: 1, pin: true, wrapWithDirectory: true },
      )) {
        if (entry.path === '') root = entry.cid;
      }
      if (!root) throw new Error('Kubo returned no root for the folder');
      return root.toString();
    });
  }

  /**
   * Adds a file, or a folder with everything in it (hidden files too), as CIDv1 and pinned; returns
   * the CID of the file or of the folder.
   */
  async addPath(path: string): Promise<string> {
    const stat = statSync(path);
    if (stat.isFile()) {
      return this.call(`adding ${path}`, async () =>
        (await this.client.add({ path: basename(path), content: createReadStream(path) }, { cidVersion: 1, pin: true })).cid.toString(),
      );
    }
    if (!stat.isDirectory()) throw new Error(`${path} is neither a file nor a folder`);
    return this.call(`adding ${path}`, async () => {
      let root: CID | undefined;
      // wrapWithDirectory: the folder's entries under one root; that root ('' path) comes last.
      for await (const entry of this.client.addAll(globSource(path, '**/*', { hidden: true }) as AddAllSource, {
        cidVersion: 1,
        pin: true,
        wrapWithDirectory: true,
      })) {
        if (entry.path === '') root = entry.cid;
      }
      if (!root) throw new Error(`Kubo returned no root for ${path}`);
      return root.toString();
    });
  }

  /**
   * The content of a file CID, at most `maxBytes`. `offline`: from this node's own blockstore only
   * (fails instead of fetching from peers), which proves the blocks are here.
   */
  async cat(cid: string, opts: { offline?: boolean; maxBytes?: number; timeoutMs?: number } = {}): Promise<Uint8Array> {
    const parsed = parseCid(cid);
    const max = opts.maxBytes ?? 4 * 1024 * 1024;
    return this.call(
      `reading ${cid}`,
      async () => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        // Unknown options go to Kubo as query parameters: ?offline=true is Kubo's global --offline.
        const options = { length: max + 1, ...(opts.offline ? { offline: true } : {}), ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}) };
        for await (const chunk of this.client.cat(parsed, options)) {
          size += chunk.length;
          if (size > max) throw new Error(`${cid} is larger than ${max} bytes`);
          chunks.push(chunk);
        }
        return Buffer.concat(chunks);
      },
      opts.timeoutMs,
    );
  }
}
