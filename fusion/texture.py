"""Texture and grain matching: the pasted face gets the fine detail level of the skin it replaces.

A small or blurry source drawn large is softer than the target's skin; a crisp source in a soft
photo is harsher. The fine-detail energy (what a 1.5 px blur takes away: pores, grain, sensor
noise) is measured on skin only (cheeks, nose, chin: no eyes, brows or mouth, whose edges differ
between the two faces) and the face's detail layer is scaled to the target's level; when even the
largest scaling leaves it short, seeded grain makes up the rest, so a fusion is repeatable. The
scaling is bounded: blurring a crisp face all the way down to a tiny blurry target's level costs
identity (measured: median distance 0.479 -> 0.501 on the benchmark's package pairs).
"""

from __future__ import annotations

import cv2
import numpy as np

DETAIL_SIGMA = 1.5  # px: the scale of "fine detail"
GAIN_RANGE = (0.3, 1.8)  # how far the face's own detail layer is scaled down or up
GRAIN_SEED = 20261123
_FEATURES = (list(range(17, 22)), list(range(22, 27)), list(range(36, 42)), list(range(42, 48)))
_MOUTH = list(range(48, 60))


def skin_region(points: np.ndarray, width: int, height: int, face_size: float) -> np.ndarray:
    """(h, w) bool: the inner face (68-point hull shrunk 10%) without eyes, brows and mouth."""
    centre = points[[27, 30, 33]].mean(axis=0)
    inner = centre + (points[:68] - centre) * 0.9
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(inner.astype(np.float32)).astype(np.int32), 1)
    features = np.zeros_like(mask)
    for part in (*_FEATURES, _MOUTH):
        cv2.fillConvexPoly(features, cv2.convexHull(points[part].astype(np.float32)).astype(np.int32), 1)
    grow = max(3, 2 * round(0.06 * face_size) + 1)
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    return (mask > 0) & (features == 0)


def _detail(image: np.ndarray) -> np.ndarray:
    return image - cv2.GaussianBlur(image, (0, 0), DETAIL_SIGMA)


def _grey(image: np.ndarray) -> np.ndarray:
    return image.mean(axis=2) if image.ndim == 3 else image


def _energy(detail: np.ndarray, skin: np.ndarray) -> float:
    return float(np.mean(_grey(detail)[skin] ** 2))


def _quiet(detail: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """`skin` without its strongest 5% of detail: a stray edge (a lash line, a nostril, an object's
    border) would otherwise rule a mean of squares."""
    values = np.abs(_grey(detail))
    return skin & (values <= np.percentile(values[skin], 95))


def detail_energy(image: np.ndarray, skin: np.ndarray) -> float:
    """Mean squared fine detail of `image` on `skin`, its strongest 5% left out (0 when `skin` is
    empty)."""
    if not skin.any():
        return 0.0
    detail = _detail(image.astype(np.float32))
    return _energy(detail, _quiet(detail, skin))


def _gain_for(face_detail: np.ndarray, skin: np.ndarray, wanted: float) -> float:
    """g with energy(detail(face + (g - 1) * detail(face))) = wanted: the blur does not take all of
    a detail layer away again, so the energy is a quadratic in g (solved, not guessed)."""
    d = _grey(face_detail)[skin]
    dd = _grey(_detail(face_detail))[skin]
    a, b, c = float(np.mean(dd * dd)), 2.0 * float(np.mean(d * dd)), float(np.mean(d * d))
    discriminant = b * b - 4.0 * a * (c - wanted)
    if a <= 1e-9 or discriminant < 0:
        return float(np.sqrt(wanted / c))
    return 1.0 + (-b + float(np.sqrt(discriminant))) / (2.0 * a)


def _level(face: np.ndarray, skin: np.ndarray) -> float:
    detail = _grey(_detail(face))
    return _energy(detail, _quiet(detail, skin))


def match_texture(face: np.ndarray, skin: np.ndarray, wanted: float) -> np.ndarray:
    """`face` (float32 RGB, the crop about to be composited) with fine-detail energy `wanted` on
    `skin` (`detail_energy` of the target's own skin, measured before any resampling)."""
    if skin.sum() < 64 or wanted <= 0:
        return face
    # Lightness detail only: scaling each channel's would also raise the colour noise.
    face_detail = _grey(_detail(face))
    if _energy(face_detail, skin) <= 1e-6:
        return face
    gain = float(np.clip(_gain_for(face_detail, _quiet(face_detail, skin), wanted), *GAIN_RANGE))
    for _ in range(2):  # the strongest 5% left out of the measure move with the gain: correct
        reached = _level(face + (gain - 1.0) * face_detail[:, :, None], skin)
        gain = float(np.clip(gain * np.sqrt(wanted / max(reached, 1e-9)), *GAIN_RANGE))
    matched = face + (gain - 1.0) * face_detail[:, :, None]
    reached = _level(matched, skin)
    if reached < 0.97 * wanted:  # still softer than the target: grain (lightness only) for the rest
        noise = np.random.default_rng(GRAIN_SEED).standard_normal(face.shape[:2]).astype(np.float32)
        grain = _detail(cv2.GaussianBlur(noise, (0, 0), 0.6))
        # Independent detail adds in variance: grain for the missing part, then two corrections.
        scale = float(np.sqrt((wanted - reached) / max(_level(grain, skin), 1e-9)))
        for _ in range(2):
            level = _level(matched + scale * grain[:, :, None], skin)
            scale *= float(np.sqrt((wanted - reached) / max(level - reached, 1e-9)))
        matched = matched + scale * grain[:, :, None]
    return matched
