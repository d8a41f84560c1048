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
GAIN_RANGE = (0.3, 2.5)  # how far the face's own detail layer is scaled down or up
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


def detail_energy(image: np.ndarray, skin: np.ndarray) -> float:
    """Mean squared fine detail of `image` on `skin` (0 when `skin` is empty)."""
    return _energy(_detail(image.astype(np.float32)), skin) if skin.any() else 0.0


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


def match_texture(face: np.ndarray, skin: np.ndarray, wanted: float) -> np.ndarray:
    """`face` (float32 RGB, the crop about to be composited) with fine-detail energy `wanted` on
    `skin` (`detail_energy` of the target's own skin, measured before any resampling)."""
    if skin.sum() < 64 or wanted <= 0:
        return face
    face_detail = _detail(face)
    if _energy(face_detail, skin) <= 1e-6:
        return face
    gain = float(np.clip(_gain_for(face_detail, skin, wanted), *GAIN_RANGE))
    matched = face + (gain - 1.0) * face_detail
    missing = wanted - _energy(_detail(matched), skin)
    if missing > 0.05:  # still softer than the target: add grain (lightness only) for the rest
        noise = np.random.default_rng(GRAIN_SEED).standard_normal(face.shape[:2]).astype(np.float32)
        grain = _detail(cv2.GaussianBlur(noise, (0, 0), 0.6))
        grain *= np.sqrt(missing / max(_energy(_detail(grain), skin), 1e-9))
        matched += grain[:, :, None]
    return matched
