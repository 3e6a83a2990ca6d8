// `flotilla completion bash|zsh`: prints the shell completion script (cli/completion.ts) for this
// very program, commands registered after this one included (the script is made when it runs).
import { Argument } from 'commander';
import type { Command } from 'commander';
import { completionScript, SHELLS } from '../completion.ts';
import type { Shell } from '../completion.ts';

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(flotilla completion bash), or zsh')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell));
    });
}
