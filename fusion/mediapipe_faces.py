"""Face finding on MediaPipe's Apache-2.0 models: BlazeFace detection and the 468-point face mesh.

The `.tflite` files ship inside the `mediapipe==0.10.21` wheel (installed without its dependencies:
only the files are used) and run on LiteRT (`ai-edge-litert`). The conventions follow MediaPipe's
own graphs:
- detection (face_detection_short_range / _full_range .pbtxt): SSD anchors with fixed size 1,
  the image letterboxed into the input, RGB scaled to [-1, 1], boxes as x/y centre and w/h offsets
  over the input size, sigmoid scores, weighted non-maximum suppression at IoU 0.3;
- landmarks (face_landmark_cpu.pbtxt, face_detection_front_detection_to_roi.pbtxt): the region is the
  detection box turned so the eyes are level, squared on its long side and grown 1.5x; the 192x192
  crop is RGB in [0, 1]; the mesh then runs again in the region the first mesh implies
  (face_landmark_landmarks_to_roi.pbtxt: mesh bounds, eyes 33 and 263, 1.5x), as MediaPipe's video
  graph does from frame to frame.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion.errors import Availability, EngineUnavailable

_INSTALL_HINT = 'Install them with: pip install ai-edge-litert && pip install --no-deps "mediapipe==0.10.21"'
MESH_SIZE = 192
MESH_SCORE_MIN = 0.5  # the mesh model's own "is this a face" output, after the sigmoid
ROI_SCALE = 1.5
NMS_IOU = 0.3
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
# The face's outline on the mesh, in order around it (MediaPipe's FACEMESH_FACE_OVAL).
FACE_OVAL = np.array(
    [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148]
    + [176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
)


@dataclass(frozen=True)
class _Detector:
    file: str
    size: int
    strides: tuple[int, ...]
    score_min: float

    @property
    def path(self) -> str:
        return f"face_detection/{self.file}"


# face_detection_short_range.pbtxt and face_detection_full_range.pbtxt (the sparse model's graph).
SHORT_RANGE = _Detector("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 0.5)
FULL_RANGE = _Detector("face_detection_full_range_sparse.tflite", 192, (4,), 0.6)
MESH_FILE = "face_landmark/face_landmark.tflite"


def model_file(relative: str) -> Path:
    """A model file inside the installed mediapipe package, found without importing mediapipe."""
    spec = importlib.util.find_spec("mediapipe")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "modules" / relative
        if candidate.is_file():
            return candidate
    raise EngineUnavailable(
        "mediapipe", f"the MediaPipe model file {relative} is not installed", _INSTALL_HINT
    )


def availability() -> Availability:
    """Whether the runtime and the three model files are installed (nothing is loaded)."""
    try:
        for relative in (SHORT_RANGE.path, FULL_RANGE.path, MESH_FILE):
            model_file(relative)
    except EngineUnavailable as missing:
        return Availability(False, missing.reason, missing.remedy)
    if importlib.util.find_spec("ai_edge_litert") is None:
        return Availability(False, "the LiteRT runtime (ai-edge-litert) is not installed", _INSTALL_HINT)
    return Availability(True)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native code's stderr) for the duration; Python's own is flushed first."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Model:
    """One LiteRT interpreter; its tensors are shared state, so calls are serialised."""

    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise EngineUnavailable(
                "mediapipe", "the LiteRT runtime is not installed", _INSTALL_HINT
            ) from error
        with _quiet_stderr():  # LiteRT prints "INFO: Created ... XNNPACK delegate" on its own stderr
            self._interpreter: Any = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # Two outputs in both models: the big one (boxes / mesh) and the score.
        outputs.sort(key=lambda d: -int(np.prod(d["shape"])))
        self._outputs = [d["index"] for d in outputs]
        self._lock = threading.Lock()

    def __call__(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor[None].astype(np.float32))
            self._interpreter.invoke()
            first, second = (self._interpreter.get_tensor(index).copy() for index in self._outputs)
        return first, second


@cache
def _model(relative: str) -> _Model:
    return _Model(model_file(relative))


def detector_model(spec: _Detector) -> _Model:
    return _model(spec.path)


def mesh_model() -> _Model:
    return _model(MESH_FILE)


@cache
def anchors(spec: _Detector) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1], as MediaPipe's SsdAnchorsCalculator lays them out: layers
    with the same stride share one grid, each contributing two anchors per cell (one when the
    interpolated aspect ratio is off, as in the single-layer full-range model)."""
    per_cell = 2 if len(spec.strides) > 1 else 1
    centres = []
    layer = 0
    while layer < len(spec.strides):
        stride = spec.strides[layer]
        count = 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:
            count += per_cell
            layer += 1
        cells = math.ceil(spec.size / stride)
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, count, axis=0))
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # x0, y0, x1, y1 in image pixels
    keypoints: np.ndarray  # (6, 2): right eye, left eye, nose tip, mouth, right ear, left ear
    score: float


def reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """The image shrunk by a whole factor with area averaging (OpenCV's fast path needs the sides
    to be exact multiples: the last few rows and columns are dropped)."""
    if factor < 2:
        return image
    height, width = image.shape[:2]
    trimmed = image[: height - height % factor, : width - width % factor]
    return cv2.resize(trimmed, (width // factor, height // factor), interpolation=cv2.INTER_AREA)


def _letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The image fitted into size x size (black bars), as a [-1, 1] tensor, with the scale and pads."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    factor = int(1 / scale)
    # Large photos: every n-th pixel first (a view), so area averaging reads ~16 pixels per output
    # pixel instead of all of them; the detector cannot see the difference at its input size.
    stride = max(1, factor // 4)
    small = reduce(image[::stride, ::stride], factor // stride)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(small, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    canvas = np.zeros((size, size, 3), np.uint8)
    top, left = int(pad_y), int(pad_x)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas.astype(np.float32) / 127.5 - 1.0, scale, float(left), float(top)


def detect(image: np.ndarray, spec: _Detector = FULL_RANGE) -> list[Detection]:
    """BlazeFace detections in an RGB image, in its pixel coordinates, after weighted NMS."""
    tensor, scale, left, top = _letterbox(image, spec.size)
    raw, logits = detector_model(spec)(tensor)
    raw, logits = raw[0], logits[0, :, 0]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    keep = np.flatnonzero(scores >= spec.score_min)
    if keep.size == 0:
        return []
    centre = anchors(spec)[keep]
    values = raw[keep] / spec.size  # offsets in input-size units; anchors are fixed-size (1 x 1)
    cx, cy = values[:, 0] + centre[:, 0], values[:, 1] + centre[:, 1]
    w, h = values[:, 2], values[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    points = values[:, 4:16].reshape(-1, 6, 2) + centre[:, None, :]
    # back from the letterboxed input to image pixels
    boxes = (boxes * spec.size - [left, top, left, top]) / scale
    points = (points * spec.size - [left, top]) / scale
    return weighted_nms(boxes, points, scores[keep])


def _overlap(box: np.ndarray, boxes: np.ndarray, over: str = "union") -> np.ndarray:
    """Intersection of `box` with each of `boxes`, over their union ("union": IoU) or over the
    smaller of the two ("smaller": 1 when one holds the other)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    base = np.minimum(area, areas) if over == "smaller" else area + areas - inter
    return np.asarray(inter / np.maximum(base, 1e-9))


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray) -> list[Detection]:
    """MediaPipe's WEIGHTED suppression: each kept detection is the score-weighted mean of the
    candidates overlapping the best one by more than NMS_IOU."""
    order = np.argsort(-scores)
    boxes, points, scores = boxes[order], points[order], scores[order]
    remaining = np.ones(len(scores), bool)
    found = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (_overlap(boxes[i], boxes) > NMS_IOU)
        weights = scores[overlap][:, None]
        box = (boxes[overlap] * weights).sum(axis=0) / weights.sum()
        kps = (points[overlap] * weights[:, :, None]).sum(axis=0) / weights.sum()
        found.append(Detection(box.astype(np.float32), kps.astype(np.float32), float(scores[i])))
        remaining &= ~overlap
    return found


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


def run_mesh(image: np.ndarray, region: Region) -> tuple[np.ndarray, float]:
    """The 468 mesh points (x, y, z; z in the same pixel scale) of the face in `region`, and the
    model's face score (sigmoid)."""
    to_crop = region.to_crop()
    factor = int(region.side / MESH_SIZE / 1.5)
    source, x0, y0 = image, 0, 0
    if factor >= 2:
        # Warping straight from a large face would alias: area-average the region's bounds first.
        half = region.side * 0.75
        x0, y0 = max(0, int(region.cx - half)), max(0, int(region.cy - half))
        x1 = min(image.shape[1], math.ceil(region.cx + half))
        y1 = min(image.shape[0], math.ceil(region.cy + half))
        source = reduce(image[y0:y1, x0:x1], factor)
        # crop <- image is to_crop; image <- reduced is x * factor + offset
        to_crop = to_crop @ np.array([[factor, 0, x0], [0, factor, y0], [0, 0, 1]], np.float64)
    crop = cv2.warpAffine(source, to_crop, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR)
    raw, logit = mesh_model()(crop.astype(np.float32) / 255.0)
    points = raw.reshape(468, 3)
    score = float(1.0 / (1.0 + math.exp(-float(np.clip(logit.ravel()[0], -100, 100)))))
    back = cv2.invertAffineTransform(region.to_crop())
    xy = points[:, :2] @ back[:, :2].T + back[:, 2]
    z = points[:, 2:3] * (region.side / MESH_SIZE)
    return np.hstack([xy, z]).astype(np.float32), score


def _tile_detections(image: np.ndarray) -> list[Detection]:
    """Full-range detections on tiles overlapping by a quarter, a half and a quarter of the long side
    (no tile smaller than the model's input): small faces in group photos, down to about 1/40 of
    the long side (dlib's upsampled pass reaches about 1/32)."""
    found: list[Detection] = []
    longest = max(image.shape[:2])
    side = longest // 2
    while side >= max(FULL_RANGE.size, longest // 4):
        factor = side // (2 * FULL_RANGE.size)  # each level shrunk once, not tile by tile
        small = reduce(image, factor)
        height, width = small.shape[:2]
        tile = side // max(1, factor)
        step = tile * 3 // 4
        for y in sorted({*range(0, max(1, height - tile), step), max(0, height - tile)}):
            for x in sorted({*range(0, max(1, width - tile), step), max(0, width - tile)}):
                shift = np.array([x, y], np.float32)
                for d in detect(small[y : y + tile, x : x + tile], FULL_RANGE):
                    scale = max(1, factor)
                    box = (d.box + np.tile(shift, 2)) * scale
                    found.append(Detection(box, (d.keypoints + shift) * scale, d.score))
        side //= 2
    return found


def find_faces(image: np.ndarray, thorough: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(box, 468-point mesh) for every face found, in full-resolution pixel coordinates.

    Fast path: the short-range model (faces that fill a good part of the photo), the full-range one
    when that finds nothing. Thorough: both, plus full range on tiles for small faces. Every
    detection is confirmed by the mesh model's own face score."""
    detections = detect(image, SHORT_RANGE)
    if thorough or not detections:
        detections += detect(image, FULL_RANGE)
    if thorough:
        detections += _tile_detections(image)
    detections.sort(key=lambda d: -d.score)
    faces: list[tuple[np.ndarray, np.ndarray]] = []
    for detection in detections:
        # A face already meshed, or a part of one (a tile's cut-off view), is not meshed again.
        if faces and _overlap(detection.box, np.array([b for b, _ in faces]), "smaller").max() > 0.5:
            continue
        mesh, score = run_mesh(image, region_from_detection(detection))
        if score < MESH_SCORE_MIN:
            continue
        # Once more, framed by the first mesh: the landmarks then no longer depend on which detection
        # (short range, full range, a tile) found the face, and on a turned face in the group photo
        # the eye points' distance to dlib's fell from 5.7% to under 4% of a face size.
        mesh, score = run_mesh(image, region_from_mesh(mesh))
        points = mesh[MESH_TO_68, :2]
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        if score < MESH_SCORE_MIN or (faces and _overlap(box, np.array([b for b, _ in faces])).max() > 0.5):
            continue
        faces.append((box, mesh))
    return faces
