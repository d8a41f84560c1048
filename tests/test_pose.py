"""Turned heads: mirrored landmarks, how far a head is turned, fold-free maps, the mirror fill and
whose eyes (gaze) the result shows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion import FusionOptions, InvalidOptions, fuse
from fusion.engines.classic import keeps_target_part, mirror_share
from fusion.faces import detect_faces
from fusion.geometry import (
    MIRROR_68,
    face_size,
    fill_parts,
    near_side,
    near_side_image,
    side_distance,
    side_weight,
    turn,
)
from fusion.warp import folds, unfolding


def test_mirror_table_swaps_sides_and_is_its_own_inverse() -> None:
    assert sorted(MIRROR_68) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    assert MIRROR_68[0] == 16 and MIRROR_68[36] == 45 and MIRROR_68[48] == 54  # jaw, eye, mouth corners
    assert all(MIRROR_68[i] == i for i in (8, 27, 30, 33, 51, 57, 62, 66))  # the midline stays


def test_mirrored_face_is_the_face_found_in_the_flipped_photo(astronaut: np.ndarray) -> None:
    face = detect_faces(astronaut)[0]
    flipped = cv2.flip(astronaut, 1)
    found = detect_faces(flipped)[0]
    mirrored = face.mirrored(astronaut.shape[1])
    error = np.linalg.norm(mirrored.landmarks - found.landmarks, axis=1).mean() / face.size
    assert error < 0.03, error
    if face.mesh is not None and found.mesh is not None:
        mesh_error = np.linalg.norm(mirrored.mesh[:, :2] - found.mesh[:, :2], axis=1).mean() / face.size
        assert mesh_error < 0.03, mesh_error
    back = mirrored.mirrored(astronaut.shape[1])
    np.testing.assert_allclose(back.landmarks, face.landmarks, atol=1e-3)
    assert back.box == face.box


def test_turn_tells_a_frontal_face_from_a_turned_one(astronaut: np.ndarray, group: np.ndarray) -> None:
    frontal = detect_faces(astronaut)[0]
    assert abs(turn(frontal.landmarks)) < 0.15
    turns = [turn(face.landmarks) for face in detect_faces(group)]
    assert min(turns) < -0.6  # the group photo has a head in profile, turned toward the image's left
    profile = detect_faces(group)[int(np.argmin(turns))]
    mirrored = profile.mirrored(group.shape[1])
    assert turn(mirrored.landmarks) > 0.6  # the same head in the mirror turns the other way


@pytest.fixture(scope="module")
def poses(astronaut: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The landmarks of a frontal face (the astronaut) and of a head in profile (the group's most
    turned face)."""
    faces = detect_faces(group)
    profile = faces[int(np.argmin([turn(face.landmarks) for face in faces]))].landmarks
    return detect_faces(astronaut)[0].landmarks, profile


def test_mirror_fill_only_for_a_source_turned_past_the_target(poses: tuple[np.ndarray, np.ndarray]) -> None:
    frontal, profile = poses
    # A profile source on a frontal target: its turned-away side (that of points 0..3) is filled.
    left, right = mirror_share(profile, frontal)
    assert left == 1.0 and right == 0.0
    # The other way round, or two frontal faces, or two faces turned alike: nothing to fill.
    assert mirror_share(frontal, profile) == (0.0, 0.0)
    assert mirror_share(frontal, frontal) == (0.0, 0.0)
    assert mirror_share(profile, profile) == (0.0, 0.0)


def test_unfolding_leaves_out_the_point_that_crosses_its_neighbours() -> None:
    ys, xs = np.mgrid[0:5, 0:5]
    dst = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) * 20
    src = dst.copy()
    src[12] = dst[13] + (15, 0)  # the centre point jumps past its right-hand neighbour
    assert folds(dst, src)
    fixed = 20  # the last row stands for a crop's anchors: never left out
    keep = unfolding(dst, src, np.arange(0, 10), fixed)
    assert 12 not in keep
    assert set(range(fixed, 25)) <= set(keep.tolist())
    assert not folds(dst[keep], src[keep])
    assert len(keep) >= 22  # only what folds is left out
    # Nothing folds: every point is kept.
    np.testing.assert_array_equal(unfolding(dst, dst * 1.1, np.arange(5), fixed), np.arange(25))


