// Shell completion scripts, generated from the commander program itself: every command path (e.g.
// `provider withdraw`), its subcommands and its options, so a new command or flag completes without
// touching this file. Pure: the program in, the script text out.
//
// bash: a table from command path to the words that may follow, walked with the words typed so far.
// zsh: the same function through zsh's bashcompinit (the route many CLIs take). `kubectl flotilla`
// completes through kubectl's plugin completion, which this does not provide (docs/cli.md).
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  /** Space-joined command path below the program ('' for the program itself). */
  readonly path: string;
  readonly words: readonly string[];
  /** Options that take a value: the next word is that value, completed as a file name … */
  readonly valueOptions: readonly string[];
  /** … unless the option lists its choices (-o json|yaml|wide). */
  readonly choices: ReadonlyArray<{ readonly flag: string; readonly values: readonly string[] }>;
}

function nodes(command: Command, path = ''): Node[] {
  const subcommands = command.commands.map((c) => c.name()).filter((n) => n !== 'help');
  const options = command.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
  const valueOptions = command.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
  const choices = command.options.flatMap((o) =>
    o.argChoices ? [o.short, o.long].filter((f): f is string => f !== undefined).map((flag) => ({ flag, values: o.argChoices ?? [] })) : [],
  );
  // An argument with choices (completion <shell>) completes like a subcommand.
  const argumentChoices = command.registeredArguments.flatMap((a) => a.argChoices ?? []);
  const own: Node = { path, words: [...subcommands, ...argumentChoices, ...options, '--help'], valueOptions, choices };
  return [own, ...command.commands.filter((c) => c.name() !== 'help').flatMap((c) => nodes(c, path ? `${path} ${c.name()}` : c.name()))];
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function completionScript(program: Command, shell: Shell): string {
  const all = nodes(program);
  const fn = '_flotilla_complete';
  const words = all.map((n) => `    ${quote(n.path)}) words=${quote(n.words.join(' '))} ;;`).join('\n');
  const values = all
    .filter((n) => n.valueOptions.length > 0)
    .map((n) => `    ${quote(n.path)}) values=${quote(` ${n.valueOptions.join(' ')} `)} ;;`)
    .join('\n');
  const choices = all
    .flatMap((n) => n.choices.map((c) => `    ${quote(`${n.path}|${c.flag}`)}) COMPREPLY=($(compgen -W ${quote(c.values.join(' '))} -- "$cur")); return ;;`))
    .join('\n');
  const commands = all
    .filter((n) => n.path !== '')
    .map((n) => quote(n.path))
    .join('|');
  const bash = `${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" word i words values=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "\${path:+$path }$word" in
    ${commands}) path="\${path:+$path }$word" ;;
    esac
  done
  ((COMP_CWORD > 1)) && prev="\${COMP_WORDS[COMP_CWORD - 1]}"
  case "$path" in
${values}
  esac
  case "$path|$prev" in
${choices}
  esac
  if [[ -n "$prev" && "$values" == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  case "$path" in
${words}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} flotilla kubectl-flotilla
`;
  if (shell === 'bash') return `# bash completion for flotilla: source <(flotilla completion bash)\n${bash}`;
  return `#compdef flotilla kubectl-flotilla
# zsh completion for flotilla: source <(flotilla completion zsh), through zsh's bash completion layer
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}
