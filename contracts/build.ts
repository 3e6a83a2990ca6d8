// Compiles contracts/**/*.sol offline with the pinned `solc` npm package (solc-js, no network, no
// native compiler) and writes one artifact per contract to contracts/build/<Name>.json (ignored by
// git). Recompiles only when the sources, the compiler, the settings or the OpenZeppelin version
// changed: their hash is kept in contracts/build/manifest.json.
//
//   node contracts/build.ts [--force]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import solc from 'solc';
import type { ContractArtifact } from './artifacts.ts';

const contractsDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(contractsDir, '..');
export const defaultBuildDir = join(contractsDir, 'build');

/**
 * Pinned compiler settings. Cancun is the oldest EVM with transient storage (EIP-1153), which the
 * escrow's ReentrancyGuardTransient needs; anvil 1.7 and the production L1/L2s we target run it.
 * runs=10000 favours cheap calls (settle runs per job) over deployment size.
 */
export const compilerSettings = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 10_000 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const;

export interface BuildResult {
  readonly compiled: boolean; // false when the cached artifacts were current
  readonly contracts: readonly string[];
  readonly buildDir: string;
  readonly sourceHash: string;
}

interface Manifest {
  readonly sourceHash: string;
  readonly contracts: readonly string[];
}

interface SolcMessage {
  readonly severity: 'error' | 'warning' | 'info';
  readonly formattedMessage: string;
  readonly sourceLocation?: { readonly file: string };
}

interface SolcOutput {
  readonly errors?: readonly SolcMessage[];
  readonly contracts?: Record<
    string,
    Record<
      string,
      {
        abi: ContractArtifact['abi'];
        evm: { bytecode: { object: string }; deployedBytecode: { object: string } };
      }
    >
  >;
}

/** Source unit names (`contracts/Foo.sol`, `contracts/test/Bar.sol`), sorted, build dir excluded. */
function sourceUnits(): string[] {
  return readdirSync(contractsDir, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith('.sol') && !p.startsWith(`build${sep}`))
    .map((p) => join('contracts', p).split(sep).join('/'))
    .sort();
}

function openZeppelinVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'node_modules', '@openzeppelin', 'contracts', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function hashInputs(units: readonly string[]): string {
  const h = createHash('sha256');
  h.update(`solc ${solc.version()}\nopenzeppelin ${openZeppelinVersion()}\n${JSON.stringify(compilerSettings)}\n`);
  for (const unit of units) h.update(`${unit}\n${readFileSync(join(repoRoot, unit), 'utf8')}\n`);
  return h.digest('hex');
}

/** Resolves `@openzeppelin/contracts/...` imports from node_modules; nothing else is reachable. */
function findImports(path: string): { contents: string } | { error: string } {
  if (!path.startsWith('@openzeppelin/contracts/') || path.split('/').includes('..')) {
    return { error: `import not allowed: ${path} (only @openzeppelin/contracts/* and contracts/**)` };
  }
  try {
    return { contents: readFileSync(join(repoRoot, 'node_modules', path), 'utf8') };
  } catch {
    return { error: `not found in node_modules: ${path}` };
  }
}

function readManifest(buildDir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(buildDir, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Writes through a temporary file and a rename, so a concurrent reader never sees half a file. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function buildContracts(opts: { force?: boolean; buildDir?: string } = {}): BuildResult {
  const buildDir = opts.buildDir ?? defaultBuildDir;
  const units = sourceUnits();
  const sourceHash = hashInputs(units);

  const manifest = readManifest(buildDir);
  if (!opts.force && manifest?.sourceHash === sourceHash && manifest.contracts.every((c) => existsSync(join(buildDir, `${c}.json`)))) {
    return { compiled: false, contracts: manifest.contracts, buildDir, sourceHash };
  }

  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(units.map((u) => [u, { content: readFileSync(join(repoRoot, u), 'utf8') }])),
    settings: compilerSettings,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput;
  const messages = output.errors ?? [];
  // OpenZeppelin's own warnings (e.g. solc's generic note on transient storage, which its
  // reentrancy guard uses safely) are not ours to fix; ours are shown.
  const ours = (m: SolcMessage) => !m.sourceLocation?.file.startsWith('@openzeppelin/');
  for (const m of messages.filter((m) => m.severity === 'warning' && ours(m))) process.stderr.write(m.formattedMessage);
  const errors = messages.filter((m) => m.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc ${solc.version()} failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  }

  mkdirSync(buildDir, { recursive: true });
  const written: string[] = [];
  for (const unit of units) {
    for (const [contractName, c] of Object.entries(output.contracts?.[unit] ?? {})) {
      if (c.evm.bytecode.object === '') continue; // interfaces and abstract contracts
      const artifact: ContractArtifact = {
        contractName,
        sourceName: unit,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { version: solc.version(), settings: compilerSettings },
        sourceHash,
      };
      writeAtomic(join(buildDir, `${contractName}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
      written.push(contractName);
    }
  }
  written.sort();
  writeAtomic(join(buildDir, 'manifest.json'), `${JSON.stringify({ sourceHash, contracts: written } satisfies Manifest, null, 2)}\n`);
  return { compiled: true, contracts: written, buildDir, sourceHash };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const started = Date.now();
  const result = buildContracts({ force: process.argv.includes('--force') });
  const what = result.compiled ? `compiled with solc ${solc.version()} in ${Date.now() - started} ms` : 'up to date';
  process.stdout.write(`contracts ${what}: ${result.contracts.join(', ')} → ${relative(process.cwd(), result.buildDir) || '.'}\n`);
}
