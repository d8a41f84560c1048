"""Colour and light transfer: the source takes the target face's colour (its highlights stay skin, not
grey-blue) and light, forehead included."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.colour import lighting_offset, match_colour
from fusion.faces import detect_faces
from fusion.geometry import fill_parts, with_forehead
from fusion.texture import face_regions


def _lab(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2LAB).astype(np.float64)


def test_a_highlight_under_an_orange_lamp_keeps_the_targets_skin_colour(astronaut: np.ndarray) -> None:
    face = detect_faces(astronaut)[0]
    points = face.landmarks
    # The same face under an orange lamp, with a lit nose bridge and cheek that took the lamp's
    # white sheen (far less saturated than the skin around them), as a side-lit source brings it.
    source = astronaut.astype(np.float32) * np.array([1.1, 0.78, 0.5], np.float32)
    x = int(points[27:31, 0].mean())
    top, bottom = int(points[27, 1]), int(points[30, 1])
    half = max(2, round(0.05 * face.size))
    sheen = (slice(top, bottom), slice(x - half, x + half))
    source[sheen] = 0.3 * source[sheen] + 0.7 * np.array([250.0, 236.0, 214.0], np.float32)
    source = np.clip(source, 0, 255).astype(np.uint8)

    matched = match_colour(source, astronaut, points, face.size)
    assert matched.shape == astronaut.shape and matched.dtype == np.uint8
    target_lab, matched_lab = _lab(astronaut), _lab(matched)
    # The skin takes the target's colour.
    skin_region, _ = face_regions(points, astronaut.shape[1], astronaut.shape[0], face.size)
    wanted = target_lab[skin_region][:, 1:].mean(axis=0)
    got = matched_lab[skin_region][:, 1:].mean(axis=0)
    assert np.abs(got - wanted).max() < 2.5, (got, wanted)
    # The sheen takes the colour the target's own face has at that lightness, on the skin's side of
    # neutral: shifting a and b by the mean difference made it grey-blue (a < 0).
    sheen_lab = matched_lab[sheen].reshape(-1, 3)
    lightness = sheen_lab[:, 0].mean()
    face_lab = target_lab[skin_region]
    alike = face_lab[np.abs(face_lab[:, 0] - lightness) < 10][:, 1:].mean(axis=0) - 128.0
    sheen_colour = sheen_lab[:, 1:].mean(axis=0) - 128.0
    assert np.abs(sheen_colour - alike).max() < 4.0, (sheen_colour, alike)
    skin = wanted - 128.0
    assert np.all(sheen_colour > 0.25 * skin), (sheen_colour, skin)


def test_the_target_onto_itself_is_unchanged(astronaut: np.ndarray) -> None:
    """Both faces' colour is measured the same way (mean, spread, highlights' curve): a face onto
    itself comes back as it was, up to 8-bit Lab rounding."""
    face = detect_faces(astronaut)[0]
    matched = match_colour(astronaut, astronaut, face.landmarks, face.size)
    skin, _ = face_regions(face.landmarks, astronaut.shape[1], astronaut.shape[0], face.size)
    change = np.abs(matched.astype(int) - astronaut.astype(int)).max(axis=2)
    assert change[skin].max() <= 3
    assert np.percentile(change, 99) <= 3


def test_a_shaded_forehead_shades_the_sources_forehead(astronaut: np.ndarray) -> None:
    """The target's forehead far darker than its cheeks (a hat brim's shadow): the source's
    forehead takes that light too, or the mask's upper edge shows a step (at the hairline, below a
    fringe)."""
    face = detect_faces(astronaut)[0]
    points = face.landmarks
    height, width = astronaut.shape[:2]
    forehead_top = with_forehead(points)[68:]
    brows = points[17:27]
    region = np.zeros((height, width), np.uint8)
    cv2.fillPoly(region, [np.round(np.vstack([brows, forehead_top[::-1]])).astype(np.int32)], 1)
    shade = 60.0 * cv2.GaussianBlur(region.astype(np.float32), (0, 0), 0.02 * face.size)
    target = np.clip(astronaut.astype(np.float32) - shade[:, :, None], 0, 255).astype(np.uint8)
    visible = np.ones((height, width), np.float32)
    offset = lighting_offset(target, astronaut, points, face.size, visible)
    x, y = np.round(0.5 * (brows.mean(axis=0) + forehead_top.mean(axis=0))).astype(int)
    assert float(offset[y, x].mean()) < -0.3 * float(shade[y, x]), (offset[y, x], shade[y, x])
    for index in (3, 13):  # the cheeks keep their light
        cx, cy = np.round((points[index] + points[30]) / 2).astype(int)
        assert abs(float(offset[cy, cx].mean())) < 6.0, (index, offset[cy, cx])


def test_the_targets_teeth_do_not_light_the_new_mouth(astronaut: np.ndarray) -> None:
    """Light is measured on skin: a target smiling with white teeth must not brighten the skin
    around the new face's mouth (nor its dark brows shade the new brows)."""
    face = detect_faces(astronaut)[0]
    points = face.landmarks
    target = astronaut.copy()
    lips = cv2.convexHull(points[48:60].astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(target, lips, (250, 250, 245))  # the whole mouth white: a wide, toothy smile
    visible = np.ones(astronaut.shape[:2], np.float32)
    offset = lighting_offset(target, astronaut, points, face.size, visible)
    for index in (48, 54, 51, 57):  # beside and above / below the mouth
        outward = points[index] - points[48:60].mean(axis=0)
        x, y = np.round(points[index] + 0.1 * face.size * outward / np.linalg.norm(outward)).astype(int)
        assert abs(float(offset[y, x].mean())) < 3.0, (index, offset[y, x])


def test_a_face_a_few_pixels_wide_is_still_lit(astronaut: np.ndarray) -> None:
    """So small that its eyes, brows and mouth cover all its skin: the light is measured on the
    whole inner face rather than nowhere."""
    face = detect_faces(astronaut)[0]
    scale = 5.0 / face.size  # a face 5 px across
    points = (face.landmarks - face.landmarks.min(axis=0)) * scale + 4.0
    target = np.full((16, 16, 3), 150, np.uint8)
    source = np.full((16, 16, 3), 100, np.uint8)
    offset = lighting_offset(target, source, points, 5.0, np.ones((16, 16), np.float32))
    x, y = np.round(points[30]).astype(int)
    assert np.allclose(offset[y, x], 50.0, atol=1.0), offset[y, x]


def test_eye_whites_of_a_warm_lit_source_do_not_turn_green(astronaut: np.ndarray) -> None:
    """A lamp tints grey things (eye whites, teeth) less than skin in Lab: shifted by the skin's
    colour difference onto a less warm target with blotchier skin, a warm-lit source's eye whites
    crossed neutral to green (a = -20 here). They must not turn green, and stay paler than the skin."""
    face = detect_faces(astronaut)[0]
    points = face.landmarks
    height, width = astronaut.shape[:2]
    lamp = np.array([1.1, 0.78, 0.5], np.float32)
    eyes = fill_parts(points, height, width, (list(range(36, 42)), list(range(42, 48)))) > 0
    lit = astronaut.astype(np.float32)
    lit[eyes] = np.array([140.0, 140.0, 136.0], np.float32)  # grey eye whites in the eyes' shade
    source = np.clip(lit * lamp, 0, 255).astype(np.uint8)
    # The target: the same face, its skin blotchier in colour (red and pale patches).
    rng = np.random.default_rng(0)
    blotch = cv2.GaussianBlur(
        rng.normal(0.0, 1.0, (height, width)).astype(np.float32), (0, 0), 0.04 * face.size
    )
    lab = _lab(astronaut)
    lab[..., 1] += 8.0 * blotch / blotch.std()
    target = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)

    matched = _lab(match_colour(source, target, points, face.size))
    whites = matched[eyes][:, 1:].mean(axis=0) - 128.0
    skin_region, _ = face_regions(points, width, height, face.size)
    skin = matched[skin_region][:, 1:].mean(axis=0) - 128.0
    assert np.all(whites >= 0.0) and np.all(whites < skin), (whites, skin)


def test_a_target_cool_past_neutral_gives_its_colour(astronaut: np.ndarray) -> None:
    """Source and target skin on opposite sides of neutral in b (a blue-lit target): the skin takes
    the target's colour; the floor that keeps pale things on the skin's side must not pin it at
    neutral."""
    face = detect_faces(astronaut)[0]
    lab = _lab(astronaut)
    lab[..., 2] -= 28.0  # the astronaut's skin b (about +18) becomes about -10
    target = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    matched = _lab(match_colour(astronaut, target, face.landmarks, face.size))
    skin, _ = face_regions(face.landmarks, astronaut.shape[1], astronaut.shape[0], face.size)
    wanted, got = _lab(target)[skin][:, 2].mean(), matched[skin][:, 2].mean()
    assert wanted < -3.0 + 128.0 and abs(got - wanted) < 2.5, (got, wanted)
