#!/usr/bin/env python3
"""A small deterministic trainer that behaves like ordinary training code.

* Uses PyTorch when it can be imported (a small MLP, SGD with momentum, CUDA when available), and a
  pure-Python linear model with the same optimizer otherwise (--backend forces one).
* Every --checkpoint-every steps it saves a checkpoint directory, atomically: the files are written
  into a temporary directory beside it, flushed, and the directory is renamed to step-NNNNNNNN.
  It keeps the newest --keep of them.
* On start it resumes from the newest complete checkpoint it finds in --checkpoint-dir.
* On SIGTERM it finishes the current step, saves a checkpoint and exits with status 143.
* At the end it writes its final model to --output-dir/model.json (exact: floats in hex).

Deterministic: the batch of step s depends only on (--seed, s), and the whole training state
(parameters, optimizer state, step) is in the checkpoint, so a run that is interrupted and resumed
ends with a model file byte-identical to an uninterrupted run's.

Distributed (PyTorch only): started by torchrun (WORLD_SIZE > 1), each process trains on its share
of every batch and gradients are averaged with all_reduce; rank 0 saves checkpoints and the model,
and on resume sends the checkpoint it found to the other ranks.

Nothing here knows about any scheduler: it reads its arguments and the standard torch.distributed
environment, like any trainer.
"""
import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sys
import time

CHECKPOINT_PREFIX = "step-"
MODEL_FILE = "model.json"
FEATURES = 8
BATCH = 32
LR = 0.05
MOMENTUM = 0.9


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=20)
    p.add_argument("--keep", type=int, default=3, help="checkpoints to keep (newest)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--backend", choices=["auto", "torch", "python"], default="auto")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda when available), cpu, cuda, cuda:N")
    p.add_argument("--dist-backend", default="auto", help="torch.distributed backend: auto (nccl on CUDA, else gloo), nccl, gloo")
    p.add_argument("--step-delay", type=float, default=0.0, help="seconds to sleep after each step (makes runs long enough to interrupt)")
    return p.parse_args(argv)


class Stop:
    """SIGTERM: finish the step, checkpoint, exit."""

    requested = False

    @classmethod
    def install(cls):
        signal.signal(signal.SIGTERM, lambda *_: setattr(cls, "requested", True))


# ----- checkpoints: atomic directories, newest complete one wins -----

