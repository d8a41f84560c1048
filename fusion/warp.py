"""Warps between two point sets: Delaunay triangles, fold checks and piecewise-affine remap maps."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fusion.geometry import smoothstep


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


SPLINE_SMOOTHING = 1e-4  # see smooth_maps: points land within ~0.1 px of where asked


def _thin_plate_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """r^2 ln r between every point of `a` (N, 2) and of `b` (M, 2): (N, M), 0 where they meet."""
    squared = np.maximum((a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T), 0.0)
    return 0.5 * squared * np.log(np.maximum(squared, 1e-300))


def thin_plate_spline(
    centres: np.ndarray, values: np.ndarray, smoothing: float
) -> Callable[[np.ndarray], np.ndarray]:
    """The thin-plate spline through `values` (N, k) at `centres` (N, 2), relaxed by `smoothing`
    (added to the kernel's diagonal, as scipy's RBFInterpolator does): a function of (M, 2) points.
    Written out (one small linear solve) rather than imported: scipy.interpolate's import costs
    ~0.35 s of a cold command-line run, more than half of it."""
    count = len(centres)
    polynomial = np.hstack([np.ones((count, 1)), centres])
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = _thin_plate_kernel(centres, centres) + smoothing * np.eye(count)
    system[:count, count:] = polynomial
    system[count:, :count] = polynomial.T
    solution = np.linalg.solve(system, np.vstack([values, np.zeros((3, values.shape[1]))]))
    weights, affine = solution[:count], solution[count:]

    def evaluate(points: np.ndarray) -> np.ndarray:
        return (
            _thin_plate_kernel(points, centres) @ weights
            + np.hstack([np.ones((len(points), 1)), points]) @ affine
        )

    return evaluate


MERGE_WITHIN = 1.0  # pixels: see merged_points


def merged_points(
    dst_points: np.ndarray, src_points: np.ndarray, within: float
) -> tuple[np.ndarray, np.ndarray]:
    """The point pairs with those whose `dst_points` lie within `within` of each other merged into
    one (the mean of each side). Two points on one spot with different moves (a closed mouth's
    inner and outer lip) ask a smooth map to tear: its fit swings wildly between them."""
    gaps = np.linalg.norm(dst_points[:, None] - dst_points[None], axis=2)
    left = np.ones(len(dst_points), bool)
    merged_dst, merged_src = [], []
    for index in range(len(dst_points)):
        if left[index]:
            group = left & (gaps[index] < within)
            left &= ~group
            merged_dst.append(dst_points[group].mean(axis=0))
            merged_src.append(src_points[group].mean(axis=0))
    return np.array(merged_dst).reshape(-1, 2), np.array(merged_src).reshape(-1, 2)


def smooth_maps(
    dst_points: np.ndarray, src_points: np.ndarray, width: int, height: int, reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps that move what is at `src_points` to `dst_points` smoothly: a thin-plate spline
    through the point pairs (points within MERGE_WITHIN merged) and the plane's border_anchors
    (thin_plate_spline), its displacement faded to zero over `reach` pixels beyond the hull of
    both point sets, and nowhere larger than the moves of the points near it.

    Unlike piecewise_affine_maps it has no triangle edges for straight lines (hair, a collar) to
    bend at, and pixels farther than `reach` from the points stay exactly where they are.
    """
    dst_points, src_points = merged_points(
        dst_points.astype(np.float64), src_points.astype(np.float64), MERGE_WITHIN
    )
    step = max(4, round(reach / 10))
    grid_w, grid_h = -(-width // step) + 2, -(-height // step) + 2
    gx = (np.arange(-1, grid_w - 1, dtype=np.float64) + 0.5) * step - 0.5
    gy = (np.arange(-1, grid_h - 1, dtype=np.float64) + 0.5) * step - 0.5
    # The plane's edge held still in the fit too (border_anchors): the spline bends back toward
    # zero rather than carrying the face's move out to the edge.
    anchors = border_anchors(width, height).astype(np.float64)
    fixed, moved = np.vstack([dst_points, anchors]), np.vstack([src_points, anchors])
    # In units of `reach`, with a little smoothing (the same at any resolution): points that
    # nearly meet with different moves would make the exact fit nearly singular.
    spline = thin_plate_spline(fixed / reach, moved - fixed, SPLINE_SMOOTHING)
    hull = cv2.convexHull(np.vstack([dst_points, src_points]).astype(np.float32)).reshape(-1, 2)
    inside = np.zeros((grid_h, grid_w), np.uint8)
    cv2.fillConvexPoly(inside, np.round(((hull + 0.5) / step + 0.5) * 16).astype(np.int32), 1, shift=4)
    beyond = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) * step
    # Zero from two grid steps short of `reach`: the grid's interpolation carries it a step farther.
    # (No fade at the plane's edge: where the face is not at the photo's edge, the edge is `reach`
    # away; where it is, a fade there squeezes the face's move against it.)
    fade = 1.0 - smoothstep(beyond, 0.0, max(step, reach - 2 * step))
    # The spline evaluated only where the fade leaves something of it.
    moving = fade > 0.0
    grid = np.stack(np.meshgrid(gx, gy), axis=-1)[moving]
    shift = spline(grid / reach)
    # A spline carries a steep change of move (the jaw moving out, the cheek inside it not) on past
    # the last point: nothing moves more than the points near it (their move, in full within a
    # quarter of `reach`, falling to zero at `reach`).
    near = 1.0 - smoothstep(np.linalg.norm(grid[:, None] - dst_points[None], axis=2), reach / 4, reach)
    limit = (np.linalg.norm(src_points - dst_points, axis=1)[None] * near).max(axis=1)
    length = np.linalg.norm(shift, axis=1)
    shift *= (np.minimum(length, limit) / np.maximum(length, 1e-9))[:, None]
    displacement = np.zeros((grid_h, grid_w, 2), np.float32)
    displacement[moving] = shift * fade[moving][:, None]
    full = cv2.resize(displacement, (grid_w * step, grid_h * step), interpolation=cv2.INTER_LINEAR)
    full = full[step : step + height, step : step + width]
    map_x = full[:, :, 0] + np.arange(width, dtype=np.float32)[None, :]
    map_y = full[:, :, 1] + np.arange(height, dtype=np.float32)[:, None]
    return map_x, map_y
