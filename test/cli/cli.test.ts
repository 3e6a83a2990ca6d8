// The real `flotilla` binary (node cli/flotilla.ts, and as the kubectl plugin kubectl-flotilla)
// against the local federation: submit then watch to completion through a namespace-scoped
// operator, status and providers in every output format, local inputs added to IPFS, --help on
// every command, and the errors a user meets first.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot, toolPaths } from '../../federation/paths.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { freePort } from '../http/support.ts';

const CLI = join(repoRoot, 'cli', 'flotilla.ts');
const IMAGE = `registry.example/trainer@sha256:${'b'.repeat(64)}`;
const hub = clusterClients('hub');
let ns = '';
let operator: OperatorProcess;
let kubeconfig = '';
let tmp = '';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], opts: { command?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const command = opts.command ?? process.execPath;
    const child = spawn(command, opts.command ? [...args] : [CLI, ...args], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const hubArgs = () => ['--kubeconfig', kubeconfig, '-n', ns];

beforeAll(async () => {
  kubeconfig = federation().hub.kubeconfig;
  ns = await createNamespace(hub.core, 't-cli');
  operator = startOperator(ns);
  tmp = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  rmSync(tmp, { recursive: true, force: true });
});

describe('flotilla CLI', () => {
  it('has --help on every command', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    for (const name of ['submit', 'status', 'watch', 'providers']) expect(top.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1] as string).filter((n) => n !== 'help');
    for (const name of names) {
      const help = await run([name, '--help']);
      expect({ name, code: help.code }).toEqual({ name, code: 0 });
      expect(help.stdout).toContain(`Usage: flotilla ${name}`);
    }
  });

  it('submits a job from flags and watches it to completion', async () => {
    const submitted = await run([
      'submit',
      'cli-train',
      ...hubArgs(),
      '--image',
      IMAGE,
      '--gpu-product',
      'NVIDIA-L4',
      '--annotation',
      'sim.flotilla.dev/run-seconds=8',
      '--annotation',
      'sim.flotilla.dev/output=from the cli',
      '--env',
      'EPOCHS=3',
      '--',
      'python',
      'train.py',
      '--epochs',
      '3',
    ]);
    expect(submitted).toMatchObject({ code: 0, stdout: `aijob.flotilla.dev/cli-train created in ${ns}\n` });
    const watched = await run(['watch', 'cli-train', ...hubArgs(), '--timeout', '120']);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    const lines = watched.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`\\] ${ns}/cli-train: Succeeded +— attempt \\d+ on provider-b \\(NVIDIA-L4\\)`));
    expect(lines.some((l) => / Running +— /.test(l) || / Scheduled +— /.test(l))).toBe(true);

    const json = await run(['status', 'cli-train', ...hubArgs(), '-o', 'json']);
    const job = JSON.parse(json.stdout) as AIJob;
    expect(job.status?.phase).toBe('Succeeded');
    expect(job.spec).toMatchObject({
      image: IMAGE,
      command: ['python'],
      args: ['train.py', '--epochs', '3'],
      env: [{ name: 'EPOCHS', value: '3' }],
      gpu: { products: ['NVIDIA-L4'] },
    });
    const asYaml = yaml.load((await run(['status', 'cli-train', ...hubArgs(), '-o', 'yaml'])).stdout) as AIJob;
    expect(asYaml.metadata.uid).toBe(job.metadata.uid);
    const human = await run(['status', 'cli-train', ...hubArgs()]);
    expect(human.stdout).toMatch(/^Phase +Succeeded$/m);
    expect(human.stdout).toMatch(/^Provider +provider-b \(NVIDIA-L4 at 0\.45\/GPU-hour\)$/m);
    expect(human.stdout).toContain(`Output     ${job.status?.outputCID}`);
  });

  it('submit --watch follows the job itself, and exits 1 when the job fails', async () => {
    const r = await run([
      'submit',
      'cli-fails',
      ...hubArgs(),
      '--image',
      IMAGE,
      '--gpu-product',
      'NVIDIA-L4',
      '--annotation',
      'sim.flotilla.dev/run-seconds=1',
      '--annotation',
      'sim.flotilla.dev/outcome=Failed',
      '--max-restarts',
      '0',
      '--watch',
      '--timeout',
      '120',
    ]);
    expect(r.stdout).toContain('Failed');
    expect(r.code).toBe(1);
  });

  it('adds local input paths to IPFS and names them by CID (checked by the apiserver with --dry-run)', async () => {
    writeFileSync(join(tmp, 'data.txt'), `local input ${ns}\n`);
    const r = await run([
      'submit',
      'cli-inputs',
      ...hubArgs(),
      '--image',
      IMAGE,
      '--input',
      `data=${join(tmp, 'data.txt')}:/data`,
      '--kubo',
      federation().kubo.hub.api,
      '--dry-run',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^added .*data\.txt to IPFS as b[a-z2-7]+$/m);
    const job = JSON.parse(r.stdout) as AIJob;
    expect(job.spec.inputs).toEqual([{ name: 'data', cid: expect.stringMatching(/^b[a-z2-7]{58,}$/), mountPath: '/data' }]);
    expect((await run(['status', 'cli-inputs', ...hubArgs()])).code).toBe(1); // a dry run creates nothing
  });

  it('lists providers as a table, JSON or YAML, also as `kubectl flotilla`', async () => {
    const table = await run(['providers', '--kubeconfig', kubeconfig]);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME +STATUS +REGION +FREE\/GPUS +PRICE PER GPU-HOUR +REPUTATION +LAST SEEN$/);
    expect(table.stdout).toMatch(/^provider-b +Ready +eu-west +\d+\/\d+ +NVIDIA-A100-SXM4-40GB=1\.20 NVIDIA-L4=0\.45 /m);
    const json = JSON.parse((await run(['providers', '--kubeconfig', kubeconfig, '-o', 'json'])).stdout) as { items: Array<{ metadata: { name: string } }> };
    expect(json.items.map((p) => p.metadata.name)).toEqual(expect.arrayContaining(['provider-a', 'provider-b', 'provider-c']));
    expect(yaml.load((await run(['providers', '--kubeconfig', kubeconfig, '-o', 'yaml'])).stdout)).toEqual(
      expect.objectContaining({ items: expect.any(Array) }),
    );

    const bin = join(tmp, 'bin');
    (await import('node:fs')).mkdirSync(bin);
    symlinkSync(CLI, join(bin, 'kubectl-flotilla'));
    const plugin = await run(['flotilla', 'providers', '--kubeconfig', kubeconfig], {
      command: toolPaths().kubectl,
      env: { PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    expect(plugin.code).toBe(0);
    expect(plugin.stdout).toMatch(/^provider-a +Ready/m);
    expect(
      (await run(['flotilla', '--help'], { command: toolPaths().kubectl, env: { PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` } }))
        .stdout,
    ).toContain('Usage: kubectl flotilla');
  });

  it.each([
    ['an unknown job', () => ['status', 'nope', ...hubArgs()], () => `error: AIJob ${ns}/nope not found\n`],
    ['a missing --image', () => ['submit', 'x', ...hubArgs()], () => /error: required option '--image <ref>' not specified/],
    [
      'a token without a maximum',
      () => ['submit', 'x', ...hubArgs(), '--image', IMAGE, '--token', 'USDC'],
      () => 'error: --token needs --max-amount: the most the job may cost, in token units\n',
    ],
    [
      'an invalid output format',
      () => ['status', 'x', ...hubArgs(), '-o', 'xml'],
      () => /error: option '-o, --output <format>' argument 'xml' is invalid. Allowed choices are json, yaml./,
    ],
    [
      'a kubeconfig that does not exist',
      () => ['providers', '--kubeconfig', join(tmp, 'none.yaml')],
      () => /^error: cannot load the kubeconfig .*none\.yaml: ENOENT/,
    ],
    [
      'a duplicate job name',
      () => ['submit', 'cli-train', ...hubArgs(), '--image', IMAGE],
      () => `error: AIJob ${ns}/cli-train already exists; pick another name or delete it first\n`,
    ],
    [
      'a manifest CEL rejects',
      () => ['submit', 'bad', ...hubArgs(), '--image', IMAGE, '--callback-url', 'ftp://example.test/x'],
      () => /error: the hub rejected AIJob .*\/bad: .*spec.callbackURL must be an absolute http or https URL/,
    ],
    [
      'a local input without an IPFS node',
      () => ['submit', 'x', ...hubArgs(), '--image', IMAGE, '--input', `d=${CLI}`],
      () => /error: input ".*flotilla\.ts" is a local path: pass --kubo/,
    ],
    // --ipfs-api, the flag's old name, is still read (hidden from --help): the add is tried on it.
    [
      'a local input with the old --ipfs-api name and no node there',
      () => ['submit', 'x', ...hubArgs(), '--image', IMAGE, '--input', `d=${CLI}`, '--ipfs-api', 'http://127.0.0.1:9'],
      () => /error: could not add .*flotilla\.ts to IPFS at http:\/\/127\.0\.0\.1:9: /,
    ],
  ])('explains %s in one line', async (_name, args, expected) => {
    const r = await run(args(), { env: { FLOTILLA_KUBO_API: '', FLOTILLA_IPFS_API: '' } });
    expect(r.code).not.toBe(0);
    const want = expected();
    if (typeof want === 'string') expect(r.stderr).toBe(want);
    else expect(r.stderr).toMatch(want);
  });

  it('says when the hub cannot be reached', async () => {
    const dead = join(tmp, 'dead.yaml');
    const port = await freePort(); // nothing listens there
    writeFileSync(
      dead,
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const r = await run(['providers', '--kubeconfig', dead]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach the hub apiserver at https://127.0.0.1:${port} (ECONNREFUSED); is it running, and is --kubeconfig right?\n`);
  });
});
