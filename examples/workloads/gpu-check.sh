#!/usr/bin/env bash
# The reference trainer on a real CUDA GPU with PyTorch (run it where there is one; README.md says
# where it has run). Four comparisons, each printed as MATCH or DIFFER; exit 0 only if all match:
#
#   1. one process on the GPU, uninterrupted                       → model A
#   2. the same, SIGTERM once it logs step $STOP_AT, then resumed   → model B;  A == B byte for byte
#   3. a 2-replica gang: two `torchrun` launchers, each given exactly the environment the operator
#      injects into replica 0 and 1 of a 2-replica, 1-GPU-per-replica AIJob (operator/controllers/
#      aijob/gang.ts), with MASTER_ADDR=127.0.0.1 in place of r0.<service> (loopback rendezvous)
#      and no rendezvous flags on the command line                   → model C;  both ranks agree
#   4. the same gang, both launchers SIGTERMed at step $STOP_AT (as kubelet signals PID 1), then
#      restarted; replica 1 gets an empty checkpoint directory (rank 0 sends it what it resumes
#      from)                                                          → model D;  C == D byte for byte
#
# Both gang processes share the one GPU, so they all-reduce through gloo (NCCL refuses two ranks on
# one device); on one GPU per replica the trainer's default is NCCL.
#
#   examples/workloads/gpu-check.sh            (PYTHON=..., STEPS=..., STOP_AT=..., PORT=... to change)
#   DEVICE=cpu examples/workloads/gpu-check.sh the same on the CPU: exercises the script, the torch
#                                              path and torchrun without a GPU; NOT the GPU check
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
STEPS="${STEPS:-300}"
EVERY="${EVERY:-50}"
STOP_AT="${STOP_AT:-137}"
PORT="${PORT:-29500}"
DEVICE="${DEVICE:-cuda}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
TRAIN=("$HERE/trainer.py" --backend torch --device "$DEVICE" --steps "$STEPS" --checkpoint-every "$EVERY" --step-delay 0.02)
failures=0

if [ "$DEVICE" = cpu ]; then
  "$PYTHON" -c 'import torch' 2>/dev/null || { echo "SKIP: no PyTorch for $PYTHON"; exit 2; }
  "$PYTHON" -c 'import torch, platform; print(f"python {platform.python_version()}  torch {torch.__version__}  device cpu (NOT the GPU check)")'
else
  if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "SKIP: no PyTorch with a CUDA GPU for $PYTHON"
    exit 2
  fi
  "$PYTHON" -c 'import torch, platform; print(f"python {platform.python_version()}  torch {torch.__version__}  cuda {torch.version.cuda}  gpu {torch.cuda.get_device_name(0)}")'
fi
echo "work dir $WORK; $STEPS steps, checkpoint every $EVERY, SIGTERM at step $STOP_AT"

# The environment the operator gives replica $1 of a 2-replica gang with 1 GPU per replica.
gang_env() {
  echo MASTER_ADDR=127.0.0.1 MASTER_PORT="$PORT" WORLD_SIZE=2 RANK="$1" NNODES=2 NODE_RANK="$1" NPROC_PER_NODE=1 \
    PET_NNODES=2 PET_NODE_RANK="$1" PET_NPROC_PER_NODE=1 PET_MASTER_ADDR=127.0.0.1 PET_MASTER_PORT="$PORT"
}

# wait_for_step LOG: until LOG shows "step $STOP_AT " (or 120 s).
wait_for_step() {
  for _ in $(seq 1 1200); do
    grep -q "^step $STOP_AT " "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "never reached step $STOP_AT: $1"; return 1
}

compare() { # compare WHAT FILE1 FILE2
  if [ -f "$2" ] && [ -f "$3" ] && cmp -s "$2" "$3"; then
    echo "MATCH   $1 (sha256 $(sha256sum "$2" | cut -c1-16)…)"
  else
    echo "DIFFER  $1: $2 vs $3"; failures=$((failures + 1))
  fi
}

single() { # single NAME [stop]
  local dir="$WORK/$1" pid status
  env -u WORLD_SIZE -u RANK -u LOCAL_RANK "$PYTHON" "${TRAIN[@]}" --checkpoint-dir "$dir/ck" --output-dir "$dir/out" >"$dir.log" 2>&1 &
  pid=$!
  if [ "${2:-}" = stop ]; then
    wait_for_step "$dir.log" && kill -TERM "$pid"
    wait "$pid"; status=$?
    echo "  $1: interrupted (exit $status): $(grep -o 'stopped after step [0-9]*' "$dir.log")"
    env -u WORLD_SIZE -u RANK -u LOCAL_RANK "$PYTHON" "${TRAIN[@]}" --checkpoint-dir "$dir/ck" --output-dir "$dir/out" >>"$dir.log" 2>&1
    status=$?
    echo "  $1: resumed (exit $status): $(grep -o 'resumed at step [0-9]*' "$dir.log")"
  else
    wait "$pid"; status=$?
    echo "  $1: exit $status"
  fi
}

gang() { # gang NAME [stop]
  local dir="$WORK/$1" pids=() status r
  launch() {
    for r in 0 1; do
      # shellcheck disable=SC2046
      env -u LOCAL_RANK $(gang_env "$r") "$PYTHON" -m torch.distributed.run "${TRAIN[@]}" --dist-backend gloo \
        --checkpoint-dir "$dir/r$r/ck" --output-dir "$dir/r$r/out" >>"$dir.r$r.log" 2>&1 &
      pids+=($!)
    done
  }
  launch
  if [ "${2:-}" = stop ]; then
    wait_for_step "$dir.r0.log" && kill -TERM "${pids[@]}"
    for p in "${pids[@]}"; do wait "$p"; done
    echo "  $1: interrupted: $(grep -o 'stopped after step [0-9]*' "$dir.r0.log")"
    pids=()
    launch
  fi
  status=0
  for p in "${pids[@]}"; do wait "$p" || status=$?; done
  echo "  $1: exit $status; $(grep -o 'resumed at step [0-9]*' "$dir.r0.log" || true) $(grep -o 'ranks agree: [A-Za-z]*' "$dir.r0.log" || true)"
  grep -q 'ranks agree: True' "$dir.r0.log" || { echo "DIFFER  $1: ranks do not agree (see $dir.r0.log)"; failures=$((failures + 1)); }
}

single straight
single interrupted stop
compare "$DEVICE: SIGTERM at step $STOP_AT + resume == uninterrupted" "$WORK/straight/out/model.json" "$WORK/interrupted/out/model.json"

gang gang-straight
gang gang-interrupted stop
compare "2-replica torchrun gang: SIGTERM at step $STOP_AT + resume == uninterrupted" "$WORK/gang-straight/r0/out/model.json" "$WORK/gang-interrupted/r0/out/model.json"

if [ "$failures" -eq 0 ]; then echo "ALL MATCH"; else echo "$failures DIFFER (logs in $WORK)"; fi
[ "$failures" -eq 0 ]
