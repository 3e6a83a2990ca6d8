"""The reference trainer's promises, on whichever backend this Python has (pure Python without
PyTorch): an interrupted run (SIGTERM mid-run, or SIGKILL) resumed from its checkpoints ends with a
model file byte-identical to an uninterrupted run's; checkpoints are complete directories only.

And the pure-Python backend's 2-process gang, each process started with the environment the
operator injects into replica 0 and 1 (MASTER_ADDR=127.0.0.1 in place of r0.<service>): it trains
as one job, SIGTERM stops both at the same step, a restart resumes from rank 0's checkpoint with
rank 1's checkpoint directory empty and ends byte-identical to an uninterrupted gang; a missing,
dead or silent peer ends the run with a clear error instead of a hang.

    python3 -m unittest discover -s examples/workloads -v
"""
import os
import shutil
import hashlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gang_env(rank, port, world=2):
    """What the operator gives replica `rank` of a `world`-replica, 1-GPU-per-replica AIJob."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
               NNODES=str(world), NODE_RANK=str(rank), NPROC_PER_NODE="1", PET_NNODES=str(world), PET_NODE_RANK=str(rank),
               PET_NPROC_PER_NODE="1", PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(port))
    return env


def gang_cmd(workdir, rank, *extra):
    return [sys.executable, TRAINER, "--backend", "python", "--checkpoint-dir", os.path.join(workdir, f"r{rank}", "ck"),
            "--output-dir", os.path.join(workdir, f"r{rank}", "out"), "--steps", STEPS, "--checkpoint-every", "10", *extra]


def run_gang(workdir, *extra, stop_at=None, sig=signal.SIGTERM, signal_ranks=(0, 1), wait_for=(0, 1), timeout=60):
    """Both ranks of a 2-process gang. With stop_at, sends `sig` to signal_ranks once rank 0 logs that
    step. Waits for the ranks in wait_for (the others are killed then). Returns ([status of rank 0,
    rank 1], [log of rank 0, rank 1], [seconds from the signal to each rank's exit, or None])."""
    port = free_port()
    logs = [os.path.join(workdir, f"r{r}.log") for r in (0, 1)]
    procs = []
    for r in (0, 1):
        with open(logs[r], "w") as f:
            procs.append(subprocess.Popen(gang_cmd(workdir, r, *extra), env=gang_env(r, port), stdout=f, stderr=subprocess.STDOUT))
    signalled, took = None, [None, None]
    try:
        deadline = time.monotonic() + timeout
        while any(procs[r].poll() is None for r in wait_for) and time.monotonic() < deadline:
            if stop_at is not None and signalled is None:
                with open(logs[0]) as f:
                    if any(line.startswith(f"step {stop_at} ") for line in f):
                        for r in signal_ranks:
                            procs[r].send_signal(sig)
                        signalled = time.monotonic()
            for r in (0, 1):
                if signalled is not None and took[r] is None and procs[r].poll() is not None:
                    took[r] = time.monotonic() - signalled
            time.sleep(0.01)
    finally:
        for r, p in enumerate(procs):
            if p.poll() is None:
                p.kill()
            elif signalled is not None and took[r] is None:
                took[r] = time.monotonic() - signalled
        statuses = [p.wait() for p in procs]
    out = []
    for name in logs:
        with open(name) as f:
            out.append(f.read())
    return statuses, out, took


def steps_logged(log):
    return re.findall(r"^step \d+ loss \S+$", log, re.M)


def model_digest(log):
    return re.search(r"sha256 ([0-9a-f]{64}) ranks agree: True$", log, re.M).group(1)


class PythonGang(unittest.TestCase):
    """Two processes of the pure-Python backend, with the operator's rendezvous environment."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="trainer-gang-test-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def dir(self, name):
        d = os.path.join(self.root, name)
        os.makedirs(os.path.join(d, "r1", "ck"))  # rank 1's checkpoint directory: a fresh node's, empty
        return d

    def test_interrupted_and_resumed_with_rank_1_empty_is_byte_identical_to_uninterrupted(self):
        straight = self.dir("straight")
        statuses, logs, _ = run_gang(straight)
        self.assertEqual(statuses, [0, 0], logs)
        reference = model_bytes(os.path.join(straight, "r0"))
        # The two ranks logged the same losses, and each its own model digest: equal, and the file's.
        self.assertEqual(len(steps_logged(logs[0])), int(STEPS))
        self.assertEqual(steps_logged(logs[0]), steps_logged(logs[1]))
        self.assertEqual(model_digest(logs[0]), model_digest(logs[1]))
        self.assertEqual(model_digest(logs[0]), hashlib.sha256(reference).hexdigest())
        # It trained as one job: not the single-process model.
        single = os.path.join(self.root, "single")
        status, out = run(single, "--backend", "python")
        self.assertEqual(status, 0, out)
        self.assertNotEqual(model_bytes(single), reference)

        d = self.dir("interrupted")
        statuses, logs, _ = run_gang(d, "--step-delay", "0.02", stop_at=33)
        self.assertEqual(statuses, [143, 143], logs)
        stopped = [int(re.search(r"SIGTERM: stopped after step (\d+)", log).group(1)) for log in logs]
        self.assertEqual(stopped[0], stopped[1], logs)  # both ranks stopped at the same step
        self.assertGreaterEqual(stopped[0], 33)
        self.assertLess(stopped[0], int(STEPS))
        self.assertEqual(steps_logged(logs[0]), steps_logged(logs[1]))
        self.assertTrue(os.path.isdir(os.path.join(d, "r0", "ck", f"step-{stopped[0]:08d}")))
        self.assertFalse(os.path.exists(os.path.join(d, "r0", "out", "model.json")))

        statuses, logs, _ = run_gang(d)
        self.assertEqual(statuses, [0, 0], logs)
        for log in logs:
            self.assertIn(f"resumed at step {stopped[0]}", log)
        self.assertEqual(steps_logged(logs[0]), steps_logged(logs[1]))
        self.assertEqual(model_digest(logs[0]), model_digest(logs[1]))
        self.assertEqual(model_bytes(os.path.join(d, "r0")), reference)
        # Only rank 0 writes: rank 1's checkpoint directory is still empty and it wrote no model.
        self.assertEqual(os.listdir(os.path.join(d, "r1", "ck")), [])
        self.assertFalse(os.path.exists(os.path.join(d, "r1", "out")))

    def test_a_peer_that_never_comes_is_a_clear_error_within_the_rendezvous_timeout(self):
        port = free_port()
        d = self.dir("alone")
        started = time.monotonic()
        # Rank 1 with no rank 0 listening, and rank 0 with no rank 1 connecting (another port).
        alone = [subprocess.Popen(gang_cmd(d, r, "--rendezvous-timeout", "1"), env=gang_env(r, free_port() if r == 0 else port),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
        outs = [p.communicate(timeout=30)[0] for p in alone]
        self.assertLess(time.monotonic() - started, 15)
        for p, out in zip(alone, outs):
            self.assertNotIn(p.returncode, (0, 143), out)
            self.assertIn("rendezvous timed out after 1 s", out)
        self.assertIn("rank(s) 1 never connected", outs[0])
        self.assertIn(f"rank 0 at 127.0.0.1:{port} (MASTER_ADDR:MASTER_PORT) never answered", outs[1])

    def test_a_lost_or_silent_peer_is_a_clear_error_not_a_hang(self):
        # Rank 1 killed mid-run: rank 0 fails at once.
        statuses, logs, took = run_gang(self.dir("kill1"), "--step-delay", "0.02", stop_at=20, sig=signal.SIGKILL, signal_ranks=(1,), wait_for=(0,))
        self.assertEqual(statuses[1], -signal.SIGKILL)
        self.assertNotIn(statuses[0], (0, 143), logs[0])
        self.assertIn("lost the connection to rank 1", logs[0])
        self.assertLess(took[0], 10)
        # Rank 0 killed mid-run: rank 1 fails at once.
        statuses, logs, took = run_gang(self.dir("kill0"), "--step-delay", "0.02", stop_at=20, sig=signal.SIGKILL, signal_ranks=(0,), wait_for=(1,))
        self.assertNotIn(statuses[1], (0, 143), logs[1])
        self.assertIn("lost the connection to rank 0", logs[1])
        self.assertLess(took[1], 10)
        # Rank 1 frozen (a node gone without closing anything): rank 0 gives up after --comm-timeout.
        statuses, logs, took = run_gang(self.dir("frozen"), "--step-delay", "0.02", "--comm-timeout", "1", stop_at=20, sig=signal.SIGSTOP, signal_ranks=(1,), wait_for=(0,), timeout=20)
        self.assertNotIn(statuses[0], (0, 143), logs[0])
        self.assertIn("rank 1 sent nothing for 1 s (--comm-timeout)", logs[0])
        self.assertLess(took[0], 10)


if __name__ == "__main__":
    unittest.main()
