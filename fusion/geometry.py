"""Landmark geometry: forehead extension, similarity alignment and piecewise-affine (Delaunay) maps."""

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


def _rectangle_points(width: int, height: int, per_side: int, margin: float) -> np.ndarray:
    xs = np.linspace(-margin, width - 1 + margin, per_side + 1)
    ys = np.linspace(-margin, height - 1 + margin, per_side + 1)
    top = np.stack([xs, np.full_like(xs, -margin)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1 + margin)], 1)
    left = np.stack([np.full_like(ys[1:-1], -margin), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], width - 1 + margin), ys[1:-1]], 1)
    return np.vstack([top, bottom, left, right])


def border_anchors(width: int, height: int, per_side: int = 4, margin: float = 8.0) -> np.ndarray:
    """Two rings of points: on the crop's edge pixels and `margin` pixels outside. A triangulation
    including them covers the crop and the map's sampling grid around it; a warp that keeps the
    anchors still leaves the crop's edge exactly in place (no seam where the crop is pasted back)."""
    rings = [_rectangle_points(width, height, per_side, m) for m in (0.0, margin)]
    return np.vstack(rings).astype(np.float32)


def delaunay_triangles(points: np.ndarray) -> np.ndarray:
    """(T, 3) vertex indices of the Delaunay triangulation of `points` (N, 2), via OpenCV."""
    low = points.min(axis=0) - 2.0
    high = points.max(axis=0) + 2.0
    subdiv = cv2.Subdiv2D((int(np.floor(low[0])), int(np.floor(low[1])), int(np.ceil(high[0] - low[0])) + 2,
                           int(np.ceil(high[1] - low[1])) + 2))  # fmt: skip
    # Subdiv2D returns triangles as float32 coordinates: map them back to point indices. Triangles
    # touching its virtual outer vertices have coordinates of no point and are dropped.
    index_of: dict[tuple[float, float], int] = {}
    for index, (x, y) in enumerate(points.astype(np.float32)):
        subdiv.insert((float(x), float(y)))
        index_of.setdefault((float(x), float(y)), index)
    triangles = []
    for corners in np.asarray(subdiv.getTriangleList(), np.float32).reshape(-1, 3, 2):
        ids = [index_of.get((float(x), float(y)), -1) for x, y in corners]
        if min(ids) >= 0:
            triangles.append(ids)
    return np.array(triangles, np.int64).reshape(-1, 3)


def smoothstep(value: float | np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at `start`, 1 at `end` (either may be the larger), smooth in between and flat beyond."""
    x = np.clip((np.asarray(value, np.float64) - start) / (end - start), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def signed_areas(corners: np.ndarray) -> np.ndarray:
    """(T,) twice the signed area of each triangle (T, 3, 2): its sign tells which way round the
    corners run, and a map that changes it turns the triangle over."""
    corners = corners.astype(np.float64)
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    return edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0]


def folded_triangles(dst_points: np.ndarray, src_points: np.ndarray) -> np.ndarray:
    """(F, 3) vertex indices of the triangles (Delaunay on `dst_points`) that a piecewise-affine map
    from `dst_points` to `src_points` turns over: a mirrored triangle smears the picture."""
    triangles = delaunay_triangles(dst_points)
    return triangles[signed_areas(dst_points[triangles]) * signed_areas(src_points[triangles]) <= 0]


def folds(dst_points: np.ndarray, src_points: np.ndarray) -> bool:
    """Whether a piecewise-affine map from `dst_points` to `src_points` turns any triangle over
    (similarity transforms never do)."""
    return len(folded_triangles(dst_points, src_points)) > 0


def unfolding(dst_points: np.ndarray, src_points: np.ndarray, first: np.ndarray, fixed: int) -> np.ndarray:
    """Indices of the points to keep so that the map from `dst_points` to `src_points` turns no
    triangle over: the point in the most folded triangles is left out, again and again, those in
    `first` before the others when as many, those from index `fixed` on never (on a turned head, the
    far side's outline points cross the nose's)."""
    keep = np.arange(len(dst_points))
    preference = np.zeros(len(dst_points))
    preference[first] = 0.5
    preference[fixed:] = -np.inf
    while len(keep) > 3:
        folded = folded_triangles(dst_points[keep], src_points[keep])
        if not len(folded):
            break
        counts = np.bincount(keep[folded.ravel()], minlength=len(dst_points)) + preference
        keep = keep[keep != int(np.argmax(counts))]
    return keep


def piecewise_affine_maps(
    dst_points: np.ndarray, src_points: np.ndarray, width: int, height: int, step: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps so that output pixel (x, y) samples the source at the matching place.

    The output plane (width x height) is triangulated on `dst_points`; every triangle is mapped
    affinely onto the same triangle of `src_points`. `dst_points` must enclose the output area (add
    `border_anchors`). The map is evaluated on a grid every `step` pixels; its displacement from
    identity is interpolated to full size, so a zero displacement stays exactly zero.
    """
    # Grid points sit at the centres of step x step cells, with one extra cell beyond every edge so
    # that the edges are interpolated rather than clamped.
    grid_w, grid_h = -(-width // step) + 2, -(-height // step) + 2
    gx = (np.arange(-1, grid_w - 1, dtype=np.float32) + 0.5) * step - 0.5
    gy = (np.arange(-1, grid_h - 1, dtype=np.float32) + 0.5) * step - 0.5
    triangles = delaunay_triangles(dst_points)
    # Which triangle each grid point is in: rasterise the triangles on the grid (labels), then fill
    # the few points that fall between two rasterised edges from a neighbour.
    labels = np.full((grid_h, grid_w), -1, np.float32)  # float: OpenCV's dilate has no int32
    to_grid = (dst_points + 0.5) / step + 0.5  # grid coordinates (index of the cell centre)
    for index, triangle in enumerate(triangles):
        corners = np.round(to_grid[triangle] * 256).astype(np.int32)
        cv2.fillConvexPoly(labels, corners, index, lineType=cv2.LINE_8, shift=8)
    for _ in range(3):
        missing = labels < 0
        if not missing.any():
            break
        labels[missing] = cv2.dilate(labels, np.ones((3, 3), np.uint8))[missing]
    inside = labels >= 0
    labels = labels.astype(np.int64)
    # One affine per triangle: [x, y, 1] @ affine = source position.
    dst_h = np.concatenate([dst_points[triangles], np.ones((len(triangles), 3, 1), np.float32)], axis=2)
    affines = np.linalg.pinv(dst_h.astype(np.float64)) @ src_points[triangles].astype(np.float64)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1)
    chosen = affines[np.maximum(labels, 0)]  # (grid_h, grid_w, 3, 2)
    mapped = grid[..., 0:1] * chosen[..., 0, :] + grid[..., 1:2] * chosen[..., 1, :] + chosen[..., 2, :]
    displacement = np.where(inside[..., None], mapped - grid, 0.0).astype(np.float32)
    displacement = displacement.reshape(grid_h, grid_w, 2)
    full = cv2.resize(displacement, (grid_w * step, grid_h * step), interpolation=cv2.INTER_LINEAR)
    full = full[step : step + height, step : step + width]
    map_x = full[:, :, 0] + np.arange(width, dtype=np.float32)[None, :]
    map_y = full[:, :, 1] + np.arange(height, dtype=np.float32)[:, None]
    return map_x, map_y


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
