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

Distributed (WORLD_SIZE > 1, the standard torch.distributed environment: WORLD_SIZE, RANK,
MASTER_ADDR, MASTER_PORT): each process trains on its share of every batch and gradients are
averaged; every rank stops at the same step on SIGTERM; rank 0 saves checkpoints and the model, and
on resume sends the state it found to the other ranks. With PyTorch (torchrun, or one process per
replica) that is torch.distributed; without it, the pure-Python backend's gang does the same over
TCP with the standard library only (PythonGang below).

Nothing here knows about any scheduler: it reads its arguments and the standard torch.distributed
environment, like any trainer.
"""
import argparse
import errno
import hashlib
import io
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
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
    p.add_argument("--rendezvous-timeout", type=float, default=300.0, help="pure-Python gang: seconds to wait for every rank to join (rank 0 for the others)")
    p.add_argument("--comm-timeout", type=float, default=300.0, help="pure-Python gang: seconds to wait for a peer's message once training has started")
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

    def gradients(self, rows, n):
        """The gradient of the mean squared error over n rows, and the sum of squared errors."""
        grads = [0.0] * (FEATURES + 1)
        loss = 0.0
        for x, y in rows:
            err = sum(w * v for w, v in zip(self.params, x)) + self.params[-1] - y
            loss += err * err
            for i, v in enumerate(x):
                grads[i] += 2 * err * v / n
            grads[-1] += 2 * err / n
        return grads, loss

    def apply(self, grads):
        for i, g in enumerate(grads):
            self.velocity[i] = MOMENTUM * self.velocity[i] + g
            self.params[i] -= LR * self.velocity[i]

    def step(self, step):
        grads, loss = self.gradients(self.batch(step), BATCH)
        self.apply(grads)
        return loss / BATCH

    def digest(self):
        """Of the whole training state (parameters and momentum): equal digests, equal bits."""
        return hashlib.sha256(",".join(hexes(self.params + self.velocity)).encode()).hexdigest()

    def state(self, step):
        return {"state.json": json.dumps({"backend": self.backend, "step": step, "params": hexes(self.params), "velocity": hexes(self.velocity)}, sort_keys=True).encode()}

    def load(self, path):
        with open(os.path.join(path, "state.json"), "rb") as f:
            return self.load_bytes(f.read(), path)

    def load_bytes(self, data, source):
        state = json.loads(data)
        if state["backend"] != self.backend:
            raise SystemExit(f"checkpoint {source} was written by the {state['backend']} backend, not {self.backend}")
        self.params = [float.fromhex(v) for v in state["params"]]
        self.velocity = [float.fromhex(v) for v in state["velocity"]]
        return state["step"]

    def model(self, steps):
        return {"backend": self.backend, "steps": steps, "params": {"linear": {"shape": [FEATURES + 1], "values": hexes(self.params)}}}


# ----- the pure-Python backend's gang: data parallelism over TCP, standard library only -----

class GangError(Exception):
    """A peer is gone, silent, refused or out of step: the run cannot go on."""


class Interrupted(Exception):
    """SIGTERM before the gang had formed: nothing was trained, so there is nothing to save."""


MAX_MESSAGE = 16 << 20


def _send(sock, message):
    data = json.dumps(message, sort_keys=True).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def _recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _recv(sock):
    """One length-prefixed JSON message. EOFError/OSError on a lost connection, ValueError on junk."""
    (size,) = struct.unpack("!I", _recv_exact(sock, 4))
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes")
    message = json.loads(_recv_exact(sock, size))
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


def _tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small message each way per step
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _closed(sock):
    """Whether the peer of a connection that should be silent has gone away."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _listen(port, backlog):
    """On every interface, IPv6 and IPv4 where the host has both (like torch's TCPStore), else IPv4."""
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        if family == socket.AF_INET6 and not socket.has_ipv6:
            continue
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, port))
            sock.listen(backlog)
            return sock
        except OSError as e:
            sock.close()
            if family == socket.AF_INET or e.errno == errno.EADDRINUSE:
                raise
    raise OSError("no IPv4 or IPv6 sockets")


