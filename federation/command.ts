// Runs a short-lived command to completion, capturing its output; failures carry the command's
// own last words so that errors say why (e.g. kwokctl naming a missing binary).
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  override name = 'CommandError';
}

export function runCommand(
  command: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // stdin only when there is input: ending a pipe to a child that already exited raises EPIPE.
    const child = spawn(command, [...args], { env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => reject(new CommandError(`${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      const tail = (stderr || stdout).trim().split('\n').slice(-15).join('\n');
      reject(new CommandError(`${command} ${args.slice(0, 3).join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
    if (child.stdin) {
      // A child may exit without reading all of its input; its exit code tells what happened.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}
