// A tiny `flotilla` for the artifacts commands, standing in for cli/flotilla.ts in tests: the same
// commander program shape (each command module's register(program)), run as a real process.
import { Command } from 'commander';
import { register as registerAdd } from '../../cli/commands/add.ts';
import { register as registerReceipt } from '../../cli/commands/receipt.ts';

const program = new Command('flotilla').exitOverride();
registerAdd(program);
registerReceipt(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`flotilla: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
