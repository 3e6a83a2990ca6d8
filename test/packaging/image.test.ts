// The operator image builds from a clean clone and carries everything the operator loads. There is
// no container runtime here, so this reads what a builder reads: the files a commit of this tree
// holds (git's tracked and not-ignored files), minus .dockerignore, is the build context; the
// Dockerfile's COPY and RUN steps decide what the image's /app holds. Then every module the
// entrypoint imports (followed through the TypeScript sources), every npm package they import, and
// every file they read from beside themselves must be there.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, posix } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../federation/paths.ts';
import { AGENT_COMMAND } from '../../operator/controllers/aijob/agent-step.ts';

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile stages and their instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') stages.push({ name: /\sAS\s+(\S+)$/i.exec(args)?.[1], instructions: [] });
    stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

/** A .dockerignore pattern as a RegExp over context-relative paths (Go filepath.Match plus `**`). */
function patternRegExp(pattern: string): RegExp {
  const body = posix
    .normalize(pattern.replace(/^\//, ''))
    .split('/')
    .map((seg) =>
      seg === '**'
        ? '(?:.*)'
        : seg
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
    )
    .join('/')
    .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
  return new RegExp(`^${body}$`);
}

/** Whether .dockerignore leaves a path out: a match on the path or any parent directory, last rule wins. */
function dockerIgnored(rules: string, path: string): boolean {
  const patterns = rules
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith('!') ? { keep: true, re: patternRegExp(l.slice(1)) } : { keep: false, re: patternRegExp(l) }));
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) if (prefixes.some((prefix) => p.re.test(prefix))) ignored = !p.keep;
  return ignored;
}

/** COPY [--from=stage] <src>... <dest> (shell form). */
function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const rest = words.filter((w) => !w.startsWith('--'));
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** Relative module specifiers a TypeScript file imports (static, dynamic with a literal, re-exports). */
function relativeImports(file: string): string[] {
  return ts
    .preProcessFile(readFileSync(file, 'utf8'), true, false)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
}

function bareImports(file: string): string[] {
  return ts
    .preProcessFile(readFileSync(file, 'utf8'), true, false)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'));
}

/** The entrypoint's module closure, repository-relative. */
function moduleClosure(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const s of relativeImports(join(repoRoot, file)))
      queue.push(
        normalize(join(dirname(file), s))
          .split('\\')
          .join('/'),
      );
  }
  return [...seen].sort();
}

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * Files a module reads from beside itself at runtime (found by import.meta.url), and what makes them:
 * the compiled contracts are not in git, so a build step must produce them.
 */
const RUNTIME_DATA: Record<string, { readonly dir: string; readonly builtBy: string }> = {
  'contracts/artifacts.ts': { dir: 'contracts/build', builtBy: 'node contracts/build.ts' },
};

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const dockerignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
/** A clean clone of this tree once committed: tracked files plus new files git does not ignore. */
const cloneFiles = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '');
const context = new Set(cloneFiles.filter((f) => !dockerIgnored(dockerignore, f)));
const finalStage = dockerfile.at(-1)!;
const workdir = (stage: Stage) => stage.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';

/** Context files the final stage copies into its WORKDIR, by their path there. */
function copiedFromContext(stage: Stage): Set<string> {
  const copied = new Set<string>();
  for (const i of stage.instructions.filter((i) => i.op === 'COPY')) {
    const { from, sources, dest } = parseCopy(i.args);
    if (from) continue;
    for (const src of sources) {
      for (const f of context) {
        if (f === src) copied.add(dest.endsWith('/') || sources.length > 1 ? posix.join(dest, posix.basename(f)) : dest);
        else if (f.startsWith(`${src}/`)) copied.add(posix.join(dest, f.slice(src.length + 1)));
      }
    }
  }
  return new Set([...copied].map((p) => posix.normalize(p)));
}

