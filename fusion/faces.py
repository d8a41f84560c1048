"""Faces and their landmarks, found by MediaPipe's models (default) or dlib (optional), plus the
quality checks users are warned about.

Both backends give the same `Face`: a box and 68 landmarks in the iBUG layout (MediaPipe's come from
its 468-point mesh, which the face also keeps) in full-resolution pixel coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fusion import dlib_faces, mediapipe_faces
from fusion.errors import Availability, FaceIndexOutOfRange, NoFaceFound
from fusion.geometry import MIRROR_68, face_size, five_points_from_68, turn
from fusion.io import ImageInput, decode_image
from fusion.options import Detector

SMALL_FACE_PX = 128
SMALL_SOURCE_PX = 512
BLUR_VARIANCE_LIMIT = 30.0  # soft video stills measure 14-17, a 2-px blur 24-28, sharp photos 55+
YAW_LIMIT_DEG = 30.0
YAW_DIFFERENCE_LIMIT_DEG = 25.0


@dataclass(frozen=True)
class Face:
    """One face in full-resolution pixel coordinates."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    landmarks: np.ndarray  # (68, 2) float32, x/y
    mesh: np.ndarray | None = None  # (468, 3) float32 x/y/z from MediaPipe's face mesh, if it ran

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def size(self) -> float:
        """Face scale: outer-eye-corner distance x 2.2, steadier than the detector box."""
        return face_size(self.landmarks)

    @property
    def five_points(self) -> np.ndarray:
        """ArcFace's 5 points (eye centres, nose tip, mouth corners), from the mesh when it ran."""
        if self.mesh is not None:
            return mediapipe_faces.five_points(self.mesh)
        return five_points_from_68(self.landmarks)

    def scaled(self, sx: float, sy: float) -> Face:
        x0, y0, x1, y1 = self.box
        box = (round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy))
        mesh = None if self.mesh is None else (self.mesh * np.array([sx, sy, sx], np.float32))
        return Face(box, (self.landmarks * np.array([sx, sy], np.float32)).astype(np.float32), mesh)

    def shifted(self, dx: float, dy: float) -> Face:
        """This face in a frame whose origin lies at (-dx, -dy) of this one's (a crop's: negative)."""
        x0, y0, x1, y1 = self.box
        box = (round(x0 + dx), round(y0 + dy), round(x1 + dx), round(y1 + dy))
        mesh = None if self.mesh is None else (self.mesh + np.array([dx, dy, 0.0], np.float32))
        return Face(box, (self.landmarks + np.array([dx, dy], np.float32)).astype(np.float32), mesh)

    def mirrored(self, image_width: int) -> Face:
        """This face in the photo flipped left to right: points renumbered so that each keeps its
        meaning (the left eye's corner is again a left eye's corner)."""
        x0, y0, x1, y1 = self.box
        flip = np.array([image_width - 1, 0], np.float32)
        sign = np.array([-1, 1], np.float32)
        landmarks = (flip + sign * self.landmarks[MIRROR_68]).astype(np.float32)
        mesh = None
        if self.mesh is not None:
            mesh = self.mesh[mediapipe_faces.MESH_MIRROR].copy()
            mesh[:, 0] = image_width - 1 - mesh[:, 0]
        return Face((image_width - x1, y0, image_width - x0, y1), landmarks, mesh)

    def as_dict(self) -> dict[str, object]:
        return {"box": list(self.box), "yaw_degrees": round(estimate_yaw(self.landmarks), 1)}


@dataclass(frozen=True)
class DetectedFaces:
    image: np.ndarray  # (H, W, 3) RGB uint8, decoded as fuse() decodes it
    faces: list[Face]  # largest first: index i here is face i for fuse()


def detect(image: ImageInput, role: str = "target", detector: Detector = "mediapipe") -> DetectedFaces:
    """Every face in a photo (path, bytes or RGB array), numbered as `fuse()` numbers them."""
    decoded = decode_image(image, role)
    return DetectedFaces(decoded.pixels, detect_faces(decoded.pixels, thorough=True, detector=detector))


