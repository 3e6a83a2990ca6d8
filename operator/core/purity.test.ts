// Everything under operator/core stays pure (docs/architecture.md, "The operator process";
// STYLE "dependencies point inward"):
// every file there, and every module outside it that one of them imports by value (type-only
// imports are erased), imports only relative .ts modules and reads no clock, randomness, process,
// timers or locale. Time, randomness and I/O come in as arguments. The ESLint rule for
// operator/core says the same about imports (operator/boundaries.test.ts proves it fires); this
// test also covers the globals and what core's imports import in turn.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const coreDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(coreDir, '../..');

/** Every non-test .ts file under operator/core, at any depth. */
const coreFiles = (readdirSync(coreDir, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => join(coreDir, f))
  .sort();

const forbidden: { name: string; pattern: RegExp }[] = [
  { name: 'an import that is not a relative .ts module', pattern: /\bfrom\s+['"](?!\.\.?\/[^'"]*\.ts['"])[^'"]*['"]/ },
  { name: 'a side-effect import', pattern: /^\s*import\s+['"][^'"]*['"]/m },
  { name: 'a dynamic import or require', pattern: /\bimport\s*\(|\brequire\s*\(/ },
  { name: 'the wall clock', pattern: /\bDate\.now\s*\(|\bnew Date\(\s*\)|\bperformance\./ },
  { name: 'unseeded randomness', pattern: /\bMath\.random\b|\bcrypto\./ },
  { name: 'the process', pattern: /\bprocess\./ },
  { name: 'timers', pattern: /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/ },
  { name: 'the locale', pattern: /\blocaleCompare\b|\bIntl\./ },
];

/** The source without comment lines (a comment may name what the code must not do). */
const codeOf = (text: string) =>
  text
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .join('\n');

/** The first forbidden thing `text` does, by name and the text that matched; undefined when pure. */
function impurity(text: string): { name: string; found: string } | undefined {
  const code = codeOf(text);
  for (const { name, pattern } of forbidden) {
    const found = code.match(pattern)?.[0];
    if (found !== undefined) return { name, found };
  }
  return undefined;
}

/** Relative modules `file` imports or re-exports by value, as absolute paths. */
function valueImports(file: string, text: string): string[] {
  const statements = codeOf(text).matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+['"](\.\.?\/[^'"]+)['"]/gm);
  return [...statements].filter((m) => !m[1]).map((m) => resolve(dirname(file), m[2] ?? ''));
}

/** `roots` and every module they reach through value imports. */
function closure(roots: readonly string[], read: (file: string) => string): string[] {
  const seen = new Set<string>();
  const queue = [...roots];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...valueImports(file, read(file)));
  }
  return [...seen].sort();
}

const readSource = (file: string) => readFileSync(file, 'utf8');
const checked = closure(coreFiles, readSource);

describe('operator/core purity', () => {
  it('checks every file under operator/core, in every folder, and what they import', () => {
    const folders = new Set(coreFiles.map((f) => relative(coreDir, dirname(f))));
    expect([...folders].sort()).toEqual(expect.arrayContaining(['', 'lifecycle', 'placement', 'validation']));
    expect(coreFiles.length).toBeGreaterThan(30);
    // operator/api/field-schemas.ts is imported by value (patterns), so it is held to the same rule.
    expect(checked).toContain(join(repoRoot, 'operator/api/field-schemas.ts'));
  });

  it.each(checked.map((file) => ({ file: relative(repoRoot, file) })))('$file is pure', ({ file }) => {
    expect(impurity(readSource(join(repoRoot, file)))).toBeUndefined();
  });

  // The checks catch what they exist for: adding any of these to a core file fails the test above.
  it.each([
    "import { readFileSync } from 'node:fs';",
    'import { Contract } from "ethers";',
    "import 'node:process';",
    "const { load } = await import('./money.ts');",
    'const started = Date.now();',
    'const pick = Math.random() < 0.5;',
    'const level = process.env.LEVEL;',
    'setTimeout(() => undefined, 10);',
    'names.sort((a, b) => a.localeCompare(b));',
  ])('refuses %s', (line) => {
    expect(impurity(`import type { X } from './types.ts';\n${line}\n`)).toBeDefined();
  });

  it('follows a value import out of operator/core to an impure module', () => {
    const probe = join(coreDir, 'probe.ts');
    const text = (file: string) => (file === probe ? "import { defaultStateDir } from '../../federation/paths.ts';\n" : readSource(file));
    const reached = closure([probe], text);
    const paths = join(repoRoot, 'federation/paths.ts');
    expect(reached).toContain(paths);
    expect(reached.map((file) => impurity(text(file))).filter(Boolean)).not.toEqual([]);
  });

  it('does not follow a type-only import (erased at run time)', () => {
    const probe = join(coreDir, 'probe.ts');
    const text = (file: string) => (file === probe ? "import type { ToolPaths } from '../../federation/paths.ts';\n" : readSource(file));
    expect(closure([probe], text)).toEqual([probe]);
  });
});
