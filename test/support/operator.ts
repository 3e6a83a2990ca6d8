// Runs the real operator (node operator/main.ts) as a separate process against the federation's hub,
// so tests can SIGKILL and restart it like any crash. Short lease timings make takeovers quick.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logDir } from '../../federation/daemon.ts';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from './federation.ts';
import { OPERATOR_NODE_OPTIONS } from '../../operator/runtime/node-options.ts';

export interface OperatorProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Graceful stop (SIGTERM: releases the lease). */
  stop(): Promise<void>;
  /** A crash: SIGKILL, no cleanup. */
  kill(): Promise<void>;
  logs(): string;
  /** The base URL of its probes, metrics and API listener, once it serves them (read from its log). */
  httpUrl(timeoutMs?: number): Promise<string>;
}

let started = 0;

/**
 * Starts an operator scoped to one hub namespace with its own lease, so suites (and people) sharing
 * the federation do not reconcile each other's jobs.
 */
export function startOperator(watchNamespace: string, env: Record<string, string> = {}): OperatorProcess {
  const ep = federation();
  mkdirSync(logDir(ep.stateDir), { recursive: true });
  // Unique per operator: Jest gives every suite fresh modules in the same worker process, so a
  // pid and a counter alone would append one suite's operator log to another's.
  const logFile = join(logDir(ep.stateDir), `operator-${process.pid}-${++started}-${randomBytes(3).toString('hex')}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(repoRoot, 'operator', 'main.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      // The operator's own V8 settings (operator/runtime/node-options.ts), not the test runner's.
      NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
      FLOTILLA_KUBECONFIG: ep.hub.kubeconfig,
      FLOTILLA_WATCH_NAMESPACE: watchNamespace,
      FLOTILLA_LEASE_NAME: `flotilla-operator-${watchNamespace}`,
      FLOTILLA_LEASE_DURATION_MS: '4000',
      FLOTILLA_RENEW_DEADLINE_MS: '3000',
      FLOTILLA_LEASE_RETRY_MS: '500',
      // `federation down` treats a leftover operator as a stray: a test that forgot to stop it fails loudly.
      FLOTILLA_FEDERATION: ep.stateDir,
      // Many operators run side by side: any free port for HTTP and for checkpoint reports (a
      // suite that offers reports names the port its FLOTILLA_REPORT_URL points at), no webhook
      // listener unless asked.
      FLOTILLA_HTTP_PORT: '0',
      FLOTILLA_REPORT_PORT: '0',
      FLOTILLA_WEBHOOK_PORT: 'off',
      // The local federation's provider apiservers listen on 127.0.0.1 (docs/local-federation.md).
      FLOTILLA_ALLOW_INSECURE_PROVIDERS: '1',
      ...env,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    pid: child.pid ?? -1,
    logFile,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    logs: () => readFileSync(logFile, 'utf8'),
    httpUrl: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const port = /"msg":"serving probes, metrics and API","port":(\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
        if (port) return `http://127.0.0.1:${port}`;
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`operator ${logFile} serves no HTTP listener (FLOTILLA_HTTP_PORT off, or it exited)`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
