"""Motion without a driving video: directions in the canonical space (edit), named controls found by
measurement (measure, controls), keyframed motion and saved motion files."""
