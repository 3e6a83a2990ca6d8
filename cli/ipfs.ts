// Local input paths of `flotilla submit` go to IPFS first (a file, or a folder with its layout), so
// the AIJob names only CIDs. The Kubo RPC URL: --kubo, else $FLOTILLA_KUBO_API
// (--ipfs-api and $FLOTILLA_IPFS_API, the old names, still work).
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { create, globSource } from 'kubo-rpc-client';
import type { KuboRPCClient } from 'kubo-rpc-client';
import { CID_PATTERN } from '../operator/api/field-schemas.ts';
import { CliError } from './errors.ts';

// kubo-rpc-client's globSource() yields { path, content?: … } where addAll() expects
// { content?: … | undefined }: the same values, typed apart under exactOptionalPropertyTypes.
type AddAllSource = Parameters<KuboRPCClient['addAll']>[0];

export const isCid = (s: string) => new RegExp(CID_PATTERN).test(s);

/** Adds a local file or folder (CIDv1, pinned on that node) and returns its CID. */
export async function addLocalPath(api: string | undefined, path: string): Promise<string> {
  const full = resolve(path);
  if (!existsSync(full)) throw new CliError(`input "${path}" is neither a CID nor an existing file or folder`);
  if (!api) throw new CliError(`input "${path}" is a local path: pass --kubo <Kubo RPC URL> (or set FLOTILLA_KUBO_API) so it can be added to IPFS first`);
  const ipfs = create({ url: api });
  try {
    if (statSync(full).isDirectory()) {
      let root: string | undefined;
      for await (const entry of ipfs.addAll(globSource(full, '**/*', { hidden: true }) as AddAllSource, {
        cidVersion: 1,
        wrapWithDirectory: true,
        pin: true,
      })) {
        if (entry.path === '') root = entry.cid.toString();
      }
      if (!root) throw new CliError(`adding folder ${path} to IPFS returned no root CID`);
      return root;
    }
    const { readFile } = await import('node:fs/promises');
    const added = await ipfs.add({ path: basename(full), content: await readFile(full) }, { cidVersion: 1, pin: true });
    return added.cid.toString();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new CliError(`could not add ${path} to IPFS at ${api}: ${cause ?? (err instanceof Error ? err.message : String(err))}`);
  }
}
