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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The web app, started for one test module in a data folder of its own (a module that needs
    other flags, e.g. --auth, defines its own `server`)."""
    from webui_helpers import running_server

    with running_server(tmp_path_factory.mktemp(request.module.__name__)) as launched:
        yield launched


@pytest.fixture(scope="module")
def client(server: Any) -> Any:
    """A gradio_client on this module's `server`."""
    from gradio_client import Client

    return Client(server.url, verbose=False)
