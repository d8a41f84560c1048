"""Face landmarks on MediaPipe's Apache-2.0 face mesh (468 points), on the faces BlazeFace finds.

face_landmark_cpu.pbtxt and face_detection_front_detection_to_roi.pbtxt: the region is the detection
box turned so the eyes are level, squared on its long side and grown 1.5x; the 192x192 crop is RGB in
[0, 1]; the mesh then runs again in the region the first mesh implies
(face_landmark_landmarks_to_roi.pbtxt: mesh bounds, eyes 33 and 263, 1.5x), as MediaPipe's video
graph does from frame to frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fusion import blazeface, litert
from fusion.blazeface import FULL_RANGE, SHORT_RANGE, Detection
from fusion.errors import Availability
from fusion.geometry import face_size, overlap

MESH_SIZE = 192
MESH_SCORE_MIN = 0.5  # the mesh model's own "is this a face" output, after the sigmoid
ROI_SCALE = 1.5
# Mesh points used where a 68-point (iBUG layout) landmark set is expected: jaw 0-16, brows 17-26,
# nose 27-35, eyes 36-47, lips 48-67, in the same order and on the same features (mirror pairs
# chosen where dlib's points sit nearest on average: jaw 4-6% of a face size, the rest 1-2%).
MESH_TO_68 = np.array(
    [
        *(127, 234, 93, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 323, 454, 356),
        *(70, 63, 105, 66, 107, 336, 296, 334, 293, 300),
        *(168, 197, 5, 4, 240, 97, 2, 326, 460),
        *(33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380),
        *(61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91),
        *(78, 82, 13, 312, 308, 317, 14, 87),
    ]
)
# The two eye outlines (16 points each), right eye (image left) first: their centres are the pupils'.
EYE_RINGS = (
    [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
    [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466],
)
# Each mesh point's mirror image across the face's midline (point i of a face is point MESH_MIRROR[i]
# of the same face flipped left-right), from the x -> -x symmetry of MediaPipe's canonical face model
# (face_geometry/data/canonical_face_model.obj). Its numbering makes this regular: the 28 midline
# points map to themselves, and the other points below 248, in increasing order, pair with 248..467.
_MIDLINE = (0, 1, 2, 4, 5, 6, *range(8, 20), 94, 151, 152, 164, 168, 175, 195, 197, 199, 200)
_LEFT = [i for i in range(248) if i not in _MIDLINE]
MESH_MIRROR = np.arange(468)
MESH_MIRROR[_LEFT], MESH_MIRROR[248:] = np.arange(248, 468), _LEFT
# Which half of the face each mesh point is on: 0 on that of the 68-point jaw's points 0..3, 1 on
# the other, 0.5 on the midline.
MESH_HALF = np.full(468, 0.5, np.float32)
MESH_HALF[_LEFT], MESH_HALF[248:] = 0.0, 1.0
MESH_FILE = "face_landmark/face_landmark.tflite"


def availability() -> Availability:
    """Whether LiteRT and the three model files are installed (nothing is loaded)."""
    return litert.availability((SHORT_RANGE.path, FULL_RANGE.path, MESH_FILE))


@dataclass(frozen=True)
class Region:
    """A square turned region of the image: centre, side and angle (radians, image y down)."""

    cx: float
    cy: float
    side: float
    angle: float

    def to_crop(self) -> np.ndarray:
        """2x3 affine map from image pixels to the MESH_SIZE crop."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        half = self.side / 2
        ux, uy = np.array([cos, sin]) * half, np.array([-sin, cos]) * half  # crop x and y axes
        centre = np.array([self.cx, self.cy])
        src = np.array([centre - ux - uy, centre + ux - uy, centre - ux + uy], np.float32)
        dst = np.array([[0, 0], [MESH_SIZE, 0], [0, MESH_SIZE]], np.float32)
        return cv2.getAffineTransform(src, dst)


def _region(
    centre: np.ndarray, width: float, height: float, right_eye: np.ndarray, left_eye: np.ndarray
) -> Region:
    # The angle that turns the eye line level; the box is squared on its long side, then grown.
    angle = math.atan2(float(left_eye[1] - right_eye[1]), float(left_eye[0] - right_eye[0]))
    return Region(float(centre[0]), float(centre[1]), max(width, height) * ROI_SCALE, angle)


