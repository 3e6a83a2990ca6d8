// The README's main command, run for real: `node scripts/demo.ts` (what `make demo` runs after the
// tools) on the local federation must exit 0 and tell the story — the provider that took its GPUs
// back, the one that finished the job, the pinned output, the verified receipt and the payments.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { stopDaemon } from '../../federation/daemon.ts';
import { repoRoot } from '../../federation/paths.ts';
import { federation } from '../support/federation.ts';

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'demo.ts')], { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

// The demo leaves its operator running for people to look around; a test run does not.
afterAll(() => stopDaemon(federation().stateDir, 'operator'));

it('make demo: a paid 2-replica trainer is reclaimed mid-run, resumes elsewhere from its checkpoint, ends byte-identical, is pinned and settles', async () => {
  const { code, out } = await runDemo();
  if (code !== 0) throw new Error(`demo exited ${code}:\n${out}`);
  const moved = /preempted on (provider-[a-z]), finished on (provider-[a-z])/.exec(out);
  expect(moved).not.toBeNull();
  expect(moved?.[1]).not.toBe(moved?.[2]);
  expect(out).toMatch(/takes its GPUs back: node \S+ tainted flotilla\.dev\/reclaim/);
  expect(out).toMatch(/attempt 1 closed: Preempted: NodeReclaimed/);
  expect(out).toMatch(/attempt 2 resumed from checkpoint b[a-z2-7]+/);
  expect(out).toMatch(/output b[a-z2-7]+ pinned on the hub's Kubo: model\.json sha256 [0-9a-f]{64} \(added by the job agent/);
  expect(out).toContain('model.json is byte-identical to an uninterrupted 2-process run of the trainer on this machine');
  expect(out).toMatch(/receipt b[a-z2-7]+: signed by 0x[0-9a-fA-F]{40}/);
  expect(out).toMatch(new RegExp(`${moved?.[1]} \\(0x[0-9a-fA-F]{40}\\) paid [0-9.]+ USDC`));
  expect(out).toMatch(new RegExp(`${moved?.[2]} \\(0x[0-9a-fA-F]{40}\\) paid [0-9.]+ USDC`));
  expect(out).toContain('make federation-down');
}, 400_000);
