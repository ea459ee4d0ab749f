# Sourced by the scripts in this folder: makes a venv with everything the project needs, one per interpreter.
#
#   PYTHON=3.12 (or python3.12, or a path)   the interpreter; default: the newest CPython >= 3.10 found on PATH
#                                             or through pyenv (ComfyUI's portable build ships 3.13)
#   TOONTALKER_CONSTRAINTS=FILE               pip constraints for this venv (e.g. ci/lowest-constraints.txt);
#                                             the venv's name then carries the file's name
#   TOONTALKER_VENVS=DIR                      where the venvs live (default ./.venvs: .venvs/py3.13, ...)
#   TOONTALKER_VENV=DIR                       use exactly this venv (e.g. a prepared interpreter)
#   TORCH_SPEC='torch==X'                     the torch to install when the venv has none
#   TOONTALKER_UPGRADE=1                      bring an existing venv up to the newest releases (CI does)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PY="$(bash "$ROOT/scripts/find_python.sh" "${PYTHON:-}" || true)"
if [ -z "$PY" ]; then
  echo "error: no Python interpreter '${PYTHON:-3.10 or newer}' found on PATH or in pyenv; install it, or set" \
       "PYTHON to one that exists (e.g. PYTHON=python3)" >&2
  exit 3
fi
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CONSTRAINTS="${TOONTALKER_CONSTRAINTS:-}"
[ -n "$CONSTRAINTS" ] && CONSTRAINTS="$(cd "$(dirname "$CONSTRAINTS")" && pwd)/$(basename "$CONSTRAINTS")"
if [ -n "${TOONTALKER_VENV:-}" ]; then
  VENV="$TOONTALKER_VENV"
else
  NAME="py$PYVER"
  [ -n "$CONSTRAINTS" ] && NAME="$NAME-$(basename "$CONSTRAINTS" .txt)"
  VENV="${TOONTALKER_VENVS:-$ROOT/.venvs}/$NAME"
fi
STAMP="$VENV/.toontalker-deps"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" ${CONSTRAINTS:+"$CONSTRAINTS"} | sha256sum | cut -c1-16)"
if [ -n "$CONSTRAINTS" ] && [ -z "${TOONTALKER_VENV:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" != "$WANT" ]; then
  rm -rf "$VENV"  # pinned versions changed: start clean (pip keeps an installed torch that a pin no longer allows)
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
_pip() {  # pip without the machine's notes about local index folders it skips
  "$VENV/bin/pip" "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
  return "${PIPESTATUS[0]}"
}
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || [ "${TOONTALKER_UPGRADE:-0}" = 1 ]; then
  PIPARGS=(-q --disable-pip-version-check)
  [ "${TOONTALKER_UPGRADE:-0}" = 1 ] && PIPARGS+=(--upgrade)
  # the constraints replace any machine-wide ones (pip reads PIP_CONSTRAINT before its config files)
  [ -n "$CONSTRAINTS" ] && export PIP_CONSTRAINT="$CONSTRAINTS"
  # torch first, on its own: CPU/GPU builds differ per machine. On 3.11, 2.13.0 (the version this project was
  # developed with, kept on disk on its machines); elsewhere the newest release the index serves.
  if [ -z "${TORCH_SPEC:-}" ]; then
    if [ -n "$CONSTRAINTS" ] || [ "$PYVER" != 3.11 ]; then TORCH_SPEC=torch; else TORCH_SPEC="torch==2.13.0"; fi
  fi
  if [ "${TOONTALKER_UPGRADE:-0}" = 1 ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    _pip install "${PIPARGS[@]}" "$TORCH_SPEC"
  fi
  _pip install "${PIPARGS[@]}" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
  echo "$WANT" > "$STAMP"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"