def region_from_detection(detection: Detection) -> Region:
    x0, y0, x1, y1 = detection.box
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return _region(centre, x1 - x0, y1 - y0, detection.keypoints[0], detection.keypoints[1])


def region_from_mesh(mesh: np.ndarray) -> Region:
    """The region face_landmark_landmarks_to_roi frames from a mesh: its bounds in the frame turned
    level by the eye corners 33 and 263, centred, 1.5x."""
    angle = math.atan2(float(mesh[263, 1] - mesh[33, 1]), float(mesh[263, 0] - mesh[33, 0]))
    cos, sin = math.cos(angle), math.sin(angle)
    level = mesh[:, :2] @ np.array([[cos, -sin], [sin, cos]])  # rotate by -angle
    low, high = level.min(axis=0), level.max(axis=0)
    mid = (low + high) / 2
    centre = np.array([mid[0] * cos - mid[1] * sin, mid[0] * sin + mid[1] * cos])
    size = high - low
    return Region(float(centre[0]), float(centre[1]), float(max(size)) * ROI_SCALE, angle)


def _mesh_points(crop: np.ndarray, mirrored: bool) -> tuple[np.ndarray, float]:
    """The mesh model on a crop: 468 points in crop pixels, and its face score (sigmoid). With
    `mirrored`, the mean of the crop's mesh and its left-right flip's (mirrored back, each point
    paired with its mirror point): the model's jitter partly cancels, and the result is the same
    for a photo and its mirror image."""
    model = litert.model(MESH_FILE)
    inputs = crop.astype(np.float32) / 255.0
    raw, logit = model(inputs)
    points = raw.reshape(468, 3)
    if mirrored:
        flipped = model(np.ascontiguousarray(inputs[:, ::-1]))[0].reshape(468, 3)[MESH_MIRROR]
        # The model's x is in pixel-centre units (0 = centre of the first column): the flip of x is
        # (size - 1) - x, measured as the one that leaves no mean offset between the two passes.
        flipped[:, 0] = (MESH_SIZE - 1) - flipped[:, 0]
        points = (points + flipped) / 2
    return points, float(litert.sigmoid(logit.ravel()[:1])[0])


def run_mesh(image: np.ndarray, region: Region, mirrored: bool = False) -> tuple[np.ndarray, float]:
    """The 468 mesh points (x, y, z; z in the same pixel scale) of the face in `region`, and the
    model's face score (sigmoid); `mirrored` as in `_mesh_points`."""
    image_to_crop = region.to_crop()
    to_crop = image_to_crop
    factor = int(region.side / MESH_SIZE / 1.5)
    source, x0, y0 = image, 0, 0
    if factor >= 2:
        # Warping straight from a large face would alias: area-average the region's bounds first.
        half = region.side * 0.75
        x0, y0 = max(0, int(region.cx - half)), max(0, int(region.cy - half))
        x1 = min(image.shape[1], math.ceil(region.cx + half))
        y1 = min(image.shape[0], math.ceil(region.cy + half))
        source = blazeface.reduce(image[y0:y1, x0:x1], factor)
        # crop <- image is to_crop; image <- reduced is x * factor + offset
        to_crop = to_crop @ np.array([[factor, 0, x0], [0, factor, y0], [0, 0, 1]], np.float64)
    crop = cv2.warpAffine(source, to_crop, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR)
    points, score = _mesh_points(crop, mirrored)
    back = cv2.invertAffineTransform(image_to_crop)
    xy = points[:, :2] @ back[:, :2].T + back[:, 2]
    z = points[:, 2:3] * (region.side / MESH_SIZE)
    return np.hstack([xy, z]).astype(np.float32), score


