"""The reference trainer's promises, on whichever backend this Python has (pure Python without
PyTorch): an interrupted run (SIGTERM mid-run, or SIGKILL) resumed from its checkpoints ends with a
model file byte-identical to an uninterrupted run's; checkpoints are complete directories only.

    python3 -m unittest discover -s examples/workloads -v
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINER = os.path.join(HERE, "trainer.py")
STEPS = "120"


def run(workdir, *extra, stop_at=None, sig=signal.SIGTERM):
    """Runs the trainer; with stop_at, sends `sig` once it logs that step. Returns (status, log)."""
    cmd = [sys.executable, TRAINER, "--checkpoint-dir", os.path.join(workdir, "ck"), "--output-dir", os.path.join(workdir, "out"),
           "--steps", STEPS, "--checkpoint-every", "10", "--backend", os.environ.get("TRAINER_BACKEND", "auto"), *extra]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if stop_at is not None and line.startswith(f"step {stop_at} "):
                proc.send_signal(sig)
                stop_at = None
        return proc.wait(), "".join(lines)


def model_bytes(workdir):
    with open(os.path.join(workdir, "out", "model.json"), "rb") as f:
        return f.read()


class InterruptAndResume(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="trainer-test-")
        self.dirs = {n: os.path.join(self.root, n) for n in ("straight", "term", "kill")}
        status, out = run(self.dirs["straight"])
        self.assertEqual(status, 0, out)
        self.reference = model_bytes(self.dirs["straight"])

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_sigterm_then_resume_is_byte_identical(self):
        d = self.dirs["term"]
        status, out = run(d, "--step-delay", "0.02", stop_at=33)
        self.assertEqual(status, 143, out)
        self.assertIn("SIGTERM: stopped after step", out)
        # It checkpointed where it stopped, off the every-10 grid.
        stopped = int(out.rsplit("stopped after step ", 1)[1].split()[0])
        self.assertGreaterEqual(stopped, 33)
        self.assertTrue(os.path.isdir(os.path.join(d, "ck", f"step-{stopped:08d}")))
        self.assertFalse(os.path.exists(os.path.join(d, "out", "model.json")))
        status, out = run(d)
        self.assertEqual(status, 0, out)
        self.assertIn(f"resumed at step {stopped}", out)
        self.assertEqual(model_bytes(d), self.reference)

    def test_sigkill_then_resume_from_the_last_periodic_checkpoint_is_byte_identical(self):
        d = self.dirs["kill"]
        status, out = run(d, "--step-delay", "0.02", stop_at=47, sig=signal.SIGKILL)
        self.assertEqual(status, -signal.SIGKILL, out)
        names = sorted(os.listdir(os.path.join(d, "ck")))
        complete = [n for n in names if n.startswith("step-")]
        self.assertTrue(complete, names)
        status, out = run(d)
        self.assertEqual(status, 0, out)
        self.assertIn(f"resumed at step {int(complete[-1][5:])}", out)
        self.assertEqual(model_bytes(d), self.reference)

    def test_a_leftover_temporary_directory_is_not_a_checkpoint(self):
        d = self.dirs["term"]
        os.makedirs(os.path.join(d, "ck", ".tmp-step-00000090-1"))
        status, out = run(d)
        self.assertEqual(status, 0, out)
        self.assertIn("starting at step 0", out)
        self.assertEqual(model_bytes(d), self.reference)

    def test_keeps_the_newest_three_checkpoints(self):
        self.assertEqual(sorted(os.listdir(os.path.join(self.dirs["straight"], "ck"))), ["step-00000100", "step-00000110", "step-00000120"])


if __name__ == "__main__":
    unittest.main()
