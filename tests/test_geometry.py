"""Landmark geometry: alignment and piecewise-affine maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion.geometry import apply_affine, similarity_transform, with_forehead
from fusion.warp import (
    border_anchors,
    folds,
    piecewise_affine_maps,
    smooth_maps,
    thin_plate_spline,
    unfolding,
)


def _points(n: int = 30, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 180, (n, 2)).astype(np.float32)


def test_similarity_recovers_a_known_transform() -> None:
    angle, scale = np.deg2rad(17), 1.3
    truth = np.array(
        [
            [scale * np.cos(angle), -scale * np.sin(angle), 12],
            [scale * np.sin(angle), scale * np.cos(angle), -7],
        ]
    )
    src = _points()
    found = similarity_transform(src, apply_affine(truth, src))
    np.testing.assert_allclose(found, truth, atol=1e-3)


def test_similarity_in_3d_recovers_a_turn_in_depth_and_never_mirrors() -> None:
    """Mesh points (x, y, z): a rotation about any axis, a scale and a shift come back as a 3x4
    matrix; a mirrored cloud is fitted with a proper rotation (determinant +1), never a reflection."""
    rng = np.random.default_rng(3)
    src = rng.uniform(-50, 50, (40, 3))
    yaw, pitch = np.deg2rad(60), np.deg2rad(-15)
    turn_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    turn_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    truth = np.hstack([0.7 * turn_x @ turn_y, [[5.0], [-3.0], [9.0]]])
    found = similarity_transform(src, apply_affine(truth, src))
    assert found.shape == (3, 4)
    np.testing.assert_allclose(found, truth, atol=1e-4)
    mirrored = similarity_transform(src, src * np.array([-1.0, 1.0, 1.0]))
    assert np.linalg.det(mirrored[:, :3]) > 0


def test_forehead_points_sit_above_the_brows() -> None:
    landmarks = np.zeros((68, 2), np.float32)
    landmarks[:, 0] = np.linspace(0, 100, 68)
    landmarks[:, 1] = 100
    landmarks[17:27, 1] = 40  # brows
    landmarks[8] = (50, 160)  # chin
    points = with_forehead(landmarks)
    assert points.shape == (78, 2)
    assert (points[68:, 1] < 40).all()


def test_identity_map_is_exact() -> None:
    width, height = 120, 90
    points = np.vstack([_points(20) * 0.5, border_anchors(width, height)])
    map_x, map_y = piecewise_affine_maps(points, points, width, height)
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR)
    np.testing.assert_array_equal(warped, image)


def test_map_follows_a_global_affine() -> None:
    width, height = 160, 120
    dst = np.vstack([_points(25) * 0.7, border_anchors(width, height)])
    affine = np.array([[0.9, 0.1, 5.0], [-0.05, 1.1, -3.0]])
    src = apply_affine(affine, dst)
    map_x, map_y = piecewise_affine_maps(dst, src, width, height)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    expected = apply_affine(affine, np.stack([xs.ravel(), ys.ravel()], 1))
    np.testing.assert_allclose(map_x.ravel(), expected[:, 0], atol=0.05)
    np.testing.assert_allclose(map_y.ravel(), expected[:, 1], atol=0.05)


def test_landmarks_land_where_asked() -> None:
    width, height = 200, 200
    dst = np.vstack([_points(15, seed=4), border_anchors(width, height)])
    src = dst + np.random.default_rng(5).normal(0, 3, dst.shape).astype(np.float32)
    src[15:] = dst[15:]
    map_x, map_y = piecewise_affine_maps(dst, src, width, height, step=1)
    for (x, y), (sx, sy) in zip(dst[:15], src[:15], strict=True):
        xi, yi = int(round(x)), int(round(y))
        assert abs(map_x[yi, xi] - (sx + xi - x)) < 1.0
        assert abs(map_y[yi, xi] - (sy + yi - y)) < 1.0


def _jaw_moved_out(shift: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """A jaw-like arc of points (src) and the same with its right half moved out (dst)."""
    angles = np.linspace(0, np.pi, 17)
    src = np.c_[150 + 60 * np.cos(angles), 100 + 70 * np.sin(angles)].astype(np.float32)
    dst = src.copy()
    dst[:, 0] += np.where(src[:, 0] > 150, shift, 0.0)
    return dst, src


def test_smooth_map_moves_points_and_nothing_beyond_its_reach() -> None:
    width, height, reach = 300, 260, 60.0
    dst, src = _jaw_moved_out()
    map_x, map_y = smooth_maps(dst, src, width, height, reach)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for (x, y), (sx, sy) in zip(dst, src, strict=True):  # each point samples where it came from
        xi, yi = int(round(x)), int(round(y))
        assert abs(map_x[yi, xi] - (sx + xi - x)) < 1.0
        assert abs(map_y[yi, xi] - (sy + yi - y)) < 1.0
    moved = np.hypot(map_x - xs, map_y - ys) > 0
    outside = np.ones((height, width), np.uint8)
    cv2.fillConvexPoly(outside, np.round(cv2.convexHull(np.vstack([dst, src]))).astype(np.int32), 0)
    beyond = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    assert moved.any() and beyond[moved].max() <= reach + 1.0  # nothing farther than `reach` moves
    assert not moved[[0, -1]].any() and not moved[:, [0, -1]].any()  # the plane's edge stays
    still_x, still_y = smooth_maps(src, src, width, height, reach)
    np.testing.assert_array_equal(still_x, np.broadcast_to(xs, still_x.shape))
    np.testing.assert_array_equal(still_y, np.broadcast_to(ys, still_y.shape))


def test_smooth_map_bends_lines_beside_the_points_without_kinks() -> None:
    """Beside the moved points a straight line (a hair strand) bends gently: the displacement's
    second difference stays small, where the piecewise-affine map kinks at its triangles' edges."""
    width, height = 300, 260
    dst, src = _jaw_moved_out()
    outside = np.ones((height, width), np.uint8)
    cv2.fillConvexPoly(outside, np.round(cv2.convexHull(np.vstack([dst, src]))).astype(np.int32), 0)
    outside = cv2.erode(outside, np.ones((9, 9), np.uint8)).astype(bool)

    def bend(map_x: np.ndarray, map_y: np.ndarray) -> float:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        worst = 0.0
        for shift in (map_x - xs, map_y - ys):
            down, across = np.abs(np.diff(shift, 2, axis=0)), np.abs(np.diff(shift, 2, axis=1))
            worst = max(worst, float(down[outside[1:-1]].max()), float(across[outside[:, 1:-1]].max()))
        return worst

    anchors = border_anchors(width, height)
    kinked = bend(
        *piecewise_affine_maps(np.vstack([dst, anchors]), np.vstack([src, anchors]), width, height, 1)
    )
    smooth = bend(*smooth_maps(dst, src, width, height, 60.0))
    assert smooth < 0.3 < kinked


