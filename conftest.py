"""pytest only. The repository root is a ComfyUI custom-node package (`__init__.py` with relative imports,
which ComfyUI imports under a path-derived name). pytest would import that `__init__.py` on its own to look
for setup_module and fail; the tests load the pack the way ComfyUI does instead (tests/conftest.py:
load_pack), so the root package's setup is skipped."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_package_setup = pytest.Package.setup


def _setup(self):
    if Path(self.path).resolve() != ROOT:
        _package_setup(self)


pytest.Package.setup = _setup
