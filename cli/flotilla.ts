#!/usr/bin/env node
// `flotilla` (also `kubectl flotilla` when installed as kubectl-flotilla): the command line of the
// Flotilla GPU federation. Each command lives in cli/commands/<name>.ts and exports
// `register(program: Command)`; adding one is adding its name to COMMANDS. A name whose file is not
// there (yet) is skipped, so commands written by different people land independently.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliError } from './errors.ts';

/** Every command, in the order `--help` lists them. */
export const COMMANDS = ['submit', 'status', 'watch', 'logs', 'providers', 'add', 'receipt', 'get', 'fund', 'withdraw', 'bond', 'completion'] as const;

/**
 * The commands' files end like this one: .ts when run from a checkout under Node's type stripping,
 * .js when run from the npm package (dist/, compiled by tsconfig.build.json).
 */
const sourceExtension = extname(fileURLToPath(import.meta.url));

/** The version of the package this file belongs to: the nearest package.json named "flotilla" above it. */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'flotilla' && pkg.version) return pkg.version;
    } catch {
      // no (readable) package.json here: keep walking up
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

export async function buildProgram(): Promise<Command> {
  const invokedAs = basename(process.argv[1] ?? 'flotilla').replace(/\.[jt]s$/, '');
  const program = new Command()
    .name(invokedAs === 'kubectl-flotilla' ? 'kubectl flotilla' : 'flotilla')
    .description('Submit and follow AI jobs on a federation of GPU providers (Flotilla).')
    .version(packageVersion())
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false });
  for (const name of COMMANDS) {
    const file = new URL(`./commands/${name}${sourceExtension}`, import.meta.url);
    if (!existsSync(file)) continue;
    const module = (await import(file.href)) as { register?: (program: Command) => void };
    if (typeof module.register !== 'function') throw new Error(`cli/commands/${name}${sourceExtension} does not export register(program)`);
    module.register(program);
  }
  return program;
}

export async function run(argv: readonly string[]): Promise<void> {
  const program = await buildProgram();
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed help, the version or its own error message.
      process.exitCode = err.exitCode;
      return;
    }
    const cli = err instanceof CliError ? err : undefined;
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!cli && process.env.FLOTILLA_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    process.exitCode = cli?.exitCode ?? 1;
  }
}

if (import.meta.main) await run(process.argv);
