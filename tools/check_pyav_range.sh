#!/usr/bin/env bash
# Runs the media, CLI and video-source tests against each PyAV release of the supported range (requirements.txt),
# each installed into its own folder in front of the project's venv, and prints one line per release.
#
#   bash tools/check_pyav_range.sh                      # the releases below, on the default interpreter
#   PYTHON=3.11 bash tools/check_pyav_range.sh 14.2.0 18.1.0
#
# PyAV 19 has wheels for Python >= 3.12 only: run it with PYTHON=3.12 or newer.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
set +e
VERSIONS=("$@")
[ ${#VERSIONS[@]} -eq 0 ] && VERSIONS=(14.2.0 15.1.0 16.1.0 17.1.0 18.1.0 19.0.2)
TESTS=(tests/test_media.py tests/test_animated.py tests/test_safety.py tests/test_video_source.py tests/test_cli.py)
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
declare -a SUMMARY
for v in "${VERSIONS[@]}"; do
  dir="$WORK/av-$v"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: --target "$dir" "av==$v" \
       >"$WORK/pip-$v.log" 2>&1; then
    SUMMARY+=("av $v: not installable on Python $PYVER ($(grep -m1 -i error "$WORK/pip-$v.log"))")
    continue
  fi
  out="$(PYTHONPATH="$dir:$PYTHONPATH" "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}" 2>&1)"
  rc=$?
  got="$(PYTHONPATH="$dir" "$VENV/bin/python" -c 'import av; print(av.__version__)')"
  SUMMARY+=("av $v (imported $got) on Python $PYVER: $(echo "$out" | tail -n 1) (exit $rc)")
  [ $rc -ne 0 ] && echo "$out" | grep -E "^(FAILED|ERROR)|Error" | head -n 20
done
printf '%s\n' "${SUMMARY[@]}"
