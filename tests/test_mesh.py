"""The face mesh as a surface (fusion.mesh): its triangles, which way they face, the depth-ordered
raster, and the mirror weights a turned source is drawn with."""

from __future__ import annotations

import numpy as np
import pytest

from fusion import FusionOptions, mesh
from fusion.engines import shape
from fusion.engines.base import FaceRequest
from fusion.engines.classic import _target_raster, mirror_weights
from fusion.engines.shape import layout, shape_offset, target_mesh_points
from fusion.faces import Face, detect_faces
from fusion.geometry import turn
from fusion.mediapipe_faces import MESH_HALF, MESH_MIRROR, landmarks_68


@pytest.fixture(scope="module")
def meshed(astronaut: np.ndarray, group: np.ndarray) -> tuple[Face, Face]:
    """A frontal face (the astronaut) and a head in profile (the group's most turned face), meshed."""
    frontal = detect_faces(astronaut)[0]
    faces = detect_faces(group)
    profile = faces[int(np.argmin([turn(face.landmarks) for face in faces]))]
    if frontal.mesh is None or profile.mesh is None:
        pytest.skip("MediaPipe's face mesh is not installed: faces come without a mesh")
    return frontal, profile


def test_triangles_cover_every_point_and_mirror_onto_themselves() -> None:
    triangles = mesh.triangles()
    assert triangles.shape == (898, 3)
    assert set(triangles.ravel().tolist()) == set(range(468))
    as_sets = {frozenset(t) for t in triangles.tolist()}
    mirrored = {frozenset(MESH_MIRROR[t].tolist()) for t in triangles}
    assert mirrored == as_sets  # the canonical model is left-right symmetric


def test_a_frontal_face_faces_the_camera(meshed: tuple[Face, Face]) -> None:
    frontal, _ = meshed
    cosines = mesh.facing(frontal.mesh)
    assert (cosines > 0).mean() > 0.9
    assert np.median(cosines) > 0.5


def test_raster_maps_each_pixel_back_to_itself(meshed: tuple[Face, Face]) -> None:
    frontal, _ = meshed
    points = frontal.mesh[:, :2] - frontal.mesh[:, :2].min(axis=0) + 2
    width, height = (np.ceil(points.max(axis=0)) + 3).astype(int)
    raster = mesh.rasterise(points, frontal.mesh[:, 2], int(width), int(height))
    assert raster.inside.mean() > 0.5
    ys, xs = np.nonzero(raster.inside)
    mapped = raster.interpolate(points)  # barycentric coordinates of the mesh's own positions
    error = np.abs(mapped - np.stack([xs, ys], axis=1)).max(axis=1)
    # Exact inside the triangles; a pixel on a rasterised edge snaps onto its triangle (thin ones
    # along the eyelids move it along the edge).
    assert np.median(error) < 1e-3 and np.percentile(error, 99) < 1.0, np.percentile(error, [50, 99])
    plane = raster.image(np.ones(468), outside=-1.0)
    np.testing.assert_allclose(plane[raster.inside], 1.0, atol=1e-5)
    assert (plane[~raster.inside] == -1.0).all()


def test_raster_draws_the_nearest_triangle_on_top(meshed: tuple[Face, Face]) -> None:
    """A head in profile: where the nose covers the far cheek, the pixel shows the nose."""
    _, profile = meshed
    points = profile.mesh[:, :2] - profile.mesh[:, :2].min(axis=0) + 2
    width, height = (np.ceil(points.max(axis=0)) + 3).astype(int)
    depth = profile.mesh[:, 2]
    raster = mesh.rasterise(points, depth, int(width), int(height))
    triangles = mesh.triangles()
    corners = points[triangles].astype(np.float64)
    homogeneous = np.concatenate([corners, np.ones((len(triangles), 3, 1))], axis=2)
    inverse = np.linalg.pinv(homogeneous)
    mean_depth = depth[triangles].mean(axis=1)
    ys, xs = np.nonzero(raster.inside)
    overlapped = 0
    for index in np.linspace(0, len(xs) - 1, 400).astype(int):
        pixel = np.array([xs[index], ys[index], 1.0])
        weights = np.einsum("i,tij->tj", pixel, inverse)
        covering = np.flatnonzero(weights.min(axis=1) > 0.02)
        if len(covering) > 1:
            overlapped += 1
            assert mean_depth[raster.labels[index]] <= mean_depth[covering].min() + 1e-3
    assert overlapped > 5  # the profile really overlaps itself


def test_visibility_sees_the_near_side_of_a_turned_head(meshed: tuple[Face, Face]) -> None:
    frontal, profile = meshed
    halves = MESH_HALF[mesh.triangles()].mean(axis=1)
    first, second = halves < 0.5, halves > 0.5
    seen = mesh.visibility(frontal.mesh)
    assert 0.8 < np.median(seen[first]) / np.median(seen[second]) < 1.25
    seen = mesh.visibility(profile.mesh)
    # The profile turns the side of the 68-point jaw's first points away (its turn is below -0.6).
    assert np.median(seen[first]) < 0.5 * np.median(seen[second])


