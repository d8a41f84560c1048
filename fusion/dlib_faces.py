"""The optional dlib backend: HOG face detection, the 68-point landmark model and the ResNet face
descriptor, from the face-recognition-models package (install with `pip install "face-fusion[dlib]"`).

Nothing on the default path imports this module's dlib: MediaPipe's models find faces by default.
The 68-point model was trained on iBUG 300-W, whose terms forbid commercial use.

The model package's own __init__ imports pkg_resources (gone from new setuptools), so the files are
found with importlib instead of importing it. Models are loaded once per process and shared, but
dlib's objects are not thread-safe: two threads detecting at once crashed the process (segfault) or
gave wrong landmarks. Every load of and call into these models holds DLIB_LOCK.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion.errors import Availability, EngineUnavailable
from fusion.geometry import box_iou

DLIB_LOCK = threading.RLock()
INSTALL_HINT = 'Install it with: pip install "face-fusion[dlib]"'
FAST_DETECT_SIDE = 640  # first pass: no upsampling, finds faces wider than ~1/8 of the image
THOROUGH_DETECT_SIDE = 1280  # second pass, upsampled once: when the first finds nothing, or asked to

Box = tuple[float, float, float, float]


def _dlib() -> Any:
    try:
        import dlib
    except ImportError as error:
        raise EngineUnavailable("dlib", "dlib is not installed", INSTALL_HINT) from error
    return dlib


def model_path(file_name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models" / file_name
        if candidate.is_file():
            return candidate
    raise EngineUnavailable("dlib", f"the model file {file_name} was not found", INSTALL_HINT)


def availability() -> Availability:
    """Whether dlib and its model files are installed (dlib itself is not imported)."""
    if importlib.util.find_spec("dlib") is None:
        return Availability(False, "dlib is not installed", INSTALL_HINT)
    try:
        model_path("shape_predictor_68_face_landmarks.dat")
    except EngineUnavailable as missing:
        return Availability(False, missing.reason, missing.remedy)
    return Availability(True)


@lru_cache(maxsize=1)
def face_detector() -> Any:
    return _dlib().get_frontal_face_detector()


@lru_cache(maxsize=1)
def landmark_predictor() -> Any:
    return _dlib().shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))


@lru_cache(maxsize=1)
def face_descriptor_model() -> Any:
    return _dlib().face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat")))


def _downscaled_gray(image: np.ndarray, longest_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = min(1.0, longest_side / max(height, width))
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray, scale


def _detect_boxes(image: np.ndarray, thorough: bool) -> list[Box]:
    """Face boxes in full-resolution coordinates (floats)."""
    passes = [(FAST_DETECT_SIDE, 0), (THOROUGH_DETECT_SIDE, 1)]
    boxes: list[Box] = []
    for side, upsample in passes:
        if boxes and not thorough:
            break
        gray, scale = _downscaled_gray(image, side)
        with DLIB_LOCK:
            rects = face_detector()(gray, upsample)
        found = [(r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale) for r in rects]
        if thorough and boxes:
            found = [b for b in found if not any(box_iou(b, kept) > 0.3 for kept in boxes)]
        boxes.extend(found)
    return boxes


def find_faces(image: np.ndarray, thorough: bool, working_limit: int = 2048) -> list[tuple[Box, np.ndarray]]:
    """(box, 68 landmarks) for every face dlib finds, in full-resolution pixel coordinates."""
    boxes = _detect_boxes(image, thorough)
    if not boxes:
        return []
    dlib = _dlib()
    gray, scale = _downscaled_gray(image, working_limit)
    found = []
    for x0, y0, x1, y1 in boxes:
        rect = dlib.rectangle(round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale))
        with DLIB_LOCK:
            shape = landmark_predictor()(gray, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32) / scale
        found.append(((x0, y0, x1, y1), points))
    return found


def descriptor(image: np.ndarray, box: tuple[int, int, int, int], landmarks: np.ndarray) -> np.ndarray:
    """dlib's 128-d descriptor of the face with these 68 landmarks in an RGB uint8 image."""
    dlib = _dlib()
    points = [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(*box), points)
    with DLIB_LOCK:
        values = face_descriptor_model().compute_face_descriptor(image, shape)
    return np.asarray(values, dtype=np.float32)
