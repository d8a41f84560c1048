"""BlazeFace face detection (MediaPipe's short- and full-range models), as MediaPipe's graphs run it.

face_detection_short_range.pbtxt / face_detection_full_range.pbtxt: SSD anchors of fixed size 1, the
image letterboxed into the input, RGB scaled to [-1, 1], boxes as x/y centre and w/h offsets over the
input size, sigmoid scores, weighted non-maximum suppression at IoU 0.3. Six keypoints per face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from fusion import litert
from fusion.geometry import overlap

NMS_IOU = 0.3


@dataclass(frozen=True)
class DetectorSpec:
    path: str  # under mediapipe/modules
    size: int
    strides: tuple[int, ...]
    score_min: float


# face_detection_short_range.pbtxt and face_detection_full_range.pbtxt (the sparse model's graph).
SHORT_RANGE = DetectorSpec("face_detection/face_detection_short_range.tflite", 128, (8, 16, 16, 16), 0.5)
FULL_RANGE = DetectorSpec("face_detection/face_detection_full_range_sparse.tflite", 192, (4,), 0.6)


def detector_model(spec: DetectorSpec) -> litert.Model:
    return litert.model(spec.path)


@cache
def anchors(spec: DetectorSpec) -> np.ndarray:
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
    keypoints: np.ndarray  # faces (6, 2): right eye, left eye, nose tip, mouth, right ear, left ear
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


def detect(image: np.ndarray, spec: DetectorSpec = FULL_RANGE) -> list[Detection]:
    """BlazeFace detections in an RGB image, in its pixel coordinates, after weighted NMS."""
    tensor, scale, left, top = _letterbox(image, spec.size)
    return decode(spec, detector_model(spec)(tensor), (scale, left, top))


def decode(
    spec: DetectorSpec, outputs: tuple[np.ndarray, ...], letterbox: tuple[float, float, float]
) -> list[Detection]:
    """An SSD model's raw outputs (boxes and keypoints per anchor, and logits) as detections in
    image pixels after weighted NMS: `letterbox` = (scale, left, top) of the image in the input.
    Shared by BlazeFace and MediaPipe's palm detector (the same anchors and layout)."""
    raw, logits = outputs[0][0], outputs[1][0, :, 0]
    scores = litert.sigmoid(logits)
    keep = np.flatnonzero(scores >= spec.score_min)
    if keep.size == 0:
        return []
    scale, left, top = letterbox
    centre = anchors(spec)[keep]
    values = raw[keep] / spec.size  # offsets in input-size units; anchors are fixed-size (1 x 1)
    cx, cy = values[:, 0] + centre[:, 0], values[:, 1] + centre[:, 1]
    w, h = values[:, 2], values[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    points = values[:, 4:].reshape(len(keep), -1, 2) + centre[:, None, :]
    # back from the letterboxed input to image pixels
    boxes = (boxes * spec.size - [left, top, left, top]) / scale
    points = (points * spec.size - [left, top]) / scale
    return weighted_nms(boxes, points, scores[keep])


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
        group = remaining & (overlap(boxes[i], boxes) > NMS_IOU)
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(axis=0) / weights.sum()
        kps = (points[group] * weights[:, :, None]).sum(axis=0) / weights.sum()
        found.append(Detection(box.astype(np.float32), kps.astype(np.float32), float(scores[i])))
        remaining &= ~group
    return found


def tile_detections(image: np.ndarray) -> list[Detection]:
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
