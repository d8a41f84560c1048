"""The face mesh as a surface: MediaPipe's 898 triangles over its 468 points, which way each faces,
and a depth-ordered raster of them that maps every pixel of one face onto the same place of another.

A 2-D triangulation of landmarks has no notion of what is in front: on a turned head the far cheek
and the nose overlap, and a map built on it folds. Drawn triangle by triangle, nearest on top, a
pixel shows the part of the face that a camera sees there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fusion.warp import signed_areas

TRIANGLES_FILE = Path(__file__).with_name("data") / "face_mesh_triangles.txt"
_CHUNK = 1 << 18  # pixels per step of the barycentric solve (~40 MB of temporaries)


@functools.cache
def triangles() -> np.ndarray:
    """(898, 3) vertex indices of the mesh's triangles (the canonical face model's)."""
    table = np.loadtxt(TRIANGLES_FILE, dtype=np.int64, comments="#")
    table.flags.writeable = False  # shared by every caller
    return table


def facing(mesh: np.ndarray) -> np.ndarray:
    """(898,) cosine of the angle between each triangle's normal and the direction to the camera,
    from the mesh's x, y and z (MediaPipe's z grows away from the camera): 1 facing the camera,
    0 edge-on, below 0 turned away."""
    corners = [mesh[triangles()[:, k]].astype(np.float64) for k in range(3)]
    normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
    return -normal[:, 2] / np.maximum(np.linalg.norm(normal, axis=1), 1e-9)


def visibility(mesh: np.ndarray, side: int = 512) -> np.ndarray:
    """(898,) how well a camera sees each triangle, 0..1: `facing` times the share of its area no
    nearer triangle covers (the far cheek behind a turned head's nose), on a raster of the mesh
    `side` pixels across."""
    points = mesh[:, :2].astype(np.float64)
    low = points.min(axis=0)
    scale = (side - 2) / max(float((points.max(axis=0) - low).max()), 1e-6)
    placed = ((points - low) * scale + 1).astype(np.float32)
    plane, corners = _drawn(placed, mesh[:, 2], side, side)
    labels = plane[plane >= 0].astype(np.int64)
    area = np.abs(signed_areas(corners)) / 2
    seen = np.bincount(labels, minlength=len(area)) / np.maximum(area, 1.0)
    return np.clip(facing(mesh), 0.0, None) * np.clip(seen, 0.0, 1.0)


def per_vertex(values: np.ndarray) -> np.ndarray:
    """(468,) the mean of a per-triangle quantity over the triangles around each vertex."""
    total, count = np.zeros(468), np.zeros(468)
    for k in range(3):
        np.add.at(total, triangles()[:, k], values)
        np.add.at(count, triangles()[:, k], 1.0)
    return total / np.maximum(count, 1.0)


@dataclass(frozen=True)
class Raster:
    """Which triangle each pixel of a (height, width) plane shows, and where in it."""

    inside: np.ndarray  # (h, w) bool: pixels some triangle covers
    labels: np.ndarray  # (P,) triangle index of each covered pixel (row-major order)
    weights: np.ndarray  # (P, 3) float32 barycentric coordinates of each covered pixel

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """(P, ...) per-vertex `values` (468, ...) interpolated at every covered pixel."""
        corners = values[triangles()[self.labels]]  # (P, 3, ...)
        weights = self.weights.reshape(self.weights.shape + (1,) * (corners.ndim - 2))
        return (corners * weights).sum(axis=1)

    def image(self, values: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """(h, w, ...) float32 plane of per-vertex `values` (468, ...) interpolated; `outside` elsewhere."""
        inner = self.interpolate(values)
        plane = np.full(self.inside.shape + inner.shape[1:], outside, np.float32)
        plane[self.inside] = inner
        return plane


def _drawn(points: np.ndarray, depth: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(height, width) float32 plane of triangle indices (-1 where none), drawn far first so the
    near ones cover them (by mean `depth`, larger = farther), leaving out those turned away (drawn
    the other way round); and the (T, 3, 2) corners."""
    tris = triangles()
    corners = points[tris].astype(np.float64)
    shown = np.flatnonzero(signed_areas(corners) < -1e-6)  # below 0: faces the camera
    order = shown[np.argsort(-depth[tris[shown]].mean(axis=1), kind="stable")]
    plane = np.full((height, width), -1.0, np.float32)  # float: exact for indices this small
    fixed = np.round(corners * 256).astype(np.int32)
    for index in order:
        cv2.fillConvexPoly(plane, fixed[index], float(index), lineType=cv2.LINE_8, shift=8)
    return plane, corners


def rasterise(points: np.ndarray, depth: np.ndarray, width: int, height: int) -> Raster:
    """The mesh drawn at `points` (468, 2) on a (height, width) plane, nearest triangles on top
    (by `depth`, larger = farther), those turned away left out."""
    plane, corners = _drawn(points, depth, width, height)
    inside = plane >= 0
    labels = plane[inside].astype(np.int64)
    ys, xs = np.nonzero(inside)
    # Barycentric coordinates: [x, y, 1] = weights @ [[corner, 1] x 3], solved per triangle.
    homogeneous = np.concatenate([corners, np.ones((len(corners), 3, 1))], axis=2)
    drawn = np.unique(labels)
    inverse = np.zeros_like(homogeneous)
    inverse[drawn] = np.linalg.inv(homogeneous[drawn])
    weights = np.empty((len(labels), 3), np.float32)
    for start in range(0, len(labels), _CHUNK):  # a face thousands of pixels wide: bounded memory
        part = slice(start, start + _CHUNK)
        pixels = np.stack([xs[part], ys[part], np.ones_like(xs[part])], axis=1).astype(np.float64)
        found = np.einsum("pi,pij->pj", pixels, inverse[labels[part]])
        # Pixels on a triangle's rasterised edge can fall a hair outside it.
        found = np.clip(found, 0.0, None)
        weights[part] = found / np.maximum(found.sum(axis=1, keepdims=True), 1e-9)
    return Raster(inside, labels, weights)