def _clipped_box(box: tuple[float, ...] | np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return max(0, round(x0)), max(0, round(y0)), min(width, round(x1)), min(height, round(y1))


def detector_availability(detector: str) -> Availability:
    """Whether a face detector (fusion.options.DETECTORS) can run here, and if not why and how to fix it."""
    return dlib_faces.availability() if detector == "dlib" else mediapipe_faces.availability()


def detect_faces(
    image: np.ndarray, working_limit: int = 2048, thorough: bool = False, detector: Detector = "mediapipe"
) -> list[Face]:
    """All faces, largest first. `thorough` also looks for small faces (slower)."""
    height, width = image.shape[:2]
    if detector == "dlib":  # optional: only this choice imports dlib
        found = dlib_faces.find_faces(image, thorough, working_limit)
        faces = [Face(_clipped_box(box, width, height), points) for box, points in found]
    else:
        faces = [
            Face(_clipped_box(box, width, height), points, mesh)
            for box, points, mesh in mediapipe_faces.find_faces(image, thorough)
        ]
    faces.sort(key=lambda f: f.size, reverse=True)
    return faces


def choose_faces(faces: list[Face], index: int | str, role: str) -> list[Face]:
    if not faces:
        raise NoFaceFound(role)
    if index == "all":
        return faces
    assert isinstance(index, int)
    if index >= len(faces):
        raise FaceIndexOutOfRange(role, index, len(faces))
    return [faces[index]]


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Approximate head yaw in degrees, from where the nose tip sits between the cheek contours."""
    return math.degrees(math.asin(turn(landmarks)))


def blur_variance(image: np.ndarray, face: Face) -> float:
    """Laplacian variance of the face normalised to 256 px wide: low means blurry."""
    x0, y0, x1, y1 = face.box
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(
        gray, (256, max(1, round(256 * gray.shape[0] / gray.shape[1]))), interpolation=cv2.INTER_AREA
    )
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def quality_warnings(image: np.ndarray, face: Face, role: str) -> list[str]:
    notes = []
    if face.width < SMALL_FACE_PX:
        notes.append(
            f"The {role} face is small ({face.width} px wide); results are best above {SMALL_FACE_PX} px."
        )
    if role == "source" and min(image.shape[:2]) < SMALL_SOURCE_PX:
        notes.append(
            f"The source photo is small ({image.shape[1]}x{image.shape[0]}); "
            f"use one at least {SMALL_SOURCE_PX} px on its short side for sharper faces."
        )
    if face.width >= 48 and blur_variance(image, face) < BLUR_VARIANCE_LIMIT:
        notes.append(f"The {role} face looks blurry; a sharper photo gives a better result.")
    yaw = estimate_yaw(face.landmarks)
    if abs(yaw) > YAW_LIMIT_DEG:
        notes.append(
            f"The {role} face is turned about {abs(yaw):.0f} degrees; faces within "
            f"{YAW_LIMIT_DEG:.0f} degrees of frontal fuse best."
        )
    return notes


def pose_warnings(source_face: Face, target_face: Face) -> list[str]:
    """Warn when the two heads are turned very differently: a 2-D warp can't show a hidden cheek."""
    source_yaw, target_yaw = estimate_yaw(source_face.landmarks), estimate_yaw(target_face.landmarks)
    if abs(source_yaw - target_yaw) <= YAW_DIFFERENCE_LIMIT_DEG:
        return []
    return [
        f"The source face is turned {source_yaw:+.0f} degrees and the target {target_yaw:+.0f}: what "
        "the source turns away has to be made up (from its mirror image when it is turned far, and "
        "then the target's own eyes and nose show unless eyes or nose say source), and the likeness "
        "suffers. A source posed like the target works best."
    ]