def test_smooth_map_survives_two_points_meeting_with_different_moves() -> None:
    """A closed mouth's inner and outer lip points can land on one spot, each from elsewhere: the
    exact spline fit is singular there (it sent a whole crop to the far reaches of the photo)."""
    width, height = 200, 210
    dst, src = _jaw_moved_out(8.0)
    dst, src = (
        np.vstack([dst, [[120.0, 120.0], [120.0, 120.0]]]),
        np.vstack([src, [[118.0, 117.0], [118.0, 121.0]]]),
    )
    for gap in (0.0, 0.01):
        dst[-1, 0] = 120.0 + gap
        map_x, map_y = smooth_maps(dst, src, width, height, 45.0)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        moves = np.hypot(map_x - xs, map_y - ys)
        assert (
            np.isfinite(moves).all() and moves.max() < 2 * np.linalg.norm(src - dst, axis=1).max()
        )  # exact fit: 1e13


def _fold(map_x: np.ndarray, map_y: np.ndarray) -> float:
    """The smallest Jacobian determinant of a remap: at or below 0 the map turns the picture over."""
    return float(
        (
            np.gradient(map_x, axis=1) * np.gradient(map_y, axis=0)
            - np.gradient(map_x, axis=0) * np.gradient(map_y, axis=1)
        ).min()
    )


def test_smooth_map_survives_points_a_fraction_of_a_pixel_apart() -> None:
    """Points 0.1-0.9 px apart with moves 6 px apart (a closed mouth's lips) are merged: the fit
    does not swing between them and turn the picture over."""
    width, height = 200, 210
    dst, src = _jaw_moved_out(8.0)
    for gap in (0.1, 0.3, 0.5, 0.9):
        near_dst = np.vstack([dst, [[120.0, 120.0], [120.0 + gap, 120.0]]])
        near_src = np.vstack([src, [[118.0, 117.0], [118.0, 123.0]]])
        map_x, map_y = smooth_maps(near_dst, near_src, width, height, 45.0)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        assert _fold(map_x, map_y) > 0.2
        assert (
            np.hypot(map_x - xs, map_y - ys).max() <= np.linalg.norm(near_src - near_dst, axis=1).max() + 0.5
        )


