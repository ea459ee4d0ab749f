"""Shared test fixtures. The parity fixture lives in ../shared/ (CI has it; a user's clone does not)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TOONTALKER_SHARED", REPO.parent / "shared"))
PARITY = SHARED / "fixtures" / "parity"
MEDIA = SHARED / "media"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (it ships with the project's CI, not with a clone; "
                    "set TOONTALKER_SHARED to its folder to run these tests)")
    return path


def fixture_image(path: Path) -> torch.Tensor:
    """[1,3,H,W] in [-1,1], exactly as the fixture's reference run fed it."""
    arr = np.array(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)[None] / 255 * 2 - 1


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return require(PARITY / "manifest.json", "the parity fixture").parent


@pytest.fixture(scope="session")
def manifest(parity_dir):
    from manifest import read_manifest

    return read_manifest(parity_dir / "manifest.json")


@pytest.fixture(scope="session")
def expected(parity_dir):
    return dict(np.load(parity_dir / "expected.npz"))


@pytest.fixture(scope="session")
def parity_inputs(parity_dir):
    return {
        "real": fixture_image(parity_dir / "source_real.png"),
        "cartoon": fixture_image(parity_dir / "source_cartoon.png"),
        "driving": torch.cat([fixture_image(p) for p in sorted((parity_dir / "driving").glob("*.png"))]),
    }


@pytest.fixture(scope="session")
def checkpoint_files(manifest, tmp_path_factory):
    """The fixture weights written as released-style .pth files and converted .safetensors twins."""
    from toontalker_core.model.checkpoint import convert
    from manifest import write_reference_checkpoint

    d = tmp_path_factory.mktemp("ckpt")
    files = {}
    for layout, cross in (("in-domain", False), ("cross-domain", True)):
        pth = write_reference_checkpoint(manifest, d / f"{layout}.pth", cross_domain=cross)
        files[(layout, "pth")] = pth
        files[(layout, "safetensors")] = convert(pth, d / f"{layout}.safetensors")
    return files


def load_pack():
    """Import the repository as a ComfyUI custom-node package (as ComfyUI does: by file location)."""
    from pack_loader import load_pack as load

    return load()


@pytest.fixture(scope="session")
def pack():
    return load_pack()
