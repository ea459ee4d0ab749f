#!/usr/bin/env bash
# The main job: reenact the bundled sample portrait with the bundled driving video -> output/demo.mp4.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$VENV/bin/python" -m toontalker_core indomain \
  --source_path samples/source_real.png --driving_path samples/driving.mp4 --output_dir output/demo.mp4 "$@"
