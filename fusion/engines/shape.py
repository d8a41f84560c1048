"""Where the fused face's points go: the target's points moved toward the source's face shape.

The shape is what is left once pose is taken out: a 2-D affine fit for faces turned alike, the
source's mesh posed like the target's in 3-D for faces turned apart. Capped, by the blend ratio, and
still on the far side of a profile target (its outline there lies along the nose, background beside).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fusion.engines.base import FaceRequest
from fusion.faces import Face
from fusion.geometry import apply_affine, near_side, similarity_transform, smoothstep, turn, with_forehead
from fusion.mediapipe_faces import landmarks_68

SHAPE_OFFSET_CAP = 0.08  # largest landmark move toward the source shape, in face sizes
# Mesh points inside the 68-point outline, both sides alike: cheeks, under the eyes, nose, chin.
INNER_MESH_POINTS = [
    *(50, 280, 205, 425, 187, 411, 123, 352, 116, 345, 147, 376, 192, 416, 213, 433),
    *(230, 450, 118, 347, 101, 330, 36, 266),
    *(6, 195, 1, 129, 358, 48, 278),
    *(199, 175, 201, 421, 208, 428),
]


def mesh_points(face: Face) -> np.ndarray:
    assert face.mesh is not None
    return face.mesh[:, :2]


def layout(face: Face, dense: bool = False) -> np.ndarray:
    """The points the engine works with: 68 landmarks, 10 forehead points, and (`dense`) the
    mesh's inner points."""
    points = with_forehead(face.landmarks)
    if dense and face.mesh is not None:
        return np.vstack([points, face.mesh[INNER_MESH_POINTS, :2]]).astype(np.float32)
    return points


def capped(offset: np.ndarray, face_size: float) -> np.ndarray:
    """`offset` (N, 2) with each move at most SHAPE_OFFSET_CAP face sizes long: beyond that it is
    pose or expression, and following it tears the target's ears, hair or collar."""
    length = np.linalg.norm(offset, axis=1, keepdims=True)
    cap = SHAPE_OFFSET_CAP * face_size
    return (offset * np.minimum(1.0, cap / np.maximum(length, 1e-6))).astype(np.float32)


POSE_DEPTH = (0.5, 0.9)  # turn difference (geometry.turn) from which shape is measured in 3-D .. fully


def posed_source(source_face: Face, target_face: Face) -> Face | None:
    """The source face with its mesh turned, scaled and moved onto the target's in 3-D (least
    squares), or None without both meshes."""
    if source_face.mesh is None or target_face.mesh is None:
        return None
    matrix = similarity_transform(source_face.mesh.astype(np.float64), target_face.mesh.astype(np.float64))
    mesh = apply_affine(matrix, source_face.mesh)
    x0, y0 = np.floor(mesh[:, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil(mesh[:, :2].max(axis=0)).astype(int)
    return Face((int(x0), int(y0), int(x1), int(y1)), landmarks_68(mesh), mesh)


def shape_offset(source_face: Face, target_face: Face, points_of: Callable[[Face], np.ndarray]) -> np.ndarray:
    """How far each of the target's points (`points_of`) must move to take the source's face shape.

    The source's points are aligned with a full 2-D affine fit, which absorbs some pose (a turned
    head is a narrower face) but not a turn in depth: a profile's nose and far side then read as
    shape, and the target's face is pulled toward the profile. So when the two faces are turned
    apart (POSE_DEPTH) and both have a mesh, the source's mesh is posed like the target's in 3-D
    instead, and what still differs is shape. (For faces turned alike the 2-D fit keeps more
    likeness on the benchmark: median 0.415 vs 0.451 with the 3-D fit for every pair.) The two are
    not the same measure: the affine fit absorbs a difference in face width or length, the 3-D
    similarity keeps it as shape; between the POSE_DEPTH ends they are mixed, within the cap.
    """
    target_points = points_of(target_face)
    source_points = points_of(source_face)
    design = np.hstack([source_points, np.ones((len(source_points), 1), np.float32)])
    solution, *_ = np.linalg.lstsq(design, target_points, rcond=None)
    offset = design @ solution - target_points
    depth = float(smoothstep(abs(turn(source_face.landmarks) - turn(target_face.landmarks)), *POSE_DEPTH))
    posed = posed_source(source_face, target_face) if depth > 0.0 else None
    if posed is not None:
        offset += depth * (points_of(posed) - target_points - offset)
    return capped(offset, target_face.size)


MESH_TURN = 0.5  # a turn (geometry.turn) of either face past which the source is drawn on the mesh


def target_mesh_points(request: FaceRequest, keep_mouth: bool) -> np.ndarray | None:
    """(468, 2) where the target's mesh points go, in frame coordinates: toward the source's shape
    as the landmarks are (capped, by the blend ratio, a profile's far side still), when both faces
    have a mesh and either is turned past MESH_TURN; None otherwise. With `keep_mouth` the
    points on the target's lips and the mask's hole around them stay, as the landmarks there do."""
    _, source_face, _, target_face, options = request.unpack()
    if source_face.mesh is None or target_face.mesh is None:
        return None
    if max(abs(turn(source_face.landmarks)), abs(turn(target_face.landmarks))) <= MESH_TURN:
        return None
    points = target_face.mesh[:, :2]
    offset = shape_offset(source_face, target_face, mesh_points)
    still = near_side(target_face.landmarks, points, target_face.size, at_midline=0.5)
    if keep_mouth:  # still within the hole's reach, moving fully from twice as far
        lips = cv2.convexHull(target_face.landmarks[48:60].astype(np.float32))
        grow = 0.04 * target_face.size
        inside = np.array([cv2.pointPolygonTest(lips, (float(x), float(y)), True) for x, y in points])
        still = still * np.clip((-inside - grow) / grow, 0.0, 1.0)
    return (points + options.blend_ratio * offset * still[:, None]).astype(np.float32)
