// Builds the npm packages' contents (npm pack runs this as `prepack`; nothing here is committed):
//
//   node packaging/build.ts cli      → dist/          the `flotilla` CLI package (package.json)
//   node packaging/build.ts pulumi   → pulumi/dist/   the Pulumi components (pulumi/package.json)
//
// Node refuses to strip types under node_modules, so an installed package must be JavaScript: tsc
// compiles each entry and the repository modules it imports (operator/api, contracts/artifacts, …)
// into the package, with .ts import paths rewritten to .js and declarations beside them. The output
// keeps the source layout (dist/cli, dist/operator, dist/contracts), so every path a module finds
// from its own import.meta.url (contracts/build, the charts) lands where it looks. Then the files
// that are not code: the compiled contract artifacts the CLI's fund/withdraw load, and the charts
// the Pulumi components install by default.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildContracts } from '../contracts/build.ts';
import type { ContractArtifact } from '../contracts/artifacts.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const PACKAGES = {
  cli: { config: 'tsconfig.build.json', outDir: 'dist' },
  pulumi: { config: 'pulumi/tsconfig.build.json', outDir: 'pulumi/dist' },
} as const;
export type PackageName = keyof typeof PACKAGES;

/** The charts the Pulumi components install when no chartPath is given (pulumi/charts.ts). */
export const BUNDLED_CHARTS = ['flotilla', 'flotilla-provider'] as const;

function tsc(config: string): void {
  const result = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repoRoot, config)], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`tsc -p ${config} failed (exit ${result.status ?? result.signal})`);
}

/** The shipped contracts' artifacts (not the test contracts under contracts/test/) into <outDir>/contracts/build. */
function copyContracts(outDir: string): string[] {
  const built = buildContracts();
  const target = join(outDir, 'contracts', 'build');
  mkdirSync(target, { recursive: true });
  const shipped: string[] = [];
  for (const name of built.contracts) {
    const text = readFileSync(join(built.buildDir, `${name}.json`), 'utf8');
    if ((JSON.parse(text) as ContractArtifact).sourceName.startsWith('contracts/test/')) continue;
    writeFileSync(join(target, `${name}.json`), text);
    shipped.push(name);
  }
  return shipped;
}

export function buildPackage(name: PackageName): void {
  const { config, outDir } = PACKAGES[name];
  const out = join(repoRoot, outDir);
  rmSync(out, { recursive: true, force: true });
  tsc(config);
  if (name === 'cli') {
    const contracts = copyContracts(out);
    chmodSync(join(out, 'cli', 'flotilla.js'), 0o755);
    process.stderr.write(`cli → ${outDir} (contracts: ${contracts.join(', ')})\n`);
  } else {
    for (const chart of BUNDLED_CHARTS) cpSync(join(repoRoot, 'charts', chart), join(out, 'charts', chart), { recursive: true });
    process.stderr.write(`pulumi → ${outDir} (charts: ${BUNDLED_CHARTS.join(', ')})\n`);
  }
}

if (import.meta.main) {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in PACKAGES));
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(`usage: node packaging/build.ts ${Object.keys(PACKAGES).join('|')} …${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}\n`);
    process.exit(2);
  }
  for (const name of names as PackageName[]) buildPackage(name);
}