const entrypoint = JSON.parse(finalStage.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
const entry = entrypoint[1]!;
// The job agent runs from the same image (agent-step.ts: `node operator/agent/main.ts`): its modules count too.
const agentEntry = AGENT_COMMAND[1];
const closure = [...new Set([...moduleClosure(entry), ...moduleClosure(agentEntry)])];
const inImage = copiedFromContext(finalStage);

describe('the operator image (Dockerfile, .dockerignore)', () => {
  test('the entrypoint runs a TypeScript module under the image Node', () => {
    expect(entrypoint).toEqual(['node', 'operator/main.ts']);
    expect(finalStage.instructions.find((i) => i.op === 'FROM')?.args).toMatch(/^node:24[-.@]/);
  });

  test('every module the operator and its job agent import is in a clean clone, in the build context and copied into /app', () => {
    expect(closure.length).toBeGreaterThan(20);
    expect(AGENT_COMMAND[0]).toBe('node');
    expect(closure).toEqual(expect.arrayContaining(['operator/agent/main.ts', 'operator/agent/run.ts', 'operator/artifacts/verified-dag.ts']));
    const missing = closure.filter((f) => !cloneFiles.includes(f) || !context.has(f) || !inImage.has(f));
    expect(missing).toEqual([]);
  });

  test('every npm package the operator imports is a runtime dependency, which the final stage installs', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const used = [...new Set(closure.flatMap((f) => bareImports(join(repoRoot, f)).map(packageName)))].sort();
    expect(used.filter((p) => !(p in pkg.dependencies))).toEqual([]);
    expect(inImage.has('package.json') && inImage.has('package-lock.json')).toBe(true);
    expect(finalStage.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args))).toBe(true);
  });

  test('what the operator reads from beside its modules is built in the image: the compiled contracts', () => {
    const readers = closure.filter((f) => /import\.meta\.(url|dirname|filename)/.test(readFileSync(join(repoRoot, f), 'utf8')));
    // A new module finding files from import.meta.url must say here what makes those files.
    expect(readers.filter((f) => !(f in RUNTIME_DATA))).toEqual([]);
    for (const reader of readers) {
      const { dir, builtBy } = RUNTIME_DATA[reader]!;
      // Not in git: a clean clone lacks it, and the context must not smuggle in a local build.
      expect(cloneFiles.some((f) => f.startsWith(`${dir}/`))).toBe(false);
      expect(dockerIgnored(dockerignore, `${dir}/FlotillaEscrow.json`)).toBe(true);
      // The final stage copies it from the stage that builds it …
      const copy = finalStage.instructions
        .map((i) => (i.op === 'COPY' ? parseCopy(i.args) : undefined))
        .find((c) => c?.from && c.dest.replace(/^\.\//, '') === dir);
      expect(copy).toBeDefined();
      const builder = dockerfile.find((s) => s.name === copy!.from)!;
      expect(copy!.sources).toEqual([posix.join(workdir(builder), dir)]);
      // … which runs the build with dev dependencies (solc, OpenZeppelin) and every input in its context.
      const runs = builder.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
      expect(runs).toContain(builtBy);
      expect(runs.some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
      const builderFiles = copiedFromContext(builder);
      const inputs = cloneFiles.filter((f) => f.startsWith('contracts/') && (f.endsWith('.sol') || f.endsWith('.ts')) && !f.endsWith('.test.ts'));
      expect(inputs).toEqual(expect.arrayContaining(['contracts/build.ts', 'contracts/FlotillaEscrow.sol']));
      expect(inputs.filter((f) => !builderFiles.has(f))).toEqual([]);
      expect(builderFiles.has('package-lock.json')).toBe(true);
    }
  });

  test('.dockerignore keeps dependencies, local state, build output and credentials out of the context', () => {
    for (const path of [
      'node_modules/x/index.js',
      '.flotilla/endpoints.json',
      '.git/HEAD',
      'dist/cli/flotilla.js',
      'operator/main.test.ts',
      'a/b/hub-kubeconfig.yaml',
      'tls.key',
    ]) {
      expect([path, dockerIgnored(dockerignore, path)]).toEqual([path, true]);
    }
    for (const path of ['operator/main.ts', 'contracts/FlotillaEscrow.sol', 'package-lock.json'])
      expect([path, dockerIgnored(dockerignore, path)]).toEqual([path, false]);
  });
});
