// The import boundaries of eslint.config.js fire: ESLint's own API lints a one-line snippet as if it
// were a file at a path in the tree, so a rule that stopped matching (a moved folder, a glob typo,
// a later config block overriding it) fails here, not silently in `make lint`. Shipped code
// (operator/, cli/, pulumi/) may not import test/ or federation/; operator/core may also not import
// I/O, clocks or clients (operator/core/purity.test.ts checks the globals of every file there).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({ cwd: repoRoot });

/** The no-restricted-imports messages ESLint reports for `code` placed at `file`. */
async function restrictedImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const used = x;\n`, { filePath: join(repoRoot, file) });
  // A parse error or "File ignored" has no rule: either would make an empty answer meaningless.
  const unlinted = result?.messages.filter((m) => m.ruleId === null) ?? [];
  if (!result || unlinted.length > 0) throw new Error(`${file} was not linted: ${unlinted.map((m) => m.message).join('; ')}`);
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const shippedMessage = /shipped code .* must not import test or local-federation code/;
const pureMessage = /operator\/core is pure/;

describe('import boundaries (eslint.config.js)', () => {
  it.each([
    ['operator/core/probe.ts', "import { x } from '../../federation/paths.ts';"],
    ['operator/core/placement/probe.ts', "import { x } from '../../../test/support/placement-fixtures.ts';"],
    ['operator/controllers/probe.ts', "import { x } from '../../federation/paths.ts';"],
    ['operator/probe.ts', "import { x } from '../test/support/federation.ts';"],
    ['cli/commands/probe.ts', "import { x } from '../../federation/paths.ts';"],
    ['cli/probe.ts', "import { x } from '../test/support/admission-cases.ts';"],
    ['pulumi/probe.ts', "import { x } from '../federation/paths.ts';"],
    ['pulumi/probe.ts', "import { x } from '../test/support/operator.ts';"],
  ])('refuses %s: %s', async (file, code) => {
    const messages = await restrictedImports(file, code);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(shippedMessage);
  });

  it.each([
    ['operator/core/probe.ts', "import { x } from 'node:fs';"],
    ['operator/core/probe.ts', "import { x } from '@kubernetes/client-node';"],
    ['operator/core/lifecycle/probe.ts', "import { x } from 'ethers';"],
    ['operator/core/placement/probe.ts', "import { x } from 'node:crypto';"],
  ])('keeps operator/core pure: refuses %s: %s', async (file, code) => {
    const messages = await restrictedImports(file, code);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(pureMessage);
  });

  it("keeps bench/ on test/support: refuses a suite's own helper", async () => {
    const messages = await restrictedImports('bench/probe.ts', "import { x } from '../test/preemption/probe-harness.ts';");
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/bench\/ imports shared helpers from test\/support/);
  });

  // The controls: the same rules must not refuse what the tree legitimately does.
  it.each([
    ['operator/core/probe.ts', "import { x } from './money.ts';"],
    ['operator/controllers/probe.ts', "import { x } from 'node:fs';"],
    ['cli/commands/probe.ts', "import { x } from '../local-federation.ts';"],
    ['operator/core/placement/probe.test.ts', "import { x } from '../../../test/support/placement-fixtures.ts';"],
    ['test/support/probe.ts', "import { x } from '../../federation/paths.ts';"],
    ['bench/probe.ts', "import { x } from '../test/support/federation.ts';"],
  ])('allows %s: %s', async (file, code) => {
    expect(await restrictedImports(file, code)).toEqual([]);
  });
});
