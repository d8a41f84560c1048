"""Texture and grain matching: the pasted face gets the fine detail of the skin it replaces."""

from __future__ import annotations

import cv2
import numpy as np

from fusion import FusionOptions, fuse
from fusion.texture import detail_energy, face_regions, match_texture


def _skin(size: int = 160) -> np.ndarray:
    skin = np.zeros((size, size), bool)
    skin[30:130, 30:130] = True
    return skin


def _smooth_face(size: int = 160) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 120 + 40 * np.sin(xs / 23.0) * np.cos(ys / 31.0)
    return np.repeat(base[:, :, None], 3, axis=2)


def test_a_soft_face_gets_the_targets_grain_and_a_harsh_one_is_calmed() -> None:
    rng = np.random.default_rng(1)
    smooth = _smooth_face()
    skin = _skin()
    noisy_target = np.clip(smooth + rng.normal(0, 6, smooth.shape[:2])[:, :, None], 0, 255).astype(np.uint8)
    wanted = detail_energy(noisy_target, skin)
    none = np.zeros_like(skin)  # no features
    soft = match_texture(smooth.copy(), (skin, none), (wanted, 0.0))  # no detail of its own: grain is added
    assert abs(detail_energy(soft, skin) / wanted - 1) < 0.05
    assert np.array_equal(
        soft, match_texture(smooth.copy(), (skin, none), (wanted, 0.0))
    )  # seeded: repeatable
    harsh = smooth + rng.normal(0, 14, smooth.shape[:2])[:, :, None].astype(np.float32)
    calmed = match_texture(harsh, (skin, none), (wanted, 0.0))
    assert abs(detail_energy(calmed, skin) / wanted - 1) < 0.05
    # The coarse shading is left alone: only the fine detail changes.
    coarse = cv2.GaussianBlur(calmed, (0, 0), 6) - cv2.GaussianBlur(harsh, (0, 0), 6)
    assert np.abs(coarse[40:120, 40:120]).max() < 1.5


