// The real `flotilla` binary (cli/flotilla.ts), run as a user runs it: a separate process, its exit
// code, stdout and stderr. One runner for every suite that drives the CLI.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../federation/paths.ts';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const CLI_ENTRY = join(repoRoot, 'cli', 'flotilla.ts');

export function runFlotilla(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
