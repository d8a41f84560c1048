"""Shared fixtures: package-shipped faces always; ../shared/faces photos when present (else skip).

The neural models a developer may have in ~/.cache/face-fusion/models (or ModelScope's cache) would
change what engine="auto" picks: the tests start from empty model folders, and the tests that need
models place tiny ones of their own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from fusion import sample_path
from fusion.io import decode_image

# The team's real photos, beside the checkout (never committed); tests marked `shared` use them.
SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
_EMPTY_MODELS = tempfile.mkdtemp(prefix="fusion-test-models-")
atexit.register(shutil.rmtree, _EMPTY_MODELS, ignore_errors=True)
os.environ["FUSION_MODELS_DIR"] = os.path.join(_EMPTY_MODELS, "models")
os.environ["MODELSCOPE_CACHE"] = os.path.join(_EMPTY_MODELS, "modelscope")


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return sample_path("astronaut")


@pytest.fixture(scope="session")
def group_path() -> Path:
    return sample_path("group")


@pytest.fixture(scope="session")
def astronaut(astronaut_path: Path) -> np.ndarray:
    return decode_image(astronaut_path, "target").pixels


@pytest.fixture(scope="session")
def group(group_path: Path) -> np.ndarray:
    return decode_image(group_path, "source").pixels


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "obama.jpg").is_file():
        pytest.skip("../shared/faces is not present on this machine")
    return SHARED_FACES
