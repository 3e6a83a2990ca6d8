// Helpers of the artifacts suites: the real Kubo pair of the federation, a private Kubo daemon a
// test may stop and start (never the shared ones), the anvil dev key that signs receipts, and the
// `flotilla` commands run as processes.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDNodeWallet } from 'ethers';
import { create } from 'kubo-rpc-client';
import { RECEIPT_SIGNER_ACCOUNT } from '../../federation/chain-contracts.ts';
import { runCommand } from '../../federation/command.ts';
import { freePort } from '../../federation/daemon.ts';
import { loopbackConfig } from '../../federation/kubo.ts';
import { toolPaths } from '../../federation/paths.ts';
import { KuboNode } from '../../operator/artifacts/kubo.ts';
import { runFlotilla } from '../support/cli.ts';
import { federation, pollUntil } from '../support/federation.ts';

export const hubKubo = () => new KuboNode(federation().kubo.hub.api);
export const providerKubo = () => new KuboNode(federation().kubo.provider.api);

/** anvil's public test mnemonic, the receipt signer's account: a dev key anvil itself lists, never a real one. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
export function receiptWallet(): HDNodeWallet {
  // The federation's receipt-signer role, not the settler's nor a provider's or payer's key.
  return HDNodeWallet.fromPhrase(ANVIL_MNEMONIC, undefined, `m/44'/60'/0'/0/${RECEIPT_SIGNER_ACCOUNT}`);
}

/** The addresses anvil serves (eth_accounts): proves the receipt key is one of its dev keys. */
export async function anvilAccounts(): Promise<string[]> {
  const res = await fetch(federation().anvil.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] }),
  });
  return ((await res.json()) as { result: string[] }).result.map((a) => a.toLowerCase());
}

/** The real `flotilla` CLI (test/support/cli.ts). */
export const flotilla = (args: string[], env: Record<string, string> = {}) => runFlotilla(args, env);

/** A valid CID whose content exists on no node: hashed by the hub's Kubo (only-hash), never stored. */
export async function unfetchableCid(): Promise<string> {
  const bytes = new TextEncoder().encode(`never stored ${process.pid} ${Date.now()} ${Math.random()}`);
  return (await create({ url: federation().kubo.hub.api }).add(bytes, { onlyHash: true, cidVersion: 1 })).cid.toString();
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Recursive pins of the node as raw RPC reports them (a duplicate would show twice). */
export async function recursivePinList(api: string): Promise<string[]> {
  const res = await fetch(`${api}/api/v0/pin/ls?type=recursive`, { method: 'POST' });
  const body = (await res.json()) as { Keys: Record<string, unknown> };
  return Object.keys(body.Keys ?? {});
}

/**
 * A Kubo daemon of the test's own (own repo, own ports), peered with the federation's provider
 * Kubo like the hub's is, so a test can stop and start it without touching shared daemons.
 */
export class PrivateKubo {
  readonly repo: string;
  api = '';
  private child?: ChildProcess;
  private ports?: { api: number; gateway: number; swarm: number };
  private readonly logFile: string;
  /** Kubo's API.Authorizations: with any, every RPC call needs a credential (the test's own is `admin`). */
  private readonly authorizations?: Record<string, { AuthSecret: string; AllowedPaths: string[] }>;
  private readonly adminHeaders: Record<string, string>;

  constructor(opts: { authorizations?: Record<string, { AuthSecret: string; AllowedPaths: string[] }> } = {}) {
    this.repo = mkdtempSync(join(tmpdir(), 'flotilla-kubo-'));
    this.logFile = join(this.repo, 'daemon.log');
    if (opts.authorizations) {
      const admin = `admin-${Math.random().toString(36).slice(2)}`;
      this.authorizations = { ...opts.authorizations, admin: { AuthSecret: `bearer:${admin}`, AllowedPaths: ['/api/v0'] } };
      this.adminHeaders = { authorization: `Bearer ${admin}` };
    } else this.adminHeaders = {};
  }

  get node(): KuboNode {
    return new KuboNode(this.api);
  }

  async init(): Promise<void> {
    const ipfs = toolPaths().ipfs;
    await runCommand(ipfs, ['init', '--profile=test', '--empty-repo'], { env: { IPFS_PATH: this.repo } });
    this.ports = { api: await freePort(), gateway: await freePort(), swarm: await freePort() };
    const provider = federation().kubo.provider;
    const swarmPort = Number(/\/tcp\/(\d+)\//.exec(provider.swarm)?.[1]);
    const configFile = join(this.repo, 'config');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    const closed = loopbackConfig(config, this.ports, { id: provider.peerId, swarmPort }) as { API?: Record<string, unknown> };
    if (this.authorizations) closed.API = { ...closed.API, Authorizations: this.authorizations };
    writeFileSync(configFile, JSON.stringify(closed, null, 2));
    this.api = `http://127.0.0.1:${this.ports.api}`;
  }

  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(toolPaths().ipfs, ['daemon', '--migrate=false', '--enable-gc=false'], {
      env: { ...process.env, IPFS_PATH: this.repo, GOMAXPROCS: '1' },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    await pollUntil(
      `private Kubo API on ${this.api}`,
      () =>
        fetch(`${this.api}/api/v0/id`, { method: 'POST', headers: this.adminHeaders }).then(
          (r) => r.ok,
          () => false,
        ),
      (ok) => ok,
      60_000,
      250,
    );
    const provider = federation().kubo.provider;
    await pollUntil(
      'private Kubo peered with the provider Kubo',
      async () => {
        await fetch(`${this.api}/api/v0/swarm/connect?arg=${encodeURIComponent(provider.swarm)}`, { method: 'POST', headers: this.adminHeaders }).catch(
          () => undefined,
        );
        const peers = (await (await fetch(`${this.api}/api/v0/swarm/peers`, { method: 'POST', headers: this.adminHeaders })).json()) as {
          Peers: Array<{ Peer: string }> | null;
        };
        return (peers.Peers ?? []).some((p) => p.Peer === provider.peerId);
      },
      (ok) => ok,
      30_000,
      500,
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.repo, { recursive: true, force: true });
  }

  logs(): string {
    return readFileSync(this.logFile, 'utf8');
  }
}
