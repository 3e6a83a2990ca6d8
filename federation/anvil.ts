// The federation's chain: one real anvil node on loopback (npm @foundry-rs/anvil-linux-amd64),
// chain id 31337 with eleven well-known dev accounts (one more than anvil's default ten, so that the
// receipt signer has an account of its own: the roles are in chain-contracts.ts). Automining; tests
// that need several transactions in one block mine explicitly through anvil's RPC.
import { startDaemon, stopDaemon, waitFor, freePort } from './daemon.ts';
import { toolPaths } from './paths.ts';

export const ANVIL_CHAIN_ID = 31337;
/** Dev accounts anvil derives from its mnemonic: #0–#10, one per role in chain-contracts.ts. */
export const ANVIL_DEV_ACCOUNTS = 11;

export interface AnvilNode {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function rpc<T>(rpcUrl: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export async function startAnvil(opts: { stateDir: string; name?: string; port?: number }): Promise<AnvilNode> {
  const name = opts.name ?? 'anvil';
  const port = opts.port ?? (await freePort());
  const rpcUrl = `http://127.0.0.1:${port}`;
  const daemon = startDaemon(opts.stateDir, {
    name,
    command: toolPaths().anvil,
    args: ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(ANVIL_CHAIN_ID), '--accounts', String(ANVIL_DEV_ACCOUNTS)],
  });
  await waitFor(`anvil on ${rpcUrl}`, async () => (await rpc<string>(rpcUrl, 'eth_chainId')) === `0x${ANVIL_CHAIN_ID.toString(16)}`, {
    timeoutMs: 20_000,
    logFile: daemon.logFile,
  });
  return { rpcUrl, chainId: ANVIL_CHAIN_ID, pid: daemon.pid, stop: () => stopDaemon(opts.stateDir, name) };
}