def checkpoint_name(step):
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def latest_checkpoint(root):
    """The newest complete checkpoint directory (temporary ones never match the name)."""
    if not os.path.isdir(root):
        return None
    steps = []
    for name in os.listdir(root):
        if name.startswith(CHECKPOINT_PREFIX) and name[len(CHECKPOINT_PREFIX):].isdigit():
            steps.append(int(name[len(CHECKPOINT_PREFIX):]))
    return os.path.join(root, checkpoint_name(max(steps))) if steps else None


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(root, step, files, keep):
    """files: {name: bytes}. Written to a temporary directory, then renamed into place."""
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, checkpoint_name(step))
    if os.path.exists(final):
        return final
    tmp = os.path.join(root, f".tmp-{checkpoint_name(step)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name, data in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    _fsync_dir(tmp)
    os.rename(tmp, final)
    _fsync_dir(root)
    done = sorted(n for n in os.listdir(root) if n.startswith(CHECKPOINT_PREFIX))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    return final


def write_model(output_dir, model):
    os.makedirs(output_dir, exist_ok=True)
    data = (json.dumps(model, sort_keys=True, indent=1) + "\n").encode()
    tmp = os.path.join(output_dir, f".{MODEL_FILE}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(output_dir, MODEL_FILE))
    return hashlib.sha256(data).hexdigest()


def hexes(values):
    return [float(v).hex() for v in values]


# ----- the pure-Python backend: linear regression, SGD with momentum -----

class PythonTrainer:
    backend = "python"

    def __init__(self, seed):
        self.seed = seed
        rng = random.Random(f"{seed}:init")
        self.params = [rng.uniform(-0.1, 0.1) for _ in range(FEATURES + 1)]  # weights, then bias
        self.velocity = [0.0] * (FEATURES + 1)
        truth = random.Random(f"{seed}:truth")
        self.true_w = [truth.uniform(-1, 1) for _ in range(FEATURES)]

    def batch(self, step):
        rng = random.Random(f"{self.seed}:batch:{step}")
        rows = []
        for _ in range(BATCH):
            x = [rng.gauss(0, 1) for _ in range(FEATURES)]
            y = sum(w * v for w, v in zip(self.true_w, x)) + 0.5 + rng.gauss(0, 0.01)
            rows.append((x, y))
        return rows

    def step(self, step):
        grads = [0.0] * (FEATURES + 1)
        loss = 0.0
        for x, y in self.batch(step):
            err = sum(w * v for w, v in zip(self.params, x)) + self.params[-1] - y
            loss += err * err
            for i, v in enumerate(x):
                grads[i] += 2 * err * v / BATCH
            grads[-1] += 2 * err / BATCH
        for i, g in enumerate(grads):
            self.velocity[i] = MOMENTUM * self.velocity[i] + g
            self.params[i] -= LR * self.velocity[i]
        return loss / BATCH

    def state(self, step):
        return {"state.json": json.dumps({"backend": self.backend, "step": step, "params": hexes(self.params), "velocity": hexes(self.velocity)}, sort_keys=True).encode()}

    def load(self, path):
        with open(os.path.join(path, "state.json"), "rb") as f:
            state = json.loads(f.read())
        if state["backend"] != self.backend:
            raise SystemExit(f"checkpoint {path} was written by the {state['backend']} backend, not {self.backend}")
        self.params = [float.fromhex(v) for v in state["params"]]
        self.velocity = [float.fromhex(v) for v in state["velocity"]]
        return state["step"]

    def model(self, steps):
        return {"backend": self.backend, "steps": steps, "params": {"linear": {"shape": [FEATURES + 1], "values": hexes(self.params)}}}


# ----- the PyTorch backend: a small MLP, SGD with momentum, optionally distributed -----

class TorchTrainer:
    backend = "torch"

    def __init__(self, seed, device, dist_backend):
        import torch
        import torch.distributed as dist
        self.torch, self.dist = torch, dist
        torch.use_deterministic_algorithms(True)
        torch.backends.cuda.matmul.allow_tf32 = False
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            device = f"cuda:{local_rank % max(1, torch.cuda.device_count())}"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)  # NCCL's object collectives use the current device
        self.reduce_on_cpu = True
        if self.world > 1:
            backend = dist_backend if dist_backend != "auto" else ("nccl" if self.device.type == "cuda" else "gloo")
            dist.init_process_group(backend=backend)
            self.reduce_on_cpu = backend == "gloo"
        self.seed = seed
        torch.manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).to(self.device)
        self.optim = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        g = torch.Generator().manual_seed(seed * 7919 + 1)
        self.true_w = torch.randn(FEATURES, 1, generator=g)

    def batch(self, step):
        # Generated on the CPU from (seed, step), so every device and every rank sees the same batch.
        g = self.torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        x = self.torch.randn(BATCH, FEATURES, generator=g)
        y = x @ self.true_w + 0.5 + 0.01 * self.torch.randn(BATCH, 1, generator=g)
        if self.world > 1:
            x, y = x[self.rank::self.world], y[self.rank::self.world]
        return x.to(self.device), y.to(self.device)

    def step(self, step):
        torch = self.torch
        x, y = self.batch(step)
        # Fresh gradients every step: a resumed run takes exactly the path of an uninterrupted one.
        self.optim.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        loss.backward()
        if self.world > 1:
            grads = [p.grad for p in self.model.parameters()]
            flat = torch.cat([g.reshape(-1) for g in grads])
            flat = flat.cpu() if self.reduce_on_cpu else flat
            self.dist.all_reduce(flat)
            flat = (flat / self.world).to(self.device)
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
        self.optim.step()
        return float(loss.detach().cpu())

    def stop_agreed(self, requested):
        """Every rank stops at the same step when any of them was told to."""
        if self.world == 1:
            return requested
        flag = self.torch.tensor([1 if requested else 0], device="cpu" if self.reduce_on_cpu else self.device)
        self.dist.all_reduce(flag, op=self.dist.ReduceOp.MAX)
        return bool(flag.item())

    def state(self, step):
        buf = io.BytesIO()
        self.torch.save({"backend": self.backend, "step": step, "model": self.model.state_dict(), "optim": self.optim.state_dict()}, buf)
        return {"state.pt": buf.getvalue()}

    def load_bytes(self, data):
        state = self.torch.load(io.BytesIO(data), map_location=self.device, weights_only=True)
        if state["backend"] != self.backend:
            raise SystemExit(f"checkpoint was written by the {state['backend']} backend, not {self.backend}")
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        return state["step"]

    def resume(self, root):
        """Rank 0 reads the newest checkpoint and sends it to the others (theirs may not have it)."""
        data = None
        if self.rank == 0:
            path = latest_checkpoint(root)
            if path:
                with open(os.path.join(path, "state.pt"), "rb") as f:
                    data = f.read()
        if self.world > 1:
            data = self.broadcast_bytes(data)
        return self.load_bytes(data) if data is not None else 0

    def comm_device(self):
        return "cpu" if self.reduce_on_cpu else self.device

    def broadcast_bytes(self, data):
        """Rank 0's bytes (or None) on every rank, through tensors (object collectives need NumPy)."""
        torch = self.torch
        size = torch.tensor([-1 if data is None else len(data)], dtype=torch.int64, device=self.comm_device())
        self.dist.broadcast(size, src=0)
        if size.item() < 0:
            return None
        if self.rank == 0:
            buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.comm_device())
        else:
            buf = torch.empty(int(size.item()), dtype=torch.uint8, device=self.comm_device())
        self.dist.broadcast(buf, src=0)
        return bytes(buf.cpu().tolist())

    def model_file(self, steps):
        params = {name: {"shape": list(t.shape), "values": hexes(t.detach().cpu().reshape(-1).tolist())} for name, t in self.model.state_dict().items()}
        return {"backend": self.backend, "steps": steps, "params": params}

    def agree_on(self, digest):
        if self.world == 1:
            return True
        mine = self.torch.tensor(list(bytes.fromhex(digest)), dtype=self.torch.int64, device=self.comm_device())
        gathered = [self.torch.empty_like(mine) for _ in range(self.world)]
        self.dist.all_gather(gathered, mine)
        return all(bool(self.torch.equal(g, mine)) for g in gathered)

    def barrier(self):
        if self.world > 1:
            self.dist.barrier()

    def close(self):
        if self.world > 1:
            self.dist.destroy_process_group()


