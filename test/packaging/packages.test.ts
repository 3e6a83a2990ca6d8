// The npm packages as a user gets them: `npm pack` of the CLI (package.json) and of the Pulumi
// components (pulumi/package.json), installed from the npm registry into an empty directory outside
// the repository with nothing but the two tarballs. From there: `npx flotilla --help`, the kubectl
// plugin through the real kubectl against the federation's hub, `flotilla provider withdraw` against
// the federation's chain (it calls the escrow through the compiled ABI the package carries), and a
// TypeScript Pulumi program that type-checks against the installed declarations and runs under
// Pulumi's mocks. Needs the npm registry; the npm cache lives in the OS temp dir, so only the first
// run downloads (about 20 s cold, 10 s warm for the install; 10 s for the two packs).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot, toolPaths } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node 24 (this process's) first: the CLI's `#!/usr/bin/env node` and npm's lifecycle scripts run on it. */
const PATH = `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
const npmCache = join(tmpdir(), 'flotilla-packaging-npm-cache');
/**
 * The user's environment (it may carry the CA bundle that reaches the registry), less what a run
 * inside this repository adds: npm's npm_* variables (when started by npm run) and Jest's NODE_OPTIONS.
 */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'NODE_OPTIONS'));

function exec(command: string, args: readonly string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: { ...userEnv, PATH, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

async function ok(command: string, args: readonly string[], opts: Parameters<typeof exec>[2]): Promise<Run> {
  const r = await exec(command, args, opts);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface Packed {
  readonly filename: string;
  readonly name: string;
  readonly version: string;
  readonly files: ReadonlyArray<{ path: string }>;
}

/** `npm pack --json` (prepack builds dist/ first): the tarball's path and its file list. */
async function pack(dir: string, dest: string): Promise<Packed & { tarball: string }> {
  const r = await ok('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir, timeoutMs: 180_000 });
  const [packed] = JSON.parse(r.stdout) as Packed[];
  if (!packed) throw new Error(`npm pack in ${dir} reported no package`);
  return { ...packed, tarball: join(dest, packed.filename) };
}

/** Every file of an installed package, relative to it (its own nested dependencies left out). */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .filter((entry) => entry !== 'node_modules')
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? walk(path, base) : [relative(base, path)];
    });
}

/** Relative import specifiers of an ES module (static, dynamic and re-exports). */
const relativeImports = (js: string) => [...js.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);

let tmp = '';
let app = '';
let cli: Packed & { tarball: string };
let components: Packed & { tarball: string };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flotilla-packages-'));
  const tarballs = join(tmp, 'tarballs');
  mkdirSync(tarballs);
  cli = await pack(repoRoot, tarballs);
  components = await pack(join(repoRoot, 'pulumi'), tarballs);
  // A fresh payout key (no escrow credit), for withdraw and for file-name completion.
  writeFileSync(join(tmp, 'payout.key'), `0x${'7'.repeat(63)}1\n`);
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'flotilla-packaging-probe', private: true, type: 'module' }));
  await ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--cache', npmCache, cli.tarball, components.tarball], {
    cwd: app,
    timeoutMs: 300_000,
  });
}, 600_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the CLI package (flotilla)', () => {
  test('holds the compiled CLI with declarations and the shipped contract ABIs; no sources, tests or test contracts', () => {
    const files = cli.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining(['package.json', 'dist/cli/flotilla.js', 'dist/cli/flotilla.d.ts', 'dist/contracts/build/FlotillaEscrow.json']),
    );
    expect(files.filter((f) => !/^dist\/(cli|operator|contracts)\//.test(f) && !['package.json', 'README.md'].includes(f))).toEqual([]);
    expect(files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || /\.test\./.test(f) || f.includes('HostileToken'))).toEqual([]);
  });

  test('every relative import of both installed packages resolves inside the package', () => {
    for (const name of ['flotilla', 'flotilla-pulumi']) {
      const root = join(app, 'node_modules', name);
      for (const file of walk(root).filter((f) => f.endsWith('.js'))) {
        for (const specifier of relativeImports(readFileSync(join(root, file), 'utf8'))) {
          const target = resolve(root, dirname(file), specifier);
          expect({ file, specifier, inside: !relative(root, target).startsWith('..'), exists: existsSync(target) }).toEqual({
            file,
            specifier,
            inside: true,
            exists: true,
          });
        }
      }
    }
  });

  test('npx flotilla --help lists every command, and --version is the package version', async () => {
    const help = await ok('npx', ['--no-install', 'flotilla', '--help'], { cwd: app });
    expect(help.stdout).toContain('Usage: flotilla [options] [command]');
    for (const command of ['submit', 'status', 'watch', 'logs', 'providers', 'add', 'receipt', 'get', 'fund', 'provider']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect((await ok('npx', ['--no-install', 'flotilla', '--version'], { cwd: app })).stdout.trim()).toBe(cli.version);
  });

  test('flotilla completion bash completes commands, subcommands, options and their choices in a real bash; zsh wraps it', async () => {
    const script = join(tmp, 'flotilla.bash');
    writeFileSync(script, (await ok('npx', ['--no-install', 'flotilla', 'completion', 'bash'], { cwd: app })).stdout);
    const complete = async (...words: string[]) => {
      const probe = `source ${script}; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _flotilla_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await ok('bash', ['-c', probe, 'bash', ...words], { cwd: tmp })).stdout.split('\n').filter((w) => w !== '');
    };
    expect(await complete('flotilla', 'pro')).toEqual(['providers', 'provider']);
    expect(await complete('flotilla', 'provider', '')).toEqual(['withdraw', 'bond', 'unbond', 'bond-withdraw', '--help']);
    expect(await complete('flotilla', 'status', 'job', '--kubec')).toEqual(['--kubeconfig']);
    expect(await complete('flotilla', 'status', 'job', '-o', '')).toEqual(['json', 'yaml']);
    expect(await complete('flotilla', 'provider', 'withdraw', '--key-file', 'payout.')).toEqual(['payout.key']);
    expect(await complete('kubectl-flotilla', 'completion', '')).toEqual(['bash', 'zsh', '--help']);
    const zsh = (await ok('npx', ['--no-install', 'flotilla', 'completion', 'zsh'], { cwd: app })).stdout;
    expect(zsh).toMatch(/^#compdef flotilla kubectl-flotilla\n/);
    expect(zsh).toContain('bashcompinit');
    expect(zsh).toContain(readFileSync(script, 'utf8').split('\n').slice(1).join('\n'));
  });

  test('kubectl flotilla (the installed kubectl-flotilla) lists the hub providers of the federation', async () => {
    const r = await ok(toolPaths().kubectl, ['flotilla', 'providers', '--kubeconfig', federation().hub.kubeconfig], {
      cwd: app,
      env: { PATH: `${join(app, 'node_modules', '.bin')}:${PATH}` },
    });
    expect(r.stdout).toMatch(/^NAME +STATUS +REGION/);
    expect(r.stdout).toMatch(/^provider-a /m);
  });

  test('flotilla provider withdraw reads the escrow on the federation chain through the packaged ABI', async () => {
    const { anvil, chain } = federation();
    if (!anvil || !chain) throw new Error('the federation has no chain');
    // A fresh key: it has no credit, so withdraw stops after the escrow's owed() view call.
    const keyFile = join(tmp, 'payout.key');
    const r = await ok('npx', ['--no-install', 'flotilla', 'provider', 'withdraw', '--token', 'USDC', '--key-file', keyFile], {
      cwd: app,
      env: {
        FLOTILLA_CHAIN_RPC: anvil.rpcUrl,
        FLOTILLA_ESCROW_ADDRESS: chain.escrow,
        FLOTILLA_TOKENS: chain.tokens.map((t) => `${t.symbol}=${t.address}:${t.decimals}`).join(','),
      },
    });
    expect(r.stdout).toMatch(/^0x[0-9a-fA-F]{40} has no USDC credit in the escrow$/m);
  });
});

