"""Shared fixtures: keep torch to one thread so parallel tests do not fight over 2 cores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GENAUDIT_PROGRESS", "0")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _limit_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    yield


#: The shared tiny world: four real images (a photo, two icons, a drawing) and the random-init tiny CLIP.
TINY_IMAGES = ("oc_lemon.png", "astronaut.jpg", "oc_home0.png", "oc_cartoon_tree_01.png")
TINY_MODEL = "genaudit-tiny-clip@random:0"
DATA_IMAGES = Path(__file__).parent / "data" / "images"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset dir ingested once per session from TINY_IMAGES. Read-only: copy it before changing it."""
    from audit.dataset.ingest import ingest

    root = tmp_path_factory.mktemp("tiny")
    src = root / "src"
    src.mkdir()
    for name in TINY_IMAGES:
        shutil.copyfile(DATA_IMAGES / name, src / name)
    ingest(src, root / "ds")
    return root / "ds"


@pytest.fixture(scope="session")
def tiny_index(tiny_dataset: Path) -> Path:
    """The index of `tiny_dataset` (real faiss, tiny CLIP), built once. Read-only: use `tiny_index_copy` to change it."""
    from audit.index import build_index

    return build_index(tiny_dataset, tiny_dataset.parent / "index", model=TINY_MODEL)


@pytest.fixture()
def tiny_index_copy(tiny_index: Path, tmp_path: Path) -> Path:
    """A private copy of `tiny_index` (denylist, rebuild) whose meta still points at the shared dataset."""
    out = tmp_path / "index"
    shutil.copytree(tiny_index, out)
    return out
