"""Identity judge: the dlib ResNet 128-d face descriptor (distance < 0.6 usually means same person)."""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np

from fusion.dlib_models import DLIB_LOCK, face_descriptor_model
from fusion.faces import Face, detect_faces
from fusion.io import ImageInput, decode_image

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


@dataclass(frozen=True)
class IdentityCheck:
    to_source: float  # dlib descriptor distance of the fused face to the source face
    to_target: float  # ... and to the target face it replaced


def check_identity(
    source: ImageInput,
    target: ImageInput,
    result: ImageInput,
    source_face: Face,
    target_face: Face,
    output_face: Face,
) -> IdentityCheck | None:
    """How much the fused face looks like the source and like the target (faces as FusionResult gives
    them); None when the fused face is not found again in the result."""
    fused = redetected_descriptor(decode_image(result, "result").pixels, output_face)
    if fused is None:
        return None
    to_source = identity_distance(fused, face_descriptor(decode_image(source, "source").pixels, source_face))
    to_target = identity_distance(fused, face_descriptor(decode_image(target, "target").pixels, target_face))
    return IdentityCheck(to_source, to_target)