interface KrewPlugin {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { version: string; platforms: Array<{ uri: string; sha256: string; files: Array<{ from: string; to: string }>; bin: string }> };
}

describe('the krew plugin (packaging/krew/flotilla.yaml)', () => {
  test('its archive layout, installed the way krew does, runs as kubectl flotilla', async () => {
    // What krew-release-bot does with the template: the tag, and the archive's URL and sha256.
    const manifest = yaml.load(
      readFileSync(join(repoRoot, 'packaging', 'krew', 'flotilla.yaml'), 'utf8')
        .replace(/\{\{ addURIAndSha "([^"]+)" \.TagName \}\}/, (_m, uri: string) => `uri: ${uri}\n      sha256: ${'0'.repeat(64)}`)
        .replace(/\{\{ \.TagName \}\}/g, `v${cli.version}`),
    ) as KrewPlugin;
    expect(manifest).toMatchObject({ apiVersion: 'krew.googlecontainertools.github.com/v1alpha2', kind: 'Plugin', metadata: { name: 'flotilla' } });
    expect(manifest.spec.version).toBe(`v${cli.version}`);
    const [platform] = manifest.spec.platforms;
    expect(platform?.uri).toBe(`https://github.com/flotilla/flotilla/releases/download/v${cli.version}/flotilla-kubectl-v${cli.version}.tar.gz`);
    // The archive: the CLI package's production install.
    const archive = join(tmp, 'krew-archive');
    mkdirSync(archive);
    // Its own package.json, so that npm installs here and not into a project found further up.
    writeFileSync(join(archive, 'package.json'), JSON.stringify({ name: 'flotilla-krew-archive', private: true }));
    await ok('npm', ['install', '--omit=dev', '--no-package-lock', '--no-audit', '--no-fund', '--prefer-offline', '--cache', npmCache, cli.tarball], {
      cwd: archive,
      timeoutMs: 300_000,
    });
    // krew: copy each files entry into the install dir, link bin into its bin dir as kubectl-<name>.
    const installed = join(tmp, 'krew-store');
    const bin = join(tmp, 'krew-bin');
    mkdirSync(bin);
    for (const { from, to } of platform!.files) cpSync(join(archive, from), join(installed, to, from), { recursive: true });
    expect(statSync(join(installed, platform!.bin)).mode & 0o111).toBe(0o111);
    symlinkSync(join(installed, platform!.bin), join(bin, `kubectl-${manifest.metadata.name}`));
    const r = await ok(toolPaths().kubectl, ['flotilla', '--help'], { cwd: tmp, env: { PATH: `${bin}:${PATH}` } });
    expect(r.stdout).toContain('Usage: kubectl flotilla [options] [command]');
  });
});

// A user's Pulumi program, in TypeScript: tsc checks it against the installed declarations, then
// Node runs it directly (type stripping works outside node_modules) under Pulumi's mocks.
const PROGRAM = `
import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';

const declared: Array<{ type: string; name: string; inputs: Record<string, unknown> }> = [];
pulumi.runtime.setMocks(
  {
    newResource: (args: pulumi.runtime.MockResourceArgs) => {
      declared.push({ type: args.type, name: args.name, inputs: args.inputs });
      const state = args.type === 'kubernetes:helm.sh/v3:Release' ? { ...args.inputs, status: { namespace: args.inputs.namespace } } : args.inputs;
      return { id: args.name + '-id', state };
    },
    call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
  },
  'flotilla',
  'packaged',
  false,
);

const { FlotillaHub, FlotillaProvider, kubeconfigSecretName } = await import('flotilla-pulumi');
const secretName: string = kubeconfigSecretName('provider-a');
const hub = new FlotillaHub('flotilla', { providerSecretNames: [secretName] });
const provider = new FlotillaProvider('provider-a', {
  providerName: 'provider-a',
  kubeconfig: 'apiVersion: v1\\nkind: Config\\ncurrent-context: a\\ncontexts: [{name: a, context: {cluster: a, user: a}}]\\nclusters: [{name: a, cluster: {server: "https://10.0.0.7:6443"}}]\\nusers: [{name: a, user: {token: t}}]\\n',
  hub: new k8s.Provider('hub', { kubeconfig: 'hub-kubeconfig' }),
  hubDependsOn: [hub],
  lentGpus: 4,
  region: 'eu-west',
  payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  prices: { 'NVIDIA-L4': '0.45' },
  // Under mocks nothing fills the chart's token Secret: hand the credential over instead.
  token: { token: 'lent-token', caData: Buffer.from('CA').toString('base64') },
});
await new Promise((done) => pulumi.all([hub.namespace, provider.gpuProvider.urn, provider.kubeconfigSecret.urn]).apply(done));
process.stdout.write(JSON.stringify(declared));
`;

describe('the Pulumi components package (flotilla-pulumi)', () => {
  test('holds compiled components with declarations and the charts they install; no sources or tests', () => {
    const files = components.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/pulumi/index.js',
        'dist/pulumi/index.d.ts',
        'dist/charts/flotilla/Chart.yaml',
        'dist/charts/flotilla/crds/flotilla.dev_aijobs.yaml',
        'dist/charts/flotilla-provider/Chart.yaml',
      ]),
    );
    expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f))).toEqual([]);
    expect(files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || /\.test\./.test(f))).toEqual([]);
  });

  test('a TypeScript program outside the repository type-checks against it and runs under Pulumi mocks', async () => {
    writeFileSync(join(app, 'program.ts'), PROGRAM);
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    await ok(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2024', '--module', 'nodenext', '--allowImportingTsExtensions', 'program.ts'], {
      cwd: app,
    });
    const r = await ok(process.execPath, ['program.ts'], { cwd: app });
    const declared = JSON.parse(r.stdout) as Array<{ type: string; name: string; inputs: Record<string, unknown> }>;
    const releases = declared.filter((d) => d.type === 'kubernetes:helm.sh/v3:Release');
    const installed = join(app, 'node_modules', 'flotilla-pulumi', 'dist', 'charts');
    expect(releases.map((d) => d.inputs.chart).sort()).toEqual([join(installed, 'flotilla'), join(installed, 'flotilla-provider')]);
    for (const release of releases) expect(existsSync(join(release.inputs.chart as string, 'Chart.yaml'))).toBe(true);
    expect(declared.find((d) => d.type === 'kubernetes:flotilla.dev/v1alpha1:GPUProvider')?.inputs).toMatchObject({
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'GPUProvider',
      spec: { maxGpus: 4, region: 'eu-west' },
    });
  });
});
