#!/usr/bin/env bash
# GPU check for a maintainer with one CUDA GPU (a few minutes; nothing is downloaded but the Python packages):
# runs the device-dependent tests on the GPU, then prints ONE table: frames/s per stage and end to end (crop
# auto and none, 1920x1080 frames), peak VRAM per row, and each precision's error against fp32.
#
#   bash benchmarks/gpu_check.sh                  # from a fresh clone; makes ./.venv like scripts/test.sh
#   DEVICE=cpu bash benchmarks/gpu_check.sh       # the same on the CPU (slower; what CI-less machines can run)
#   FRAMES=32 bash benchmarks/gpu_check.sh --compile   # extra arguments go to bench_reenact.py
#
# Weights: the parity fixture's when ../shared is present, else seeded random weights of the published
# 256 px layout (speed, memory and precision errors are measured, not quality).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
DEVICE="${DEVICE:-cuda}"
FRAMES="${FRAMES:-16}"
if [ "$DEVICE" = cuda ]; then
  "$VENV/bin/python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
'error: no CUDA device visible to torch ' + torch.__version__ + '; install a CUDA build of torch, or run DEVICE=cpu')"
fi
echo "== device tests on $DEVICE (tests/test_runtime.py, tests/test_parity.py)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_runtime.py -k "$DEVICE or not (cpu or cuda or mps)" \
  tests/test_parity.py | tail -n 3
echo "== speed, memory and precision on $DEVICE"
exec "$VENV/bin/python" benchmarks/bench_reenact.py --device "$DEVICE" --frames "$FRAMES" --batch-size 8 "$@"
