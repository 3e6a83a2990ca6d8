// The reference trainer's own tests (examples/workloads/test_trainer.py), run with the suite so they
// cannot rot: the machine's python3 (no PyTorch) exercises the pure-Python path — SIGTERM and SIGKILL
// mid-run, resume, and a final model byte-identical to an uninterrupted run's.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../federation/paths.ts';

it('python3 -m unittest examples/workloads: an interrupted and resumed run ends byte-identical', () => {
  const run = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', join(repoRoot, 'examples', 'workloads'), '-v'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', TRAINER_BACKEND: 'python' },
  });
  const output = `${run.stdout}${run.stderr}`;
  expect({ status: run.status, output }).toEqual({ status: 0, output: expect.stringMatching(/Ran 7 tests[\s\S]*\nOK\n/) });
  expect(output).toMatch(/test_sigterm_then_resume_is_byte_identical .* ok/);
});