def test_calming_a_crisp_face_calms_its_features_only_to_the_targets_features() -> None:
    """A crisp source on a target with smooth skin: the skin is calmed to the target's level, and
    an eye, brow or mouth (`features`) only as far as the target's own features are softer: with
    crisp features on the target they keep their edges (calming them with the skin blurred the
    whole face on a profile target), with soft ones (a soft photo) they are calmed to that level."""
    rng = np.random.default_rng(2)
    skin = _skin()
    skin[64:96, 54:106] = False  # a feature (a dark bar with crisp edges) and its surround: not skin
    features = np.zeros((160, 160), bool)
    features[72:88, 62:98] = True
    harsh = _smooth_face() + rng.normal(0, 14, (160, 160))[:, :, None].astype(np.float32)
    harsh[75:85, 65:95] -= 80.0
    smooth_target = np.clip(_smooth_face() + rng.normal(0, 6, (160, 160))[:, :, None], 0, 255).astype(
        np.uint8
    )
    wanted_skin = detail_energy(smooth_target, skin)
    crisp_features = detail_energy(harsh, features)

    kept = match_texture(harsh.copy(), (skin, features), (wanted_skin, crisp_features))
    assert abs(detail_energy(kept, skin) / wanted_skin - 1) < 0.1
    inner = cv2.erode(features.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    np.testing.assert_allclose(kept[inner], harsh[inner], atol=0.5)  # the feature as it was

    soft_features = 0.3 * crisp_features
    calmed = match_texture(harsh.copy(), (skin, features), (wanted_skin, soft_features))
    assert abs(detail_energy(calmed, features) / soft_features - 1) < 0.15
    assert abs(detail_energy(calmed, skin) / wanted_skin - 1) < 0.1


def test_sharpening_a_soft_face_leaves_features_already_crisp_alone() -> None:
    """Soft skin on the source, crisp features: the skin is brought up to the target's level (gain
    and grain), the features only as far as the target's own are crisper than them."""
    rng = np.random.default_rng(4)
    skin = _skin()
    skin[64:96, 54:106] = False
    features = np.zeros((160, 160), bool)
    features[72:88, 62:98] = True
    face = _smooth_face() + rng.normal(0, 5, (160, 160))[:, :, None].astype(np.float32)  # 1.6x: no grain
    face[75:85, 65:95] -= 80.0
    noisy_target = np.clip(_smooth_face() + rng.normal(0, 8, (160, 160))[:, :, None], 0, 255).astype(np.uint8)
    wanted_skin = detail_energy(noisy_target, skin)
    own_features = detail_energy(face, features)
    kept = match_texture(face.copy(), (skin, features), (wanted_skin, 0.5 * own_features))
    assert abs(detail_energy(kept, skin) / wanted_skin - 1) < 0.1
    inner = cv2.erode(features.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    np.testing.assert_allclose(kept[inner], face[inner], atol=0.5)
    sharpened = match_texture(face.copy(), (skin, features), (wanted_skin, 1.5 * own_features))
    assert abs(detail_energy(sharpened, features) / (1.5 * own_features) - 1) < 0.15


def test_skin_leaves_out_eyes_brows_and_mouth_and_features_hold_them(astronaut: np.ndarray) -> None:
    result = fuse(astronaut, astronaut, FusionOptions(blend_ratio=1.0))
    face = result.target_faces[0]
    height, width = astronaut.shape[:2]
    skin, features = face_regions(face.landmarks, width, height, face.size)
    for index in (37, 44, 19, 24, 51, 57, 62):  # eyelids, brows, lips
        x, y = face.landmarks[index].round().astype(int)
        assert not skin[y, x] and features[y, x], index
    for index in (30, 2, 14):  # nose tip, cheeks (moved inward a little)
        x, y = (0.8 * face.landmarks[index] + 0.2 * face.landmarks[30]).round().astype(int)
        assert skin[y, x] and not features[y, x], index


def test_a_small_source_drawn_large_keeps_the_targets_crispness(
    astronaut: np.ndarray, group: np.ndarray
) -> None:
    """A ~100 px face from the group photo fused into the 512 px astronaut: without matching, the
    fine detail on those skin pixels falls to about half (measured ln ratio -0.61)."""
    result = fuse(group, astronaut, FusionOptions(blend_ratio=1.0))
    face = result.target_faces[0]
    height, width = astronaut.shape[:2]
    skin, _ = face_regions(face.landmarks, width, height, face.size)
    ours, theirs = detail_energy(result.image, skin), detail_energy(astronaut, skin)
    assert abs(np.log(ours / theirs)) < 0.3, (ours, theirs)


def test_grain_never_clips_a_bright_face_into_coloured_specks() -> None:
    """A face whose red channel is near 255 given strong grain: the change is grey and bounded per
    pixel, so no channel clips and every pixel keeps its hue (clipped channel by channel, the red
    stopped at 255 while green and blue rose: cyan-grey specks)."""
    skin = _skin()
    face = np.zeros((160, 160, 3), np.float32)
    face[:] = (245.0, 200.0, 170.0)
    rng = np.random.default_rng(4)
    face += rng.normal(0, 1, face.shape[:2]).astype(np.float32)[:, :, None]  # a little detail of its own
    noisy = np.clip(face + rng.normal(0, 15, face.shape[:2])[:, :, None], 0, 255).astype(np.uint8)
    wanted = detail_energy(noisy, skin)
    matched = match_texture(face.copy(), (skin, np.zeros_like(skin)), (wanted, 0.0))
    assert matched.min() >= 0.0 and matched.max() <= 255.0
    change = matched - face
    assert np.abs(change[:, :, 1] - change[:, :, 0]).max() < 1e-3  # grey: the same on every channel
    assert np.abs(change).max() > 5  # and there is grain