def find_faces(image: np.ndarray, thorough: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(box, 68 landmarks, 468-point mesh) for every face found, in full-resolution pixel coordinates.

    Fast path: the short-range model (faces that fill a good part of the photo), the full-range one
    when that finds nothing. Thorough: both, plus full range on tiles for small faces. Every
    detection is confirmed by the mesh model's own face score."""
    detections = blazeface.detect(image, SHORT_RANGE)
    if thorough or not detections:
        detections += blazeface.detect(image, FULL_RANGE)
    if thorough:
        detections += blazeface.tile_detections(image)
    detections.sort(key=lambda d: -d.score)
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for detection in detections:
        boxes = np.array([face[0] for face in faces])
        # A face already meshed, or a part of one (a tile's cut-off view), is not meshed again.
        if faces and overlap(detection.box, boxes, "smaller").max() > 0.5:
            continue
        mesh, score = run_mesh(image, region_from_detection(detection))
        if score < MESH_SCORE_MIN:
            continue
        # Once more, framed by the first mesh: the landmarks then no longer depend on which detection
        # (short range, full range, a tile) found the face, and on a turned face in the group photo
        # the eye points' distance to dlib's fell from 5.7% to under 4% of a face size.
        # Mirrored too: on the benchmark's small faces the median identity distance fell from 0.499
        # to 0.482 (benchmarks/quality.py, package pairs), for one more model run (~1.3 ms).
        mesh, score = run_mesh(image, region_from_mesh(mesh), mirrored=True)
        points = landmarks_68(mesh)
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        if score < MESH_SCORE_MIN or (faces and overlap(box, boxes).max() > 0.5):
            continue
        faces.append((box, points, mesh))
    return faces


def five_points(mesh: np.ndarray) -> np.ndarray:
    """ArcFace's 5 points from the mesh: the eye outlines' centres, the nose tip, the mouth corners."""
    eyes = [mesh[list(ring), :2].mean(axis=0) for ring in EYE_RINGS]
    return np.array([*eyes, mesh[4, :2], mesh[61, :2], mesh[291, :2]], np.float32)


def _to_outline(points: np.ndarray, centre: np.ndarray, hull: np.ndarray, reach: float) -> np.ndarray:
    """Each point moved along the ray from `centre` through it to the hull, when that is farther out
    by at most `reach` pixels (beyond that the point is not near this part of the outline: on a head
    in profile the far side's points lie across the nose)."""
    starts, ends = hull, np.roll(hull, -1, axis=0)
    edge, offset = ends - starts, starts - centre
    moved = points.astype(np.float64).copy()
    for index, point in enumerate(moved):
        ray = point - centre
        # centre + t * ray = start + u * edge, solved for every hull edge at once
        denominator = ray[0] * edge[:, 1] - ray[1] * edge[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (offset[:, 0] * edge[:, 1] - offset[:, 1] * edge[:, 0]) / denominator
            u = (offset[:, 0] * ray[1] - offset[:, 1] * ray[0]) / denominator
        hits = t[(np.abs(denominator) > 1e-9) & (u >= 0) & (u <= 1) & (t > 0)]
        if hits.size and 1.0 < hits.max() <= 1.0 + reach / max(float(np.linalg.norm(ray)), 1e-6):
            moved[index] = centre + ray * hits.max()
    return moved


def landmarks_68(mesh: np.ndarray) -> np.ndarray:
    """The 68-point (iBUG layout) landmarks from a mesh: MESH_TO_68, with the jaw (0-16) moved out
    to the face's visible outline. The mesh's jaw points lie on the 3-D surface; on a turned head
    those of the far side are hidden behind the cheek, where the 68-point layout (and the masks
    built on it) want the silhouette: each goes along the ray from the nose bridge to the convex
    hull of the whole mesh, when that is farther out by at most a tenth of a face size. (Spacing
    them evenly along the outline, as the 68-point layout does, was tried: better on one benchmark
    pair, worse on two.)"""
    points = mesh[MESH_TO_68, :2].astype(np.float32)
    centre = points[27:31].mean(axis=0).astype(np.float64)
    hull = cv2.convexHull(mesh[:, :2].astype(np.float32)).reshape(-1, 2).astype(np.float64)
    points[:17] = _to_outline(points[:17], centre, hull, 0.1 * face_size(points))
    return points
