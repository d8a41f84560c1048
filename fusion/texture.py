"""Texture and grain matching: the pasted face gets the fine detail level of the skin it replaces.

A small or blurry source drawn large is softer than the target's skin; a crisp source in a soft
photo is harsher. The fine-detail energy (what a 1.5 px blur takes away: pores, grain, sensor
noise) is measured on skin only (cheeks, nose, chin: no eyes, brows or mouth, whose edges differ
between the two faces) and the face's detail layer is scaled to the target's level; when even the
largest scaling leaves it short, seeded grain makes up the rest, so a fusion is repeatable. The
eyes, brows and mouth move the same way as the skin, but only as far as the target's own features
are softer (or crisper) than them: smooth skin says little about how crisp a photo's features are
(a profile target with smooth skin and crisp eyes had its new face blurred).
The scaling is bounded: blurring a crisp face all the way down to a tiny blurry target's level
costs identity (measured: median distance 0.479 -> 0.501 on the benchmark's package pairs).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fusion.geometry import FEATURE_PARTS, fill_parts, grown_parts

DETAIL_SIGMA = 1.5  # px: the scale of "fine detail"
CALM_FADE = 2 * DETAIL_SIGMA  # px: how far beyond the features their own calming fades out
GAIN_RANGE = (0.3, 1.8)  # how far the face's own detail layer is scaled down or up
GRAIN_SEED = 20261123
SAMPLES = 100_000  # statistics are taken on at most about this many skin pixels (a regular grid)


def face_regions(
    points: np.ndarray, width: int, height: int, face_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """(skin, features), (h, w) bool each: the inner face (68-point hull shrunk 10%) without eyes,
    brows and mouth grown by 6% of a face; and those features grown by 2% (their edges: lids, lash
    lines, lip borders). Drawn where the face is ~128 px wide, then enlarged: the same shapes at any
    resolution."""
    factor = max(1.0, face_size / 128.0)
    size = (max(8, round(width / factor)), max(8, round(height / factor)))
    small = points / factor
    centre = small[[27, 30, 33]].mean(axis=0)
    inner = centre + (small[:68] - centre) * 0.9
    mask = fill_parts(inner, size[1], size[0], (list(range(68)),))
    grown = [
        grown_parts(small, size[1], size[0], FEATURE_PARTS, share * face_size / factor)
        for share in (0.06, 0.02)
    ]
    skin = ((mask > 0) & (grown[0] == 0)).astype(np.uint8)
    features = (grown[1] > 0).astype(np.uint8)
    return (
        cv2.resize(skin, (width, height), interpolation=cv2.INTER_NEAREST) > 0,
        cv2.resize(features, (width, height), interpolation=cv2.INTER_NEAREST) > 0,
    )


def measurable(mask: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """(h, w) bool: where `mask` (the composite's) holds, and a detail blur's reach away from
    `objects` (occluders.object_mask, on a smaller grid): the border of an object kept in front of the
    face (a glasses frame) is no skin detail, and would set the level the whole face is matched to."""
    height, width = mask.shape
    scale = width / objects.shape[1]  # output pixels per object-grid pixel
    reach = 2 * int(np.ceil(2 * DETAIL_SIGMA / scale)) + 1
    near = cv2.dilate(objects.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)))
    near = cv2.resize(near, (width, height), interpolation=cv2.INTER_NEAREST)
    return (mask > 0.5) & (near == 0)


def _grey_detail(image: np.ndarray) -> np.ndarray:
    """The fine detail of the image's lightness (grey), float32 (h, w)."""
    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY)
    return grey - cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA)


def _grid(skin: np.ndarray) -> tuple[slice, slice]:
    """A regular subgrid of the image holding about SAMPLES of the skin's pixels."""
    step = max(1, int(np.ceil(np.sqrt(skin.sum() / SAMPLES))))
    return slice(0, None, step), slice(0, None, step)


def _trimmed_energy(values: np.ndarray) -> float:
    """Mean square without the strongest 5%: a stray edge (a lash line, a nostril, an object's
    border) would otherwise rule it."""
    squares = values * values
    return float(np.mean(squares[squares <= np.percentile(squares, 95)]))


def _box(region: np.ndarray, reach: int) -> tuple[slice, slice] | None:
    """The bounding box of `region`'s set pixels grown by `reach` (a blur's), or None if empty:
    filtering only there is exact, and cheap on a crop thousands of pixels wide."""
    rows, columns = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
    if len(rows) == 0:
        return None
    return (
        slice(max(0, rows[0] - reach), rows[-1] + reach + 1),
        slice(max(0, columns[0] - reach), columns[-1] + reach + 1),
    )


def detail_energy(image: np.ndarray, skin: np.ndarray) -> float:
    """Mean squared fine detail of `image`'s lightness on `skin`, its strongest 5% left out (0 when
    `skin` is empty). Only the skin's bounding box is filtered."""
    box = _box(skin, 8)  # 8 px: the blur's reach
    if box is None:
        return 0.0
    detail, inside = _grey_detail(image[box]), skin[box]
    grid = _grid(inside)
    return _trimmed_energy(detail[grid][inside[grid]])


def _solve(level: Callable[[float], float], wanted: float, start: float, low: float, high: float) -> float:
    """x in [low, high] with level(x) ~ wanted, level increasing: a few secant steps from `start`."""
    x = float(np.clip(start, low, high))
    for _ in range(3):
        reached = level(x)
        if reached <= 1e-9 or abs(reached / wanted - 1) < 0.01:
            break
        x = float(np.clip(x * np.sqrt(wanted / reached), low, high))
    return x


