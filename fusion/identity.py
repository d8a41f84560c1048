"""Identity judge: the dlib ResNet 128-d face descriptor (distance < 0.6 usually means same person)."""

from __future__ import annotations

import dlib
import numpy as np

from fusion.dlib_models import DLIB_LOCK, face_descriptor_model
from fusion.faces import Face, detect_faces

SAME_PERSON_DISTANCE = 0.6


def face_descriptor(image: np.ndarray, face: Face) -> np.ndarray:
    """128-d descriptor of `face` (landmarks in `image` coordinates) in an RGB uint8 image."""
    x0, y0, x1, y1 = face.box
    points = [dlib.point(round(float(x)), round(float(y))) for x, y in face.landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(x0, y0, x1, y1), points)
    with DLIB_LOCK:
        descriptor = face_descriptor_model().compute_face_descriptor(image, shape)
    return np.asarray(descriptor, dtype=np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def redetected_descriptor(image: np.ndarray, near: Face) -> np.ndarray | None:
    """Detect faces in `image` afresh and describe the one overlapping `near` (None if none does).

    Judging a result this way uses nothing the engine produced: the face must be found again.
    """
    cx = (near.box[0] + near.box[2]) / 2
    cy = (near.box[1] + near.box[3]) / 2
    for thorough in (False, True):
        for face in detect_faces(image, thorough=thorough):
            x0, y0, x1, y1 = face.box
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                return face_descriptor(image, face)
    return None
