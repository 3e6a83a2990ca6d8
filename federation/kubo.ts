// Two real Kubo daemons on loopback: one on the hub side (the operator pins there) and one on the
// provider side (simulated workloads add their outputs there). They are online but see only each
// other: no bootstrap peers, no DHT (Routing.Type none), no mDNS, no AutoConf, swarm on 127.0.0.1,
// and Peering keeps them connected, so a `pin add` on the hub really pulls the blocks over
// bitswap from the provider's node.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './command.ts';
import { freePorts, startDaemon, stopDaemon, waitFor } from './daemon.ts';

export type KuboRole = 'hub' | 'provider';

export interface KuboEndpoint {
  readonly role: KuboRole;
  /** RPC API base, e.g. http://127.0.0.1:5001 (kubo-rpc-client `create({ url })`). */
  readonly api: string;
  readonly gateway: string;
  readonly peerId: string;
  readonly swarm: string;
  readonly repo: string;
}

const daemonName = (role: KuboRole) => `kubo-${role}`;
export const kuboRepo = (stateDir: string, role: KuboRole) => join(stateDir, 'ipfs', role);

interface Ports {
  api: number;
  gateway: number;
  swarm: number;
}

/** Rewrites a freshly initialised repo's config for a closed, loopback-only pair. */
export function loopbackConfig(config: Record<string, unknown>, ports: Ports, peer: { id: string; swarmPort: number }): Record<string, unknown> {
  const obj = (v: unknown) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  return {
    ...config,
    Addresses: {
      ...obj(config.Addresses),
      API: `/ip4/127.0.0.1/tcp/${ports.api}`,
      Gateway: `/ip4/127.0.0.1/tcp/${ports.gateway}`,
      Swarm: [`/ip4/127.0.0.1/tcp/${ports.swarm}`],
      Announce: [],
      AppendAnnounce: [],
      NoAnnounce: [],
    },
    Bootstrap: [],
    AutoConf: { ...obj(config.AutoConf), Enabled: false },
    AutoTLS: { ...obj(config.AutoTLS), Enabled: false },
    Discovery: { MDNS: { Enabled: false } },
    Routing: { ...obj(config.Routing), Type: 'none', DelegatedRouters: [] },
    DNS: { ...obj(config.DNS), Resolvers: {} },
    Ipns: { ...obj(config.Ipns), DelegatedPublishers: [] },
    Peering: { Peers: [{ ID: peer.id, Addrs: [`/ip4/127.0.0.1/tcp/${peer.swarmPort}`] }] },
    Swarm: {
      ...obj(config.Swarm),
      DisableNatPortMap: true,
      RelayClient: { Enabled: false },
      RelayService: { Enabled: false },
      Transports: { Network: { QUIC: false, WebTransport: false, WebRTCDirect: false, Websocket: false, Relay: false } },
    },
    // Nothing to announce to: with no DHT, providing only burns CPU.
    Provide: { ...obj(config.Provide), Enabled: false },
  };
}

async function ipfs(bin: string, repo: string, args: string[]): Promise<string> {
  return (await runCommand(bin, args, { env: { IPFS_PATH: repo } })).stdout;
}

async function post<T>(api: string, path: string): Promise<T> {
  const res = await fetch(`${api}/api/v0/${path}`, { method: 'POST' });
  if (!res.ok) throw new Error(`kubo ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Initialises (first time), configures and starts the hub/provider Kubo pair. */
export async function startKuboPair(stateDir: string, ipfsBin: string): Promise<Record<KuboRole, KuboEndpoint>> {
  const roles: KuboRole[] = ['hub', 'provider'];
  const ids: Record<string, string> = {};
  for (const role of roles) {
    const repo = kuboRepo(stateDir, role);
    mkdirSync(repo, { recursive: true });
    if (!existsSync(join(repo, 'config'))) await ipfs(ipfsBin, repo, ['init', '--profile=test', '--empty-repo']);
    const config = JSON.parse(readFileSync(join(repo, 'config'), 'utf8')) as { Identity: { PeerID: string } };
    ids[role] = config.Identity.PeerID;
  }
  const [hubApi, hubGateway, hubSwarm, providerApi, providerGateway, providerSwarm] = (await freePorts(6)) as [number, number, number, number, number, number];
  const ports: Record<KuboRole, Ports> = {
    hub: { api: hubApi, gateway: hubGateway, swarm: hubSwarm },
    provider: { api: providerApi, gateway: providerGateway, swarm: providerSwarm },
  };
  const endpoints = {} as Record<KuboRole, KuboEndpoint>;
  await Promise.all(
    roles.map(async (role) => {
      const other: KuboRole = role === 'hub' ? 'provider' : 'hub';
      const repo = kuboRepo(stateDir, role);
      const configFile = join(repo, 'config');
      const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(configFile, JSON.stringify(loopbackConfig(config, ports[role], { id: ids[other] ?? '', swarmPort: ports[other].swarm }), null, 2));
      const daemon = startDaemon(stateDir, {
        name: daemonName(role),
        command: ipfsBin,
        args: ['daemon', '--migrate=false', '--enable-gc=false'],
        env: { IPFS_PATH: repo, GOMAXPROCS: '1' },
      });
      const api = `http://127.0.0.1:${ports[role].api}`;
      await waitFor(`kubo-${role} API on ${api}`, async () => (await post<{ ID: string }>(api, 'id')).ID === ids[role], {
        timeoutMs: 30_000,
        logFile: daemon.logFile,
      });
      endpoints[role] = {
        role,
        api,
        repo,
        gateway: `http://127.0.0.1:${ports[role].gateway}`,
        peerId: ids[role] ?? '',
        swarm: `/ip4/127.0.0.1/tcp/${ports[role].swarm}/p2p/${ids[role]}`,
      };
    }),
  );
  // Peering reconnects in the background; connect now so the first fetch does not wait for it.
  await waitFor(
    'kubo hub and provider peered',
    async () => {
      await post(endpoints.hub.api, `swarm/connect?arg=${encodeURIComponent(endpoints.provider.swarm)}`).catch(() => undefined);
      const peers = await post<{ Peers: Array<{ Peer: string }> | null }>(endpoints.hub.api, 'swarm/peers');
      return (peers.Peers ?? []).some((p) => p.Peer === endpoints.provider.peerId);
    },
    { timeoutMs: 20_000, intervalMs: 500 },
  );
  return endpoints;
}

export async function stopKuboPair(stateDir: string): Promise<void> {
  await Promise.all((['hub', 'provider'] as const).map((role) => stopDaemon(stateDir, daemonName(role))));
}
