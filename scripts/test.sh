#!/usr/bin/env bash
# Runs the test suite (installs what it needs into ./.venv first). Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# tests/ is the rootdir: the repository root is a ComfyUI package (__init__.py) that pytest must not import.
exec "$VENV/bin/python" -m pytest -q -c tests/pytest.ini --rootdir=tests "$@"
