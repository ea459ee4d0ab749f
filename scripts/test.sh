#!/usr/bin/env bash
# Runs the test suite (installs what it needs into ./.venv first). Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$VENV/bin/python" -m pytest -q "$@"
