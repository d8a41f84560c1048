"""InsightFace models through onnxruntime: SCRFD detection, ArcFace embedding, inswapper_128.

Sessions are created once per (file, size, mtime, device) and shared: an onnxruntime session's
`run` is thread-safe. CUDA is used only when onnxruntime lists it AND the session really reports it
in `get_providers()` (onnxruntime-gpu without CUDA silently falls back to the CPU).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion.device import onnx_providers
from fusion.errors import EngineUnavailable
from fusion.geometry import similarity_transform

log = logging.getLogger(__name__)

# ArcFace 5-point template (left eye, right eye, nose tip, left and right mouth corner) for 112 px.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
)


def arcface_template(size: int) -> np.ndarray:
    """The 5-point template for a `size` px crop, as InsightFace's `face_align.estimate_norm` frames it.

    Multiples of 112 (the ArcFace recogniser's crops) scale the 112 template. Multiples of 128
    (inswapper_128 and its pixel-boost crops) keep the template's scale per 128 px and shift it 8 px
    right: the swap model was trained on crops that show more of the head than ArcFace's.
    """
    if size % 112 == 0:
        return ARCFACE_TEMPLATE_112 * (size / 112.0)
    if size % 128 == 0:
        ratio = size / 128.0
        return ARCFACE_TEMPLATE_112 * ratio + np.array([8.0 * ratio, 0.0], np.float32)
    raise ValueError(f"aligned crops are multiples of 112 or 128 px, not {size}")


def onnx_runtime_missing() -> str | None:
    """None when onnxruntime and onnx import, else which one is missing."""
    import importlib.util

    for module in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@lru_cache(maxsize=8)
def _session(path: str, size: int, mtime_ns: int, device: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxruntime-gpu without CUDA logs a page of errors, then runs on CPU
    try:
        session = ort.InferenceSession(path, options, providers=onnx_providers(device))
    except Exception as exc:  # onnxruntime raises its own classes for unreadable or truncated files
        raise _unloadable(Path(path), exc) from exc
    log.info("%s runs on %s", Path(path).name, session.get_providers())
    return session


def _unloadable(path: Path, exc: Exception) -> EngineUnavailable:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return EngineUnavailable(
        "inswapper",
        f"the model file {path} could not be loaded ({first_line})",
        "Delete it and fetch it again with: python -m fusion models download",
    )


def session(path: Path, device: str = "auto") -> Any:
    stat = path.stat()
    return _session(str(path), stat.st_size, stat.st_mtime_ns, device)


def running_providers(path: Path, device: str = "auto") -> list[str]:
    """What really runs this model (`session.get_providers()`), e.g. ['CPUExecutionProvider']."""
    return list(session(path, device).get_providers())


def alignment_matrix(points_5: np.ndarray, size: int) -> np.ndarray:
    """2x3 similarity mapping the image onto `arcface_template(size)`: a least-squares (Umeyama) fit
    of all five points, as skimage's SimilarityTransform in the reference (a robust fit such as
    LMEDS may drop one of only five points)."""
    return similarity_transform(points_5.astype(np.float64), arcface_template(size).astype(np.float64))


def align(image: np.ndarray, points_5: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (size, size, 3) aligned crop and the 2x3 matrix that produced it. Outside the photo is
    black, as in the crops the models were trained on (`face_align.norm_crop`)."""
    matrix = alignment_matrix(points_5, size)
    crop = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return crop, matrix


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    points_5: np.ndarray  # (5, 2) float32


