"""Landmark geometry: forehead extension, head turn, near and far side, similarity alignment."""

from __future__ import annotations

import math

import cv2
import numpy as np

BROWS = slice(17, 27)
CHIN = 8
# Parts of the 68-point layout that are not skin: each brow, each eye, the outer lips.
FEATURE_PARTS = (
    list(range(17, 22)),
    list(range(22, 27)),
    list(range(36, 42)),
    list(range(42, 48)),
    list(range(48, 60)),
)
# Each of the 68 points' mirror image across the face's midline (the left eye's outer corner for the
# right eye's, and so on): the landmarks of a face seen in a mirror.
MIRROR_68 = np.array([
    *range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
])  # fmt: skip
# How far above each brow point (17..26) the forehead points sit, as a fraction of brow-to-chin height.
_FOREHEAD_LIFT = np.array([0.10, 0.16, 0.20, 0.23, 0.24, 0.24, 0.23, 0.20, 0.16, 0.10], np.float32)


def fill_parts(points: np.ndarray, height: int, width: int, parts: tuple[list[int], ...]) -> np.ndarray:
    """(height, width) uint8, 1 inside the convex hull of each part's points (a list of indices)."""
    mask = np.zeros((height, width), np.uint8)
    for part in parts:
        cv2.fillConvexPoly(mask, cv2.convexHull(points[part].astype(np.float32)).astype(np.int32), 1)
    return mask


def grown_parts(
    points: np.ndarray, height: int, width: int, parts: tuple[list[int], ...], reach: float
) -> np.ndarray:
    """fill_parts grown by `reach` pixels all round (an ellipse, at least 3 pixels across)."""
    across = max(3, 2 * round(reach) + 1)
    shape = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (across, across))
    return cv2.dilate(fill_parts(points, height, width, parts), shape)


def with_forehead(landmarks_68: np.ndarray) -> np.ndarray:
    """The 68 points plus 10 forehead points above the brows: (78, 2) float32."""
    brows = landmarks_68[BROWS]
    up = brows.mean(axis=0) - landmarks_68[CHIN]
    forehead = brows + _FOREHEAD_LIFT[:, None] * up[None, :]
    return np.vstack([landmarks_68, forehead]).astype(np.float32)


def turn(landmarks_68: np.ndarray) -> float:
    """How far the head is turned, -1..1: (left - right) / (left + right) of the jaw's distances
    from the nose tip along the eye line. 0 for a frontal face; toward -1 when the side of points
    0..3 (the image's left on a frontal face) turns away, and toward 1 for the other side."""
    across = landmarks_68[45] - landmarks_68[36]
    across = across / max(float(np.linalg.norm(across)), 1e-6)
    left = max(0.0, float(((landmarks_68[30] - landmarks_68[0:4]) @ across).mean()))
    right = max(0.0, float(((landmarks_68[13:17] - landmarks_68[30]) @ across).mean()))
    return (left - right) / max(left + right, 1e-6)


def side_distance(points: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Signed distance of each of `at` (..., 2) from the face's midline (nose bridge to chin, in the
    68-point layout of `points`): positive on the side of points 0..3."""
    middle = points[[27, 28, 29, 30, 33, 51, 57, 8]]
    centre = middle.mean(axis=0)
    _, _, axes = np.linalg.svd(middle - centre)
    normal = np.array([-axes[0, 1], axes[0, 0]], np.float32)
    if float((points[36] - points[45]) @ normal) < 0:  # toward the eye of that side (its jaw may
        normal = -normal  # lie behind the nose on a turned head)
    return ((at - centre) @ normal).astype(np.float32)


def pixels(width: int, height: int) -> np.ndarray:
    """(h, w, 2) float32: each pixel's (x, y)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def side_weight(points: np.ndarray, width: int, height: int, softness: float) -> np.ndarray:
    """(h, w) float32: 1 on the side of points 0..3 of the face's midline, 0 on the other side, a
    linear step `softness` pixels wide along it."""
    return np.clip(0.5 + side_distance(points, pixels(width, height)) / max(softness, 1e-3), 0.0, 1.0)