class PythonGang:
    """WORLD_SIZE processes of the pure-Python backend training as one job, with the standard
    torch.distributed environment (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT) and nothing but the
    standard library.

    Rendezvous: rank 0 listens on MASTER_PORT; every other rank connects to MASTER_ADDR:MASTER_PORT,
    retrying until --rendezvous-timeout, and says hello (its rank, WORLD_SIZE, seed and steps, which
    must match rank 0's). Once all have joined, rank 0 sends each the training state it resumes from
    (its newest checkpoint, or its fresh initial state), so every rank starts from the same bits
    whatever its own checkpoint directory holds.

    Each step every rank computes the gradient of the mean squared error over its share of the batch
    (rows rank, rank + WORLD_SIZE, ..., as the torch backend shards) and sends it to rank 0 with its
    sum of squared errors, its SIGTERM flag and a digest of its training state; rank 0 sums the
    gradients in rank order, divides by WORLD_SIZE and sends the result, the batch's loss and "stop if
    anyone asked" back to every rank, so every rank applies an identical update and stops at the
    same step. A lost connection, a peer silent for --comm-timeout or a rank whose state differs
    from rank 0's ends the run with an error (GangError).
    """

    def __init__(self, world, rank, addr, port, rendezvous_timeout, timeout):
        self.world, self.rank, self.addr, self.port = world, rank, addr, port
        self.rendezvous_timeout, self.timeout = rendezvous_timeout, timeout
        self.peers = {}  # rank 0: {rank: socket}; any other rank: {0: socket}

    # -- rendezvous --

    def serve(self, config, state):
        """Rank 0: wait for every other rank, then send each `state` (bytes)."""
        deadline = time.monotonic() + self.rendezvous_timeout
        told = False
        while True:
            try:
                listener = _listen(self.port, self.world)
                break
            except OSError as e:
                # A port still held (a previous attempt's process on its way out) may come free: retry
                # until the rendezvous deadline; anything else, or a port that stays taken, is an error.
                if e.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise GangError(f"rank 0 cannot listen on port {self.port} (MASTER_PORT): {e}")
                if Stop.requested:
                    raise Interrupted()
                if not told:
                    print(f"rank 0: port {self.port} is in use; retrying until the rendezvous timeout", file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.25)
        try:
            with listener:
                while len(self.peers) < self.world - 1:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        missing = [r for r in range(1, self.world) if r not in self.peers]
                        raise GangError(f"rendezvous timed out after {self.rendezvous_timeout:g} s (--rendezvous-timeout): "
                                        f"rank(s) {', '.join(map(str, missing))} never connected to port {self.port}")
                    if Stop.requested:
                        raise Interrupted()
                    listener.settimeout(min(0.5, left))
                    try:
                        conn, peer = listener.accept()
                    except socket.timeout:
                        continue
                    self._admit(conn, peer, config, left)
            for r in sorted(self.peers):
                _send(self.peers[r], {"type": "welcome", "state": state.decode()})
                self.peers[r].settimeout(self.timeout)
        except (GangError, Interrupted) as e:
            for conn in self.peers.values():  # best effort: tell the ones waiting instead of leaving them to retry
                try:
                    _send(conn, {"type": "reject", "reason": str(e) or "rank 0 was stopped (SIGTERM) during the rendezvous"})
                except OSError:
                    pass
            raise
        except OSError as e:
            raise GangError(f"rendezvous failed: {e}")

    def _admit(self, conn, peer, config, left):
        try:
            _tune(conn)
            conn.settimeout(min(10.0, max(left, 0.1)))
            hello = _recv(conn)
        except (OSError, EOFError, ValueError) as e:
            conn.close()
            print(f"rank 0: ignored a connection from {peer[0]}: no hello ({e})", file=sys.stderr, flush=True)
            return
        r = hello.get("rank")
        if hello.get("type") != "hello" or not isinstance(r, int):
            conn.close()
            print(f"rank 0: ignored a connection from {peer[0]}: not a trainer", file=sys.stderr, flush=True)
            return
        reason = None
        if hello.get("world") != self.world:
            reason = f"rank {r} has WORLD_SIZE {hello.get('world')}, rank 0 has {self.world}"
        elif not 1 <= r < self.world:
            reason = f"a process at {peer[0]} claims rank {r} of {self.world}"
        elif hello.get("config") != config:
            def flags(c):
                return " ".join(f"--{k} {v}" for k, v in sorted(c.items())) if isinstance(c, dict) else repr(c)
            reason = f"rank {r} was started with {flags(hello.get('config'))}, rank 0 with {flags(config)}"
        elif r in self.peers:
            if _closed(self.peers[r]):  # it gave up and came back
                self.peers.pop(r).close()
            else:
                reason = f"two processes claim rank {r}"
        if reason:
            try:
                _send(conn, {"type": "reject", "reason": reason})
            except OSError:
                pass
            conn.close()
            raise GangError(reason)
        self.peers[r] = conn

    def join(self, config):
        """Any other rank: connect to rank 0 (retrying until the rendezvous timeout); returns the state it sends."""
        deadline = time.monotonic() + self.rendezvous_timeout
        last = "no attempt"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GangError(f"rendezvous timed out after {self.rendezvous_timeout:g} s (--rendezvous-timeout): "
                                f"rank 0 at {self.addr}:{self.port} (MASTER_ADDR:MASTER_PORT) never answered; last: {last}")
            if Stop.requested:
                raise Interrupted()
            try:
                sock = socket.create_connection((self.addr, self.port), timeout=min(5.0, left))
            except OSError as e:  # refused, unreachable, or the name does not resolve yet
                last = str(e) or type(e).__name__
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
                continue
            try:
                _tune(sock)
                _send(sock, {"type": "hello", "rank": self.rank, "world": self.world, "config": config})
                reply = self._await_welcome(sock, deadline)
            except (OSError, EOFError, ValueError) as e:  # a rank 0 that went away before the welcome: try again
                sock.close()
                last = f"rank 0 dropped the connection before the welcome ({e})"
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
                continue
            except BaseException:
                sock.close()
                raise
            if reply.get("type") == "reject":
                sock.close()
                raise GangError(f"rank 0 refused rank {self.rank}: {reply.get('reason')}")
            if reply.get("type") != "welcome" or not isinstance(reply.get("state"), str):
                sock.close()
                raise GangError(f"rank 0 answered the hello with {reply.get('type')!r}, not a welcome")
            sock.settimeout(self.timeout)
            self.peers[0] = sock
            return reply["state"].encode()

    def _await_welcome(self, sock, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GangError(f"rendezvous timed out after {self.rendezvous_timeout:g} s (--rendezvous-timeout): "
                                f"connected to rank 0 at {self.addr}:{self.port}, but not every rank joined")
            if Stop.requested:
                raise Interrupted()
            readable, _, _ = select.select([sock], [], [], min(0.5, left))
            if readable:
                sock.settimeout(max(left, 1.0))
                return _recv(sock)

    # -- training --

    def _send_to(self, r, message):
        try:
            _send(self.peers[r], message)
        except OSError as e:
            raise GangError(f"lost the connection to rank {r}: {e}")

    def _recv_from(self, r, kind, step):
        try:
            message = _recv(self.peers[r])
        except socket.timeout:
            raise GangError(f"rank {r} sent nothing for {self.timeout:g} s (--comm-timeout) at step {step}")
        except (EOFError, OSError) as e:
            raise GangError(f"lost the connection to rank {r} at step {step} ({e}): it exited or its node is gone")
        except ValueError as e:
            raise GangError(f"rank {r} sent junk at step {step}: {e}")
        if message.get("type") != kind or message.get("step") != step:
            raise GangError(f"rank {r} is out of step: expected {kind} for step {step}, got {message.get('type')} for step {message.get('step')}")
        return message

    def step(self, trainer, step, stop):
        """One data-parallel step of `trainer`. Returns (the whole batch's mean loss, stop agreed)."""
        rows = trainer.batch(step)[self.rank::self.world]
        grads, loss = trainer.gradients(rows, len(rows))
        digest = trainer.digest()
        if self.rank == 0:
            total, losses, stops = list(grads), loss, stop
            for r in range(1, self.world):  # in rank order, whatever order they arrived in
                m = self._recv_from(r, "grads", step)
                if m.get("state") != digest:
                    raise GangError(f"rank {r}'s training state differs from rank 0's before step {step + 1}")
                theirs = [float.fromhex(v) for v in m["grads"]]
                if len(theirs) != len(total):
                    raise GangError(f"rank {r} sent {len(theirs)} gradients, not {len(total)}")
                total = [a + b for a, b in zip(total, theirs)]
                losses += float.fromhex(m["loss"])
                stops = stops or bool(m["stop"])
            reduced = {"type": "reduced", "step": step, "grads": hexes(g / self.world for g in total), "loss": losses.hex(), "stop": stops}
            for r in range(1, self.world):
                self._send_to(r, reduced)
        else:
            self._send_to(0, {"type": "grads", "step": step, "grads": hexes(grads), "loss": loss.hex(), "stop": bool(stop), "state": digest})
            reduced = self._recv_from(0, "reduced", step)
        trainer.apply([float.fromhex(v) for v in reduced["grads"]])
        return float.fromhex(reduced["loss"]) / BATCH, bool(reduced["stop"])

    def stopped(self, step):
        """After an agreed stop: rank 0 (its checkpoint saved) releases the others, which wait for it."""
        if self.rank == 0:
            for r in range(1, self.world):
                self._send_to(r, {"type": "stopped", "step": step})
        else:
            self._recv_from(0, "stopped", step)

    def agree_on(self, step, digest, write):
        """At the end: rank 0 compares every rank's model digest, calls write(), then releases the others."""
        if self.rank == 0:
            digests = [self._recv_from(r, "done", step)["digest"] for r in range(1, self.world)]
            agree = all(d == digest for d in digests)
            write()
            for r in range(1, self.world):
                self._send_to(r, {"type": "verdict", "step": step, "agree": agree})
            return agree
        self._send_to(0, {"type": "done", "step": step, "digest": digest})
        return bool(self._recv_from(0, "verdict", step)["agree"])

    def close(self):
        for sock in self.peers.values():
            sock.close()
        self.peers = {}


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


def env_int(name, default=None):
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise SystemExit(f"{name} is not set (a distributed run needs WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT)")
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not an integer")


def train_python_gang(args, world):
    """The pure-Python backend as one of WORLD_SIZE processes (PythonGang). Every rank logs; rank 0
    alone writes checkpoints and the model."""
    rank = env_int("RANK")
    port = env_int("MASTER_PORT")
    addr = os.environ.get("MASTER_ADDR", "")
    if not 0 <= rank < world:
        raise SystemExit(f"RANK={rank} is not in 0..{world - 1} (WORLD_SIZE={world})")
    if world > BATCH:
        raise SystemExit(f"WORLD_SIZE={world}: the batch has only {BATCH} rows to share")
    if not 1 <= port <= 65535:
        raise SystemExit(f"MASTER_PORT={port} is not a port")
    if rank > 0 and not addr:
        raise SystemExit("MASTER_ADDR is not set (a distributed run needs WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT)")

    def say(message):
        print(message, flush=True)

    trainer = PythonTrainer(args.seed)
    gang = PythonGang(world, rank, addr, port, args.rendezvous_timeout, args.comm_timeout)
    config = {"seed": args.seed, "steps": args.steps}
    try:
        if rank == 0:
            path = latest_checkpoint(args.checkpoint_dir)
            start = trainer.load(path) if path else 0
            gang.serve(config, trainer.state(start)["state.json"])
        else:
            start = trainer.load_bytes(gang.join(config), "sent by rank 0")
        say(f"backend python, {world} processes, rank {rank}; " + (f"resumed at step {start}" if start else "starting at step 0"))

        step = start
        while step < args.steps:
            loss, stop = gang.step(trainer, step, Stop.requested)
            step += 1
            say(f"step {step} loss {loss:.6f}")
            if rank == 0 and (stop or step % args.checkpoint_every == 0):
                saved = save_checkpoint(args.checkpoint_dir, step, trainer.state(step), args.keep)
                say(f"checkpoint {saved}")
            if stop:
                gang.stopped(step)
                say(f"SIGTERM: stopped after step {step}")
                return 143
            if args.step_delay:
                time.sleep(args.step_delay)

        model = trainer.model(step)
        digest = hashlib.sha256((json.dumps(model, sort_keys=True, indent=1) + "\n").encode()).hexdigest()
        path = os.path.join(args.output_dir, MODEL_FILE)
        agree = gang.agree_on(step, digest, lambda: write_model(args.output_dir, model) if rank == 0 else None)
        where = f"model {path}" if rank == 0 else "model (rank 0 writes it)"
        say(f"{where} sha256 {digest} ranks agree: {agree}")
        return 0 if agree else 1
    except Interrupted:
        say(f"SIGTERM during the rendezvous (rank {rank}): nothing trained, nothing to save")
        return 143
    except GangError as e:
        raise SystemExit(f"trainer: rank {rank} of {world}: {e}")
    finally:
        gang.close()


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
        world = env_int("WORLD_SIZE", 1)
        if world > 1:
            return train_python_gang(args, world)
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