def scrfd_detect(
    path: Path, image: np.ndarray, device: str = "auto", size: int = 640, threshold: float = 0.5
) -> list[Detection]:
    """SCRFD (buffalo_l det_10g): faces with 5 keypoints, best first. `image` is (H, W, 3) RGB uint8.

    As InsightFace's `SCRFD.detect`: the image is scaled (sizes truncated) into the top-left of a
    size x size canvas and normalised (x - 127.5) / 128; the nine outputs are scores, box distances
    and keypoint offsets for strides 8, 16, 32, two anchors per cell at the cell's corner; boxes
    overlapping a better one by IoU > 0.4 are dropped.
    """
    model = session(path, device)
    height, width = image.shape[:2]
    if height / width > 1.0:
        new_height, new_width = size, int(size / (height / width))
    else:
        new_width, new_height = size, int(size * (height / width))
    scale = new_height / height
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:new_height, :new_width] = cv2.resize(image, (max(1, new_width), max(1, new_height)))
    blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
    outputs = model.run(None, {model.get_inputs()[0].name: blob})
    strides = (8, 16, 32)
    count = len(strides)
    boxes, scores, points = [], [], []
    for index, stride in enumerate(strides):
        score = outputs[index].reshape(-1)
        distance = outputs[index + count].reshape(-1, 4) * stride
        offsets = outputs[index + 2 * count].reshape(-1, 10) * stride
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
        anchors = len(score) // len(centres)
        centres = np.repeat(centres, anchors, axis=0)
        keep = score >= threshold
        centre = centres[keep]
        boxes.append(np.hstack([centre - distance[keep][:, :2], centre + distance[keep][:, 2:]]))
        points.append(centre[:, None, :] + offsets[keep].reshape(-1, 5, 2))
        scores.append(score[keep])
    all_scores = np.concatenate(scores)
    if not len(all_scores):
        return []
    order = np.argsort(-all_scores, kind="stable")
    all_boxes = (np.vstack(boxes) / scale)[order]
    all_points = (np.vstack(points) / scale)[order]
    all_scores = all_scores[order]
    detections = []
    for i in _nms(all_boxes, 0.4):
        x0, y0, x1, y1 = (float(v) for v in all_boxes[i])
        detections.append(Detection((x0, y0, x1, y1), float(all_scores[i]), all_points[i].astype(np.float32)))
    return detections


def _nms(boxes: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression over boxes sorted best first (pixel-inclusive areas, +1, as
    InsightFace's SCRFD.nms): the indices kept."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    remaining = np.arange(len(boxes))
    kept: list[int] = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        kept.append(int(best))
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        overlap = width * height
        remaining = rest[overlap / (areas[best] + areas[rest] - overlap) <= threshold]
    return kept


def arcface_embedding(path: Path, aligned_112: np.ndarray, device: str = "auto") -> np.ndarray:
    """(512,) L2-normalised identity embedding of a (112, 112, 3) RGB uint8 aligned face."""
    model = session(path, device)
    blob = ((aligned_112.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    embedding = model.run(None, {model.get_inputs()[0].name: blob})[0].reshape(-1)
    return (embedding / max(float(np.linalg.norm(embedding)), 1e-12)).astype(np.float32)


@lru_cache(maxsize=2)
def _emap(path: str, size: int, mtime_ns: int) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(path).graph
    except Exception as exc:  # protobuf's DecodeError and friends
        raise _unloadable(Path(path), exc) from exc
    return numpy_helper.to_array(graph.initializer[-1]).astype(np.float32)


def inswapper_latent(path: Path, embedding: np.ndarray) -> np.ndarray:
    """(1, 512) inswapper `source` input: the normed embedding through `emap`, re-normalised."""
    stat = path.stat()
    latent = embedding.reshape(1, -1) @ _emap(str(path), stat.st_size, stat.st_mtime_ns)
    return (latent / max(float(np.linalg.norm(latent)), 1e-12)).astype(np.float32)


def inswapper_swap(
    path: Path, aligned_128: np.ndarray, latent: np.ndarray, device: str = "auto"
) -> np.ndarray:
    """inswapper_128 on one aligned crop: (128, 128, 3) RGB uint8 in, (128, 128, 3) RGB uint8 out."""
    model = session(path, device)
    blob = (aligned_128.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    output = model.run(None, {"target": blob, "source": latent})[0][0]
    return np.clip(output.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