def test_smooth_map_moves_nothing_more_than_the_points_beside_it() -> None:
    """A jaw moving out 12 px with the cheek just inside it moving 4 px: a spline carries that steep
    change on past the jaw (the hair beside it moved ~1.7x the jaw on a real pair); the map caps
    it at the nearby points' moves."""
    width, height = 300, 260
    jaw_dst, jaw_src = _jaw_moved_out(12.0)
    cheek_src = 150 + (jaw_src - 150) * 0.93
    cheek_dst = cheek_src + (jaw_dst - jaw_src) / 3.0
    dst, src = np.vstack([jaw_dst, cheek_dst]), np.vstack([jaw_src, cheek_src])
    map_x, map_y = smooth_maps(dst, src, width, height, 60.0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    assert np.hypot(map_x - xs, map_y - ys).max() <= 12.0 + 0.25
    assert _fold(map_x, map_y) > 0.1


def test_smooth_map_does_not_squeeze_a_face_against_the_photos_edge() -> None:
    """A face at the photo's edge gets a crop cut there: the move of a chin 6 px from the edge is
    not squeezed toward zero by the edge (it landed 6 px from where asked)."""
    angles = np.linspace(0, np.pi, 17)
    src = np.c_[150 + 60 * np.cos(angles), 150 + 70 * np.sin(angles)].astype(np.float32)
    dst = src.copy()
    dst[:, 1] += np.where(src[:, 1] > 200, 6.0, 0.0)
    width, height = 300, 232
    map_x, map_y = smooth_maps(dst, src, width, height, 60.0)
    x, y = np.round(dst[8]).astype(int)
    assert abs(map_y[y, x] - (src[8, 1] + y - dst[8, 1])) < 2.0
    assert _fold(map_x, map_y) > 0.5


def test_thin_plate_spline_matches_scipy() -> None:
    """The written-out spline is scipy's RBFInterpolator(kernel="thin_plate_spline") (scipy comes
    with the test extras only: the default install does without it)."""
    interpolate = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(1)
    centres, values = rng.uniform(0, 5, (60, 2)), rng.normal(0, 3, (60, 2))
    queries = rng.uniform(-1, 6, (500, 2))
    for smoothing in (0.0, 1e-4):
        theirs = interpolate.RBFInterpolator(centres, values, kernel="thin_plate_spline", smoothing=smoothing)
        ours = thin_plate_spline(centres, values, smoothing)
        np.testing.assert_allclose(ours(queries), theirs(queries), atol=1e-8)
    exact = thin_plate_spline(centres, values, 0.0)
    np.testing.assert_allclose(exact(centres), values, atol=1e-8)  # through every point


def _grid_in_a_ring() -> tuple[np.ndarray, int]:
    """A 3 x 3 grid of points (first) inside a ring of 14 (from the returned index on)."""
    inner = [[x, y] for y in (40, 60, 80) for x in (40, 60, 80)]
    ring = [[x, y] for y in (0, 120) for x in range(0, 121, 30)] + [
        [x, y] for x in (0, 120) for y in (30, 60, 90)
    ]
    return np.array(inner + ring, np.float64), len(inner)


def test_unfolding_leaves_out_the_point_that_turns_triangles_over() -> None:
    dst, fixed = _grid_in_a_ring()
    src = dst.copy()
    src[4, 0] += 30.0  # the centre crosses its right-hand neighbour
    assert folds(dst, src)
    keep = unfolding(dst, src, np.array([], int), fixed)
    assert set(range(len(dst))) - set(keep) == {4} and not folds(dst[keep], src[keep])
    # A point from `fixed` on is never the one left out: the inner points in its way go instead.
    src = dst.copy()
    edge = fixed + int(np.flatnonzero((dst[fixed:] == [120, 60]).all(axis=1))[0])
    src[edge, 0] -= 70.0  # the ring's right-hand middle point moves in past the inner column
    keep = unfolding(dst, src, np.array([], int), fixed)
    assert edge in keep and set(range(fixed, len(dst))) <= set(keep) and not folds(dst[keep], src[keep])