def test_side_weight_is_one_on_the_side_of_the_first_jaw_points(astronaut: np.ndarray) -> None:
    landmarks = detect_faces(astronaut)[0].landmarks
    height, width = astronaut.shape[:2]
    side = side_weight(landmarks, width, height, 4.0)
    for index, expected in ((1, 1.0), (15, 0.0), (36, 1.0), (45, 0.0)):
        x, y = np.round(landmarks[index]).astype(int)
        assert side[y, x] == expected, index
    x, y = np.round(landmarks[27]).astype(int)
    assert 0.0 < side[y, x] < 1.0  # the step runs down the nose


def test_near_side_leaves_out_only_a_profiles_far_side(poses: tuple[np.ndarray, np.ndarray]) -> None:
    frontal, profile = poses
    # A frontal face: every place counts, on either side of the nose.
    np.testing.assert_array_equal(near_side(frontal, frontal, face_size(frontal)), np.ones(68))
    assert abs(turn(frontal)) < 0.3  # well short of TURNED_AWAY, and the profile well past it
    # The profile turns the side of points 0..3 away; its mirror image the other side.
    mirrored = (np.array([2000.0, 0.0]) + np.array([-1.0, 1.0]) * profile[MIRROR_68]).astype(np.float32)
    for points, near_jaw, far_brow in (
        (profile, [12, 13, 14, 15, 16], [17, 18]),
        (mirrored, [0, 1, 2, 3, 4], [25, 26]),
    ):
        size = face_size(points)
        weight = near_side(points, points, size)
        assert weight[far_brow].max() == 0.0 and weight[near_jaw].min() == 1.0
        # Across the midline (the line fitted through nose and chin) the weight runs from 0 to 1
        # over a twentieth of a face, `at_midline` on the line itself.
        centre = points[[27, 28, 29, 30, 33, 51, 57, 8]].mean(axis=0)
        across = side_distance(points, centre + np.eye(2, dtype=np.float32)) - side_distance(
            points, centre[None]
        )
        toward_near = across * np.sign(float((points[near_jaw].mean(axis=0) - centre) @ across))
        steps = np.array([-0.025, -0.0125, 0.0, 0.0125, 0.025])[:, None] * size
        np.testing.assert_allclose(
            near_side(points, centre + steps * toward_near, size, at_midline=0.5),
            [0.0, 0.25, 0.5, 0.75, 1.0],
            atol=1e-3,
        )
    # Over a plane's pixels: the same values as at those places, (h, w); all ones for a frontal face.
    grid = np.stack(np.meshgrid(np.arange(40.0), np.arange(30.0)), axis=-1).astype(np.float32) * 10
    size = face_size(profile)
    np.testing.assert_array_equal(near_side_image(profile, (40, 30), size), near_side(profile, grid, size))
    assert near_side_image(profile, (40, 30), size).min() == 0.0  # the far side is on this plane
    np.testing.assert_array_equal(near_side_image(frontal, (4, 3), face_size(frontal)), np.ones((3, 4)))


def test_auto_keeps_the_target_eyes_and_nose_only_where_the_source_is_mirrored(
    poses: tuple[np.ndarray, np.ndarray],
) -> None:
    frontal, profile = poses
    assert keeps_target_part("auto", profile, frontal)  # a profile source: one side is mirrored
    # A frontal source on a profile target looks at the camera from a turned head, as people do.
    assert not keeps_target_part("auto", frontal, profile)
    assert not keeps_target_part("auto", frontal, frontal)
    assert keeps_target_part("target", frontal, frontal)
    assert not keeps_target_part("source", profile, frontal)