def test_mirror_weights_fill_only_a_turned_sources_far_side(
    meshed: tuple[Face, Face], astronaut: np.ndarray, group: np.ndarray
) -> None:
    frontal, profile = meshed
    frontal_mirror, profile_mirror = frontal.mirrored(astronaut.shape[1]), profile.mirrored(group.shape[1])
    assert mirror_weights(frontal.mesh, frontal_mirror.mesh, (1.0, 1.0)).max() < 0.1
    weights = mirror_weights(profile.mesh, profile_mirror.mesh, (1.0, 1.0))
    assert np.median(weights[MESH_HALF == 0.0]) > 0.5  # the far side, from the mirror image
    assert np.median(weights[MESH_HALF == 1.0]) < 0.05  # the near side, its own
    # Only on the halves the target shows better (mirror_share): none when it is turned alike.
    assert mirror_weights(profile.mesh, profile_mirror.mesh, (0.0, 0.0)).max() == 0.0
    half = mirror_weights(profile.mesh, profile_mirror.mesh, (0.5, 1.0))
    np.testing.assert_allclose(half[MESH_HALF == 0.0], 0.5 * weights[MESH_HALF == 0.0], atol=1e-9)


def test_only_pairs_with_a_turned_face_are_drawn_on_the_mesh(
    meshed: tuple[Face, Face], astronaut: np.ndarray, group: np.ndarray
) -> None:
    frontal, profile = meshed
    options = FusionOptions()
    size = (astronaut.shape[1], astronaut.shape[0])
    turned = FaceRequest(group, profile, astronaut, frontal, options)
    raster = _target_raster(turned, (0, 0), size, keep_mouth=False)
    assert raster is not None
    # The mesh lands on the target's face: its covered pixels lie around the target's landmarks.
    ys, xs = np.nonzero(raster.inside)
    centre = np.array([xs.mean(), ys.mean()])
    assert np.linalg.norm(centre - frontal.landmarks[[27, 30, 33]].mean(axis=0)) < 0.15 * frontal.size
    # A profile target too; two frontal faces keep the landmark map.
    profile_target = FaceRequest(astronaut, frontal, group, profile, options)
    assert (
        _target_raster(profile_target, (0, 0), (group.shape[1], group.shape[0]), keep_mouth=False) is not None
    )
    group_frontal = min(detect_faces(group), key=lambda face: abs(turn(face.landmarks)))
    both_frontal = FaceRequest(astronaut, frontal, group, group_frontal, options)
    assert _target_raster(both_frontal, (0, 0), (group.shape[1], group.shape[0]), keep_mouth=False) is None


def test_the_targets_own_mouth_keeps_its_mesh_points_in_place(
    meshed: tuple[Face, Face], group: np.ndarray
) -> None:
    """mouth="target" on the mesh path: the lips' points stay, as the landmarks there do."""
    frontal, profile = meshed
    request = FaceRequest(group, profile, group, frontal, FusionOptions())  # (photos unused here)
    moved = target_mesh_points(request, keep_mouth=False)
    kept = target_mesh_points(request, keep_mouth=True)
    assert moved is not None and kept is not None and frontal.mesh is not None
    lips = np.array([61, 291, 0, 17, 13, 14])  # mouth corners, lip middles (MediaPipe numbering)
    np.testing.assert_allclose(kept[lips], frontal.mesh[lips, :2], atol=1e-4)
    assert np.abs(moved[lips] - frontal.mesh[lips, :2]).max() > 1.0  # they would move otherwise
    far = (
        np.linalg.norm(frontal.mesh[:, :2] - frontal.landmarks[48:60].mean(axis=0), axis=1)
        > 0.4 * frontal.size
    )
    np.testing.assert_allclose(kept[far], moved[far], atol=1e-4)  # away from the mouth, as before


def test_a_turn_in_depth_is_pose_not_shape(
    meshed: tuple[Face, Face], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same face turned 70 degrees in depth has the same shape: the shape offset (the morph
    toward the source) is nil once the source's mesh is posed like the target's in 3-D; a 2-D fit
    reads the turn as shape and moves the target's points by most of a tenth of a face."""
    frontal, _ = meshed
    assert frontal.mesh is not None
    angle = np.radians(70.0)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    centre = frontal.mesh.mean(axis=0)
    turned_mesh = ((frontal.mesh - centre) @ rotation.T * 0.7 + centre + [40.0, -10.0, 0.0]).astype(
        np.float32
    )
    turned = Face(frontal.box, landmarks_68(turned_mesh), turned_mesh)
    assert abs(turn(turned.landmarks) - turn(frontal.landmarks)) > shape.POSE_DEPTH[1]
    moves = np.linalg.norm(shape_offset(turned, frontal, layout), axis=1) / frontal.size
    assert np.median(moves) < 0.005, np.median(moves)
    monkeypatch.setattr(shape, "POSE_DEPTH", (2.0, 3.0))  # never in depth: the 2-D fit alone
    moves_2d = np.linalg.norm(shape_offset(turned, frontal, layout), axis=1) / frontal.size
    assert np.median(moves_2d) > 0.03, np.median(moves_2d)
