"""Identity judge: dlib's ResNet 128-d face descriptor (distance < 0.6 usually means same person).

The judge is independent of what fused the face: every face it describes is found again by dlib's
own detector and landmarks. dlib is an optional extra; without it `check_identity` raises
EngineUnavailable saying how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion import dlib_faces
from fusion.faces import Face, detect_faces
from fusion.io import ImageInput, decode_image

SAME_PERSON_DISTANCE = 0.6


def face_descriptor(image: np.ndarray, face: Face) -> np.ndarray:
    """128-d descriptor of `face` (68 landmarks in `image` coordinates) in an RGB uint8 image."""
    return dlib_faces.descriptor(image, face.box, face.landmarks)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def redetected_descriptor(image: np.ndarray, near: Face) -> np.ndarray | None:
    """Find faces in `image` afresh with dlib and describe the one holding the centre of `near`
    (None if none does). Judging this way uses nothing the fuser produced."""
    cx = (near.box[0] + near.box[2]) / 2
    cy = (near.box[1] + near.box[3]) / 2
    for thorough in (False, True):
        for face in detect_faces(image, thorough=thorough, detector="dlib"):
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
    them); None when dlib does not find one of the three faces again."""
    descriptors = [
        redetected_descriptor(decode_image(image, role).pixels, face)
        for image, role, face in (
            (result, "result", output_face),
            (source, "source", source_face),
            (target, "target", target_face),
        )
    ]
    fused, source_descriptor, target_descriptor = descriptors
    if fused is None or source_descriptor is None or target_descriptor is None:
        return None
    return IdentityCheck(
        identity_distance(fused, source_descriptor), identity_distance(fused, target_descriptor)
    )
