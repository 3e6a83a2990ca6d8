// `make bench`: runs every benchmark script and writes docs/benchmarks.md from what they printed.
//
//   node bench/report.ts                      everything (needs the local federation: make federation-up)
//   node bench/report.ts --jobs 20 --nodes 5  a small dispatch run while developing
//   node bench/report.ts --only placement,settlement     some steps; the others come from the last run
//   node bench/report.ts --render             rewrite the doc from the last run's outputs only
//
// Each step's raw output is kept in .flotilla/bench/steps.json (git-ignored), so the doc can be
// re-rendered, and a step re-run, without running the rest. The doc says when each step ran and the
// load average around it: the machine is shared. The targets table puts this run's figures
// (written to .flotilla/bench/figures.json) beside bench/before.json, an earlier run's.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../federation/paths.ts';
import type { DispatchReport } from './dispatch.ts';
import { figuresOf, renderReport, runLabel } from './lib/render.ts';
import type { Machine, StepRecord, Steps } from './lib/render.ts';
import type { TargetFigures } from './lib/targets.ts';

const STEPS = ['placement', 'placementController', 'dispatch', 'preemption', 'settlement', 'scheduler'] as const;
type Step = (typeof STEPS)[number];

const argv = process.argv.slice(2);
const value = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const outDir = join(repoRoot, '.flotilla', 'bench');
mkdirSync(outDir, { recursive: true });
const recordFile = join(outDir, 'steps.json');
const load = () => loadavg().map((l) => Number(l.toFixed(2)));

/** Runs `node <args>` from the repo root, echoing its output, and returns stdout. */
function runNode(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`node ${args.join(' ')} exited ${code}`))));
  });
}

async function runStep(step: Step): Promise<StepRecord> {
  const started = new Date().toISOString();
  const loadBefore = load();
  const t0 = Date.now();
  let output: string;
  switch (step) {
    case 'placement':
      output = await runNode([
        '--max-old-space-size=6144',
        'bench/placement.ts',
        '--json',
        ...(value('--placement-jobs') ? ['--jobs', value('--placement-jobs') as string] : []),
      ]);
      output = output.trim().split('\n').at(-1) ?? '';
      break;
    case 'placementController':
      output = (await runNode(['bench/placement-controller.ts', '--json'])).trim().split('\n').at(-1) ?? '';
      break;
    case 'dispatch': {
      const file = join(outDir, 'dispatch-run.json');
      await runNode([
        'bench/dispatch.ts',
        '--json',
        file,
        '--jobs',
        value('--jobs') ?? '500',
        '--nodes',
        value('--nodes') ?? '50',
        '--rest-seconds',
        value('--rest-seconds') ?? '30',
        '--hub-qps-variants',
        value('--hub-qps-variants') ?? '200',
      ]);
      output = readFileSync(file, 'utf8');
      break;
    }
    case 'preemption':
      output = await runNode(['bench/preemption-recovery.ts', value('--preemption-jobs') ?? '50']);
      break;
    case 'settlement':
      output = await runNode(['bench/settlement-gas.ts']);
      break;
    case 'scheduler': {
      const file = join(outDir, 'scheduler-run.json');
      const printed = await runNode(['bench/scheduler.ts', '--json', file]);
      output = JSON.stringify({ report: JSON.parse(readFileSync(file, 'utf8')) as unknown, printed });
      break;
    }
  }
  return { step, started, seconds: (Date.now() - t0) / 1000, loadBefore, loadAfter: load(), output };
}

function machine(): Machine {
  const versions = readFileSync(join(repoRoot, 'scripts', 'versions.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=') as [string, string]);
  let anvil = 'unknown';
  try {
    anvil =
      execFileSync(join(repoRoot, 'node_modules', '.bin', 'anvil'), ['--version'], { encoding: 'utf8' })
        .split('\n')[0]
        ?.trim() ?? anvil;
  } catch {
    /* not installed: the settlement step fails and says so */
  }
  const meminfo = existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '';
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    nproc: cpus().length,
    memoryGiB: totalmem() / 2 ** 30,
    availableGiB: Number(/^MemAvailable:\s+(\d+)/m.exec(meminfo)?.[1] ?? Number.NaN) / 2 ** 20,
    kernel: release(),
    node: process.version,
    anvil,
    versions: Object.fromEntries(versions),
  };
}

async function main(): Promise<void> {
  const previous: Partial<Record<Step, StepRecord>> = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as Steps) : {};
  const only = value('--only')?.split(',') as Step[] | undefined;
  const toRun: Step[] = argv.includes('--render') ? [] : (only ?? [...STEPS]);
  for (const s of toRun) if (!STEPS.includes(s)) throw new Error(`unknown step ${s}; steps: ${STEPS.join(', ')}`);
  const records: Partial<Record<Step, StepRecord>> = { ...previous };
  const failures: string[] = [];
  for (const step of toRun) {
    process.stdout.write(`\n=== ${step} ===\n`);
    try {
      records[step] = await runStep(step);
      writeFileSync(recordFile, JSON.stringify(records, null, 2));
    } catch (err) {
      failures.push(`${step}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const generated = new Date().toISOString();
  const dispatch = records.dispatch ? (JSON.parse(records.dispatch.output) as DispatchReport) : undefined;
  const now = figuresOf(records as Steps, dispatch, runLabel(records as Steps));
  // The next run's "before", once committed as bench/before.json.
  writeFileSync(join(outDir, 'figures.json'), `${JSON.stringify(now, null, 2)}\n`);
  const beforeFile = join(repoRoot, 'bench', 'before.json');
  const before = existsSync(beforeFile) ? (JSON.parse(readFileSync(beforeFile, 'utf8')) as TargetFigures) : undefined;
  const doc = renderReport({ machine: machine(), generated, steps: records as Steps, dispatch, now, before });
  writeFileSync(join(repoRoot, 'docs', 'benchmarks.md'), doc);
  process.stdout.write(
    `\nwrote docs/benchmarks.md${failures.length > 0 ? ` — steps that failed (their last good output, if any, was kept):\n  ${failures.join('\n  ')}` : ''}\n`,
  );
  if (failures.length > 0) process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