TURNED_AWAY = 0.6  # a turn past which a face's far side is left alone (see near_side)


def near_side(points: np.ndarray, at: np.ndarray, face_size: float, at_midline: float = 1.0) -> np.ndarray:
    """(...) float32 per place of `at` (..., 2): 1, except on a face (68-point layout of `points`)
    turned past TURNED_AWAY: there `at_midline` on the midline, rising to 1 on the near side and
    falling to 0 on the far side over a twentieth of a face. Its far side is a sliver: the
    outline lies along the nose with the background beside it, so it is neither sampled (skin,
    light) nor moved toward a frontal face's shape (that pulls the face out over the background)."""
    facing = turn(points[:68])
    if abs(facing) <= TURNED_AWAY:
        return np.ones(at.shape[:-1], np.float32)
    beyond = side_distance(points, at) * np.sign(facing)  # > 0 on the near side
    return np.clip(at_midline + beyond / (0.05 * face_size), 0.0, 1.0).astype(np.float32)


def near_side_image(points: np.ndarray, size: tuple[int, int], face_size: float) -> np.ndarray:
    """near_side over every pixel of a plane of `size` (w, h): (h, w); no pixel grid is built for
    a face that is not turned past TURNED_AWAY (the common case, on every fusion's hot path)."""
    if abs(turn(points[:68])) <= TURNED_AWAY:
        return np.ones((size[1], size[0]), np.float32)
    return near_side(points, pixels(*size), face_size)


def face_crop_box(points: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the points' bounding box grown by `margin` pixels, clipped to the image,
    at least 8 pixels each way."""
    x0 = max(0, math.floor(points[:, 0].min() - margin))
    y0 = max(0, math.floor(points[:, 1].min() - margin))
    x1 = min(width, math.ceil(points[:, 0].max() + margin))
    y1 = min(height, math.ceil(points[:, 1].max() + margin))
    return x0, y0, max(x1, x0 + 8), max(y1, y0 + 8)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points onto dst points (n, d), as a d x (d + 1)
    matrix: 2x3 for image points, 3x4 for mesh points (a rotation in depth too)."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    dims = src.shape[1]
    sign = np.eye(dims)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1, -1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(sigma) @ sign) / max(src_c.var(axis=0).sum(), 1e-12))
    matrix = np.zeros((dims, dims + 1), np.float64)
    matrix[:, :dims] = scale * rotation
    matrix[:, dims] = dst_mean - scale * rotation @ src_mean
    return matrix


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points @ matrix[:, :-1].T + matrix[:, -1]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(matrix)


def smoothstep(value: float | np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at `start`, 1 at `end` (either may be the larger), smooth in between and flat beyond."""
    x = np.clip((np.asarray(value, np.float64) - start) / (end - start), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def overlap(box: np.ndarray, boxes: np.ndarray, over: str = "union") -> np.ndarray:
    """Intersection of `box` with each of `boxes`, over their union ("union": IoU) or over the
    smaller of the two ("smaller": 1 when one holds the other)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    base = np.minimum(area, areas) if over == "smaller" else area + areas - inter
    return np.asarray(inter / np.maximum(base, 1e-9))


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    return float(overlap(np.asarray(a, np.float64), np.asarray([b], np.float64))[0])


def face_size(landmarks_68: np.ndarray) -> float:
    """Face scale: outer-eye-corner distance x 2.2, steadier than any detector's box."""
    return float(np.linalg.norm(landmarks_68[45] - landmarks_68[36]) * 2.2)


def five_points_from_68(landmarks_68: np.ndarray) -> np.ndarray:
    """ArcFace's 5 points from the 68 landmarks: eye centres, nose tip (30), mouth corners (48, 54)."""
    return np.array(
        [
            landmarks_68[36:42].mean(axis=0),
            landmarks_68[42:48].mean(axis=0),
            landmarks_68[30],
            landmarks_68[48],
            landmarks_68[54],
        ],
        np.float32,
    )
