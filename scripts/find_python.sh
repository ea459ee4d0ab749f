#!/usr/bin/env bash
# Prints the path of a CPython interpreter, or nothing (exit 1):
#   bash scripts/find_python.sh 3.12     that version (on PATH, or kept by pyenv without being on PATH)
#   bash scripts/find_python.sh          the newest CPython >= 3.10 there is
_find() {
  local want="$1" cand ver root="${PYENV_ROOT:-$HOME/.pyenv}"
  case "$want" in
    [0-9]*) cand="python$want" ;;
    *) cand="$want" ;;
  esac
  if "$cand" -c 'import venv' >/dev/null 2>&1; then
    "$cand" -c 'import sys; print(sys.executable)'
    return 0
  fi
  ver="${cand##*python}"
  for p in "$root"/versions/"$ver".*/bin/python3; do
    [ -n "$ver" ] && [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}
if [ -n "${1:-}" ]; then
  _find "$1"
  exit
fi
for v in 3.14 3.13 3.12 3.11 3.10; do
  _find "$v" && exit 0
done
exit 1
