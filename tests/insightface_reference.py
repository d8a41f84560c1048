"""InsightFace's own Python code, loaded from the installed wheel, as the reference for our engine.

The `insightface` package's `__init__` imports its whole app (and network helpers), so the modules we
compare against (`model_zoo/inswapper.py`, `scrfd.py`, `arcface_onnx.py`, `utils/face_align.py`) are
loaded alone, under a private package name whose `__path__` points at the installed files: their
relative imports resolve to the real sibling modules and nothing else of the package runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ALIAS = "_insightface_reference"


def _root() -> Path:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the insightface wheel (reference code) is not installed: ./run.sh installs it")
    return Path(list(spec.submodule_search_locations)[0])


def module(name: str) -> Any:
    """The reference module `name` (e.g. "model_zoo.inswapper") from the installed insightface."""
    root = _root()
    for package in ("", ".model_zoo", ".utils", ".app"):
        full = ALIAS + package
        if full not in sys.modules:
            stub = types.ModuleType(full)
            stub.__path__ = [str(root / package.lstrip(".").replace(".", "/"))]
            sys.modules[full] = stub
    return importlib.import_module(f"{ALIAS}.{name}")


def face(**fields: Any) -> Any:
    """insightface.app.common.Face (the real class) holding `fields`, e.g. kps=..., embedding=..."""
    return module("app.common").Face(**fields)
