#!/usr/bin/env bash
# The main job: the real sample video drives the sample cartoon portrait (r2c) -> output/demo.mp4.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$VENV/bin/python" -m toontalker_core crossdomain --type r2c \
  --source_path samples/source_cartoon.png --driving_path samples/driving.mp4 --output_dir output/demo.mp4 "$@"