def _near(region: np.ndarray) -> np.ndarray:
    """(h, w) float32: 1 on `region`, fading to 0 over CALM_FADE pixels beyond it (blurred within
    the region's box, grown by the blur's reach, only: the crop may be thousands of pixels wide)."""
    near = np.zeros(region.shape, np.float32)
    box = _box(region, int(np.ceil(4 * CALM_FADE)) + 1)
    if box is not None:
        blurred = cv2.GaussianBlur(region[box].astype(np.float32), (0, 0), CALM_FADE)
        near[box] = np.clip(2.0 * blurred, 0.0, 1.0)
    return near


def _feature_gain(
    detail: np.ndarray, features: np.ndarray, wanted: float, calming: bool
) -> tuple[float, np.ndarray]:
    """The gain that brings the detail on `features` toward `wanted`, only down (`calming`:
    GAIN_RANGE[0]..1) or only up (1..GAIN_RANGE[1]), and where it applies (_near the features);
    1 when they are already on that side of it. Features too small to measure (under 64 pixels)
    change with the skin: no weight of their own."""
    if features.sum() < 64:
        return 1.0, np.zeros(features.shape, np.float32)
    weight = _near(features)
    grid = _grid(features)
    inside = features[grid]
    d = detail[grid][inside]
    energy = _trimmed_energy(d)
    if wanted <= 0 or energy <= 1e-9 or (energy <= wanted if calming else energy >= wanted):
        return 1.0, weight
    layer = detail * weight
    dd = (layer - cv2.GaussianBlur(layer, (0, 0), DETAIL_SIGMA))[grid][inside]
    low, high = (GAIN_RANGE[0], 1.0) if calming else (1.0, GAIN_RANGE[1])
    start = float(np.sqrt(wanted / energy))
    return _solve(lambda g: _trimmed_energy(d + (g - 1.0) * dd), wanted, start, low, high), weight


def match_texture(
    face: np.ndarray, regions: tuple[np.ndarray, np.ndarray], wanted: tuple[float, float]
) -> np.ndarray:
    """`face` (float32 RGB, the crop about to be composited) with the fine-detail energy `wanted`
    (`detail_energy` of the target's own skin and features, measured before any resampling) on
    `regions` (face_regions: skin, features).

    Lightness only: scaling each channel's detail would also raise the colour noise. A face softer
    than wanted on the skin is sharpened (grain makes up what the largest gain leaves short), a
    crisper one calmed; its features move the same way, but only as far as the target's own
    features are crisper (softer) than them. A blur
    is linear, so the detail of face + w * (g - 1) * d is d + (g - 1) * detail(w * d) (w: where
    the gain applies): every gain tried is measured without filtering the image again."""
    skin, features = regions
    if skin.sum() < 64 or wanted[0] <= 0:
        return face
    detail = _grey_detail(face)
    grid = _grid(skin)
    on_skin = skin[grid]
    d = detail[grid][on_skin]
    if float(np.mean(d * d)) <= 1e-6:
        return face

    def on_the_skin(layer: np.ndarray) -> np.ndarray:
        return (layer - cv2.GaussianBlur(layer, (0, 0), DETAIL_SIGMA))[grid][on_skin]

    # The features by their own measure, the same way as the skin (calmed or sharpened) at most.
    calming = _trimmed_energy(d) > wanted[0]
    feature_gain, near_features = _feature_gain(detail, features, wanted[1], calming)
    features_change = None
    if feature_gain != 1.0:
        features_change = (feature_gain - 1.0) * detail * near_features
        d = d + on_the_skin(features_change)  # what the features' change leaves on the skin
    layer = detail * (1.0 - near_features)
    dd = on_the_skin(layer)
    gain = _solve(
        lambda g: _trimmed_energy(d + (g - 1.0) * dd),
        wanted[0],
        float(np.sqrt(wanted[0] / max(_trimmed_energy(d), 1e-9))),
        *GAIN_RANGE,
    )
    matched = face + ((gain - 1.0) * layer)[:, :, None]
    if features_change is not None:
        matched += features_change[:, :, None]
    reached_detail = d + (gain - 1.0) * dd
    reached = _trimmed_energy(reached_detail)
    if reached < 0.97 * wanted[0]:  # still softer than the target: seeded grain makes up the rest
        noise = np.random.default_rng(GRAIN_SEED).standard_normal(face.shape[:2], dtype=np.float32)
        grain = _grey_detail(cv2.GaussianBlur(noise, (0, 0), 0.6))
        measured = _grey_detail(grain)[grid][on_skin]
        scale = _solve(
            lambda k: _trimmed_energy(reached_detail + k * measured) - reached,
            wanted[0] - reached,
            float(np.sqrt((wanted[0] - reached) / max(_trimmed_energy(measured), 1e-9))),
            0.0,
            1e3,
        )
        matched += _within_range(matched, scale * grain)[:, :, None]
    return matched


def _within_range(face: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """`grain` (grey, added to all three channels) bounded per pixel so that no channel of `face`
    leaves 0..255: clipped channel by channel, grey grain turns into coloured specks."""
    lowest, highest = face.min(axis=2), face.max(axis=2)
    return np.clip(grain, np.minimum(0.0, -lowest), np.maximum(0.0, 255.0 - highest))
