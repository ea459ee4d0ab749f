#!/usr/bin/env bash
# The GPU check: every step below runs (each with its own time limit) even when an earlier one fails, its
# output is printed in full as it runs and kept under $LOGS, and the script ends with ONE summary table.
# Under 8 minutes on one H200. Exit status: 0 when every step that ran passed.
#
#   bash benchmarks/gpu_check.sh                 # from a fresh clone; makes the venv like scripts/test.sh
#   DEVICE=cpu bash benchmarks/gpu_check.sh      # every step on the CPU (smaller sizes): what this machine can try
#   bash .gpu/on_gpu.sh bash benchmarks/gpu_check.sh   # on an offline CUDA machine (../shared/gpu/README.md)
#
# Steps:
#   a1  device tests (tests/test_runtime.py, tests/test_parity.py) on $DEVICE
#   a2  the whole unit suite with $DEVICE present (-n auto when pytest-xdist is installed)
#   b   speed, memory and each precision's error against fp32 and, with REFERENCE_CODE=DIR (a checkout of
#       OpenTalker/ToonTalker), against the original implementation (benchmarks/bench_reenact.py)
#   c   the CLI end to end on a 1920x1080 clip made on the fly (500 frames on a GPU, CLI_FRAMES on the CPU),
#       --crop auto: frames/s and peak memory, bundled model and a 256 px model (benchmarks/bench_cli.py)
#   d   with COMFYUI_PATH: the real-ComfyUI integration tests, ComfyUI on $DEVICE
#   e   with COMFYUI_PATH on CUDA: the chaining templates with ComfyUI started with --reserve-vram so that it
#       sees about 2 GB free (ToonTalker offloaded while KSampler samples), and the out-of-memory halving of the
#       chunk loop on the real device (tests/test_model_management.py::test_out_of_memory_halving_on_a_real_gpu)
#
# Settings: DEVICE (cuda), FRAMES (bench frames, 16), CLI_FRAMES (500 on CUDA, 12 on the CPU), REFERENCE_CODE,
# COMFYUI_PATH / COMFYUI_PYTHON, LOGS (a folder for the step logs; default a temporary one), FREE_GB (2).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
set +e +o pipefail
DEVICE="${DEVICE:-cuda}"
FRAMES="${FRAMES:-16}"
FREE_GB="${FREE_GB:-2}"
if [ "$DEVICE" = cuda ]; then CLI_FRAMES="${CLI_FRAMES:-500}"; else CLI_FRAMES="${CLI_FRAMES:-12}"; fi
LOGS="${LOGS:-$(mktemp -d)}"
mkdir -p "$LOGS"
PY="$VENV/bin/python"
declare -a ROWS
FAILED=0

SLOW=1
[ "$DEVICE" = cpu ] && SLOW="${CPU_SLOWDOWN:-3}"  # the CPU runs the same steps, smaller but slower

step() {  # step ID TITLE TIMEOUT_S COMMAND...
  local id="$1" title="$2" limit=$(($3 * SLOW)) start=$SECONDS rc result
  shift 3
  echo
  echo "=================== [$id] $title (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$id.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) result="passed" ;;
    124|137) result="TIMED OUT after ${limit}s"; FAILED=1 ;;
    *) result="FAILED (exit $rc)"; FAILED=1 ;;
  esac
  local last
  # pytest's closing line, or the benchmark's own "summary:" line
  last="$(grep -E "^summary:| passed| failed|[Ee]rror" "$LOGS/$id.log" | tail -n 1 | sed 's/^=* *//; s/ *=*$//' | cut -c1-110)"
  ROWS+=("$(printf '%-3s %-58s %-22s %5ss  %s' "$id" "$title" "$result" $((SECONDS - start)) "$last")")
}

skip() {  # skip ID TITLE WHY
  echo
  echo "=================== [$1] $2: skipped ($3)"
  ROWS+=("$(printf '%-3s %-58s %-22s %6s  %s' "$1" "$2" "skipped" "" "$3")")
}

if [ "$DEVICE" = cuda ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: no CUDA device visible to torch $("$PY" -c 'import torch; print(torch.__version__)'); install a CUDA" \
       "build of torch, or run DEVICE=cpu bash benchmarks/gpu_check.sh" >&2
  exit 2
fi
"$PY" -c "import torch, av, kornia, numpy, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, \
'cuda', torch.cuda.is_available(), 'av', av.__version__, 'kornia', kornia.__version__, 'numpy', numpy.__version__)"

PYTEST=("$PY" -m pytest -p no:cacheprovider -o addopts="-ra --durations=10")
XDIST=()
"$PY" -c "import xdist" 2>/dev/null && XDIST=(-n auto)

step a1 "device tests on $DEVICE" 240 \
  "${PYTEST[@]}" tests/test_runtime.py tests/test_parity.py -k "$DEVICE or not (cpu or cuda or mps)"
step a2 "unit suite with $DEVICE present${XDIST:+ (-n auto)}" 420 \
  "${PYTEST[@]}" "${XDIST[@]}" tests --ignore=tests/integration
REF=()
[ -n "${REFERENCE_CODE:-}" ] && REF=(--reference-code "$REFERENCE_CODE")
step b "precision table on $DEVICE${REFERENCE_CODE:+, against the original}" 300 \
  "$PY" benchmarks/bench_reenact.py --device "$DEVICE" --frames "$FRAMES" --batch-size 8 "${REF[@]}" "$@"
step c "CLI 1920x1080 x $CLI_FRAMES frames, --crop auto" 420 \
  "$PY" benchmarks/bench_cli.py --device "$DEVICE" --frames "$CLI_FRAMES"
if [ -z "${COMFYUI_PATH:-}" ]; then
  skip d "real ComfyUI integration tests on $DEVICE" "COMFYUI_PATH is not set"
  skip e "ComfyUI with ~${FREE_GB} GB free: chaining + OOM halving" "COMFYUI_PATH is not set"
else
  if [ "$DEVICE" = cpu ]; then COMFY_ARGS="--cpu"; else COMFY_ARGS=""; fi
  step d "real ComfyUI integration tests on $DEVICE" 420 \
    env TOONTALKER_COMFY_ARGS="$COMFY_ARGS" "${PYTEST[@]}" tests/integration --ignore=tests/integration/test_browser.py
  if [ "$DEVICE" = cuda ]; then
    # --reserve-vram keeps that many GB away from ComfyUI's models: the total less FREE_GB leaves FREE_GB
    RESERVE="$("$PY" -c "import torch; print(max(0, round(torch.cuda.get_device_properties(0).total_memory / 2**30 - $FREE_GB, 1)))")"
    step e "ComfyUI with ~${FREE_GB} GB free: chaining + OOM halving" 300 \
      env TOONTALKER_COMFY_ARGS="--reserve-vram $RESERVE" "${PYTEST[@]}" tests/integration/test_chaining.py \
      "tests/test_model_management.py::test_out_of_memory_halving_on_a_real_gpu"
  else
    skip e "ComfyUI with ~${FREE_GB} GB free: chaining + OOM halving" "needs CUDA (--reserve-vram is a GPU setting)"
  fi
fi

echo
echo "=================== summary ($DEVICE; logs in $LOGS)"
printf '%-3s %-58s %-22s %6s  %s\n' "id" "step" "result" "time" "last line"
printf '%s\n' "${ROWS[@]}"
exit $FAILED
