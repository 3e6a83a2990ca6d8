// The uninterrupted reference of a trainer gang: the job's own command run as `ranks` local
// processes with the torch.distributed environment on loopback (what the operator injects, minus the
// pod network), its folders under a temp dir. `make demo` and the trainer end-to-end test compare
// the federation's interrupted, resumed run with this, byte for byte.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../federation/daemon.ts';
import { repoRoot } from '../federation/paths.ts';

/** Flags whose value the reference replaces: the job's folders (per rank) and its slow-down. */
const CHECKPOINT_FLAG = '--checkpoint-dir';
const OUTPUT_FLAG = '--output-dir';
const DELAY_FLAG = '--step-delay';

/** The job's args with the folders moved under `dir` (per rank) and no step delay. */
export function referenceArgs(args: readonly string[], dir: string, rank: number): string[] {
  return args.map((arg, i) => {
    const flag = args[i - 1];
    if (flag === CHECKPOINT_FLAG) return join(dir, `ck${rank}`);
    if (flag === OUTPUT_FLAG) return join(dir, `out${rank}`);
    if (flag === DELAY_FLAG) return '0';
    return arg;
  });
}

/** Runs the gang to its end; rank 0's `<output>/<modelFile>`, or an error naming the exit codes. */
export async function uninterruptedModel(command: readonly string[], args: readonly string[], ranks = 2, modelFile = 'model.json'): Promise<Buffer> {
  const [program, ...script] = command;
  if (!program) throw new Error('the job has no command');
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-trainer-reference-'));
  const port = await freePort();
  try {
    const codes = await Promise.all(
      Array.from(
        { length: ranks },
        (_, rank) =>
          new Promise<number | null>((resolve) => {
            const child = spawn(program, [...script, ...referenceArgs(args, dir, rank)], {
              cwd: repoRoot,
              env: { ...process.env, WORLD_SIZE: String(ranks), RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
              stdio: 'ignore',
            });
            child.once('error', () => resolve(null));
            child.once('exit', resolve);
          }),
      ),
    );
    if (codes.some((c) => c !== 0)) throw new Error(`the uninterrupted reference run failed (exit codes ${codes.join(', ')})`);
    return readFileSync(join(dir, 'out0', modelFile));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