def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def log(rank, message):
    if rank == 0:
        print(message, flush=True)


def main(argv):
    args = parse_args(argv)
    if args.device.startswith("cuda"):
        # cuBLAS is deterministic only with a fixed workspace (set before CUDA starts).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    use_torch = args.backend == "torch" or (args.backend == "auto" and torch_available())
    Stop.install()
    if use_torch:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        trainer = TorchTrainer(args.seed, args.device, args.dist_backend)
        rank = trainer.rank
        start = trainer.resume(args.checkpoint_dir)
    else:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise SystemExit("the pure-Python backend trains in one process only; install PyTorch for distributed runs")
        trainer = PythonTrainer(args.seed)
        rank = 0
        path = latest_checkpoint(args.checkpoint_dir)
        start = trainer.load(path) if path else 0
    where = f" on {trainer.device}" if use_torch else ""
    world = f", {trainer.world} processes" if use_torch and trainer.world > 1 else ""
    log(rank, f"backend {trainer.backend}{where}{world}; " + (f"resumed at step {start}" if start else "starting at step 0"))

    step = start
    while step < args.steps:
        loss = trainer.step(step)
        step += 1
        log(rank, f"step {step} loss {loss:.6f}")
        stop = trainer.stop_agreed(Stop.requested) if use_torch else Stop.requested
        if stop or step % args.checkpoint_every == 0:
            if rank == 0:
                saved = save_checkpoint(args.checkpoint_dir, step, trainer.state(step), args.keep)
                log(rank, f"checkpoint {saved}")
            if use_torch:
                trainer.barrier()
        if stop:
            log(rank, f"SIGTERM: stopped after step {step}")
            if use_torch:
                trainer.close()
            return 143
        if args.step_delay:
            time.sleep(args.step_delay)

    model = trainer.model_file(step) if use_torch else trainer.model(step)
    digest = hashlib.sha256((json.dumps(model, sort_keys=True, indent=1) + "\n").encode()).hexdigest()
    agree = trainer.agree_on(digest) if use_torch else True
    if rank == 0:
        write_model(args.output_dir, model)
        log(rank, f"model {os.path.join(args.output_dir, MODEL_FILE)} sha256 {digest}" + ("" if not use_torch or trainer.world == 1 else f" ranks agree: {agree}"))
    if use_torch:
        trainer.close()
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