def test_target_eyes_show_the_targets_own_eyes(astronaut: np.ndarray) -> None:
    """The astronaut fused into herself, her eyes painted green in the source: with the target's
    eyes the green stays out, with the source's it comes along."""
    landmarks = detect_faces(astronaut)[0].landmarks
    openings = fill_parts(landmarks, *astronaut.shape[:2], (list(range(36, 42)), list(range(42, 48))))
    painted = astronaut.copy()
    painted[openings.astype(bool)] = (0, 200, 0)
    inside = cv2.erode(openings, np.ones((3, 3), np.uint8)).astype(bool)

    def green(eyes: str) -> float:
        image = fuse(painted, astronaut, FusionOptions(eyes=eyes)).image  # type: ignore[arg-type]
        pixels = image[inside].astype(int)
        return float((pixels[:, 1] - np.maximum(pixels[:, 0], pixels[:, 2])).mean())  # toned down by
        # the colour transfer, but green

    assert green("source") > 15
    assert green("target") < 0
    assert green("auto") == green("source")  # the same pose: auto keeps the source's eyes


def test_a_wrong_eyes_choice_is_one_clear_message() -> None:
    with pytest.raises(InvalidOptions, match="eyes='blue' is not one of auto, source, target"):
        FusionOptions(eyes="blue")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptions, match="nose='roman' is not one of auto, source, target"):
        FusionOptions(nose="roman")  # type: ignore[arg-type]


def _lightness(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[:, :, 0].astype(float)


def test_target_nose_shows_the_targets_own_nose(astronaut: np.ndarray) -> None:
    """The astronaut fused into herself, her nose darkened in the source (the same hue, so that the
    skin check lets it through): with the target's nose the dark stays out, with the source's it
    comes along."""
    landmarks = detect_faces(astronaut)[0].landmarks
    nose = fill_parts(landmarks, *astronaut.shape[:2], (list(range(27, 36)),))
    darkened = astronaut.copy()
    darkened[nose.astype(bool)] = (darkened[nose.astype(bool)] * 0.6).astype(np.uint8)
    inside = cv2.erode(nose, np.ones((5, 5), np.uint8)).astype(bool)

    def darker(choice: str) -> float:
        image = fuse(darkened, astronaut, FusionOptions(nose=choice)).image  # type: ignore[arg-type]
        return float((_lightness(astronaut) - _lightness(image))[inside].mean())

    pasted = darker("source")
    assert pasted > 20
    assert abs(darker("target")) < 0.25 * pasted  # 49 -> 7 levels: the hole's feathered edge
    assert darker("auto") == pasted  # the same pose: auto keeps the source's nose


def test_a_profile_source_gets_the_targets_nose_by_default(group: np.ndarray, astronaut: np.ndarray) -> None:
    """Group face 4 is a profile: its nose, drawn onto a frontal face, left a dark mark between the
    brows (and a pale line down the ridge, side-on nostrils). By default the target's nose shows."""
    faces = detect_faces(group, thorough=True)
    profile = max(range(len(faces)), key=lambda i: abs(turn(faces[i].landmarks)))
    landmarks = detect_faces(astronaut)[0].landmarks
    assert keeps_target_part("auto", faces[profile].landmarks, landmarks)

    def fused(choice: str) -> np.ndarray:
        options = FusionOptions(source_face=profile, nose=choice)  # type: ignore[arg-type]
        return fuse(group, astronaut, options).image

    default, source = fused("auto"), fused("source")
    np.testing.assert_array_equal(default, fused("target"))
    between_brows = fill_parts(landmarks, *astronaut.shape[:2], ([21, 22, 27],)).astype(bool)
    own = _lightness(astronaut)[between_brows].mean()
    assert abs(_lightness(default)[between_brows].mean() - own) < 15  # 11 levels darker
    assert _lightness(source)[between_brows].mean() < own - 30  # 40 levels darker: the mark
