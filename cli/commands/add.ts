// `flotilla add PATH`: adds a file or a folder to IPFS (CIDv1, pinned on that node) and prints the CID
// to use as an AIJob input. The Kubo RPC URL: --kubo, else $FLOTILLA_KUBO_API, else the local
// federation's hub Kubo from .flotilla/endpoints.json. The logic is operator/artifacts/kubo.ts.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { KuboNode } from '../../operator/artifacts/kubo.ts';
import { defaultStateDir } from '../local-federation.ts';

/** Where the CLI finds Kubo, in order; undefined when none of them says. */
export function resolveKuboApi(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  if (env.FLOTILLA_KUBO_API) return env.FLOTILLA_KUBO_API;
  const endpoints = join(defaultStateDir(), 'endpoints.json');
  if (!existsSync(endpoints)) return undefined;
  const parsed = JSON.parse(readFileSync(endpoints, 'utf8')) as { kubo?: { hub?: { api?: string } } };
  return parsed.kubo?.hub?.api;
}

export function kuboFrom(flag: string | undefined): KuboNode {
  const api = resolveKuboApi(flag);
  if (!api) throw new Error('no IPFS node: pass --kubo <Kubo RPC URL>, set FLOTILLA_KUBO_API, or start the local federation');
  return new KuboNode(api);
}

/** Adds `path` (a file or a folder) and returns its CID. */
export async function addPath(path: string, opts: { kubo?: string } = {}): Promise<string> {
  const full = resolve(path);
  if (!existsSync(full)) throw new Error(`${path} does not exist`);
  return kuboFrom(opts.kubo).addPath(full);
}

export function register(program: Command): void {
  program
    .command('add')
    .description('add a file or folder to IPFS (pinned) and print its CID, to use as an AIJob input')
    .argument('<path>', 'file or folder')
    .option('--kubo <url>', "Kubo RPC API URL (default $FLOTILLA_KUBO_API, else the local federation's hub Kubo)")
    .action(async (path: string, flags: { kubo?: string }) => {
      process.stdout.write(`${await addPath(path, flags)}\n`);
    });
}
