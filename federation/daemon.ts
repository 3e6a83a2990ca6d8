// Long-running processes of the local federation (Kubo, anvil, the simulated executor): each is
// started detached in its own process group, with a pid file and a log under the state dir, so
// that a later `federation down` — even from another process — can find and stop it.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, readdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';

export interface DaemonSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
}

const pidDir = (stateDir: string) => join(stateDir, 'pids');
export const logDir = (stateDir: string) => join(stateDir, 'logs');

export function startDaemon(stateDir: string, spec: DaemonSpec): Daemon {
  mkdirSync(pidDir(stateDir), { recursive: true });
  mkdirSync(logDir(stateDir), { recursive: true });
  const logFile = join(logDir(stateDir), `${spec.name}.log`);
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      // The marker lets `federation down` find anything of this federation still running.
      env: { ...process.env, ...spec.env, FLOTILLA_FEDERATION: stateDir },
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
    child.unref();
    writeFileSync(join(pidDir(stateDir), `${spec.name}.pid`), String(child.pid));
    return { name: spec.name, pid: child.pid, logFile };
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function daemonPid(stateDir: string, name: string): number | undefined {
  const file = join(pidDir(stateDir), `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM to the daemon's process group, SIGKILL after the grace period; removes the pid file. */
export async function stopDaemon(stateDir: string, name: string, graceMs = 5_000): Promise<void> {
  const pid = daemonPid(stateDir, name);
  if (pid !== undefined) {
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  rmSync(join(pidDir(stateDir), `${name}.pid`), { force: true });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** When the daemon was started (its pid file's mtime, epoch ms); undefined when it has none. */
export function daemonStartedAt(stateDir: string, name: string): number | undefined {
  const file = join(pidDir(stateDir), `${name}.pid`);
  return existsSync(file) ? statSync(file).mtimeMs : undefined;
}

export function daemonNames(stateDir: string): string[] {
  if (!existsSync(pidDir(stateDir))) return [];
  return readdirSync(pidDir(stateDir))
    .filter((f) => f.endsWith('.pid'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export async function stopAllDaemons(stateDir: string): Promise<void> {
  await Promise.all(daemonNames(stateDir).map((n) => stopDaemon(stateDir, n)));
}

/** Polls `check` until it returns true; the error names what was awaited and where its log is. */
export async function waitFor(what: string, check: () => Promise<boolean>, opts: { timeoutMs: number; intervalMs?: number; logFile?: string }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(opts.intervalMs ?? 200);
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
  const hint = opts.logFile ? ` (see ${opts.logFile})` : '';
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${cause}${hint}`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/**
 * `count` different TCP ports on 127.0.0.1, free a moment ago. Each stays bound until all are picked:
 * two freePort() calls in a row can be handed the same port (a bench operator once got its probes'
 * port for its webhooks: EADDRINUSE, never ready).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolve(typeof address === 'object' && address ? address.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/**
 * Pids of processes that belong to the federation in `stateDir`: started with its marker in the
 * environment, or naming the state dir on their command line (kwokctl's components do).
 */
export function federationProcesses(stateDir: string): number[] {
  const marker = `FLOTILLA_FEDERATION=${stateDir}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline === '') continue; // zombie or kernel thread
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (environ.split('\0').includes(marker) || cmdline.includes(`${stateDir}/`)) pids.push(pid);
    } catch {
      // the process ended while we looked
    }
  }
  return pids.sort((a, b) => a - b);
}
