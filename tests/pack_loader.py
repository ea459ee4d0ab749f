"""The repository imported as ComfyUI imports a custom-node pack: as a package by file location (it uses relative
imports), under one name. Used by the tests (conftest's `pack` fixture) and tools/make_workflows.py."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_pack():
    """The pack as a package named toontalker_pack (imported once)."""
    import importlib.util

    name = "toontalker_pack"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
