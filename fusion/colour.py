"""Colour and light transfer: the warped source takes the target face's colour, shading and
highlights (measured where the face mask holds, so an object over either face is not counted).

Smooth fields are computed on a small copy of the crop and enlarged, like the masks (fusion/blend.py).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from fusion.blend import masked_blur, small_size
from fusion.geometry import FEATURE_PARTS, grown_parts, near_side_image, with_forehead
from fusion.geometry import face_size as size_of_face

FEATURE_GROW = 0.03  # face sizes: eyes, brows and mouth grown by this are left out of the light
LIGHTING_SPREAD = 30.0  # how far (in levels) the lighting offset may stray from its median

_lab_once = threading.Lock()  # taken by the first call and never released: a run-once guard


def prepare_lab_in_background() -> None:
    """OpenCV builds its sRGB <-> Lab tables on the first Lab conversion in a process (~0.1 s, a
    fifth of a cold command-line run). Start that now on another thread (OpenCV releases the GIL),
    so it overlaps decoding and face finding; the first call is made once per process."""
    if _lab_once.acquire(blocking=False):
        tiny = np.zeros((1, 1, 3), np.uint8)
        # Not a daemon: a process ending while OpenCV is mid-build would abort; this one waits for it.
        threading.Thread(target=cv2.cvtColor, args=(tiny, cv2.COLOR_RGB2LAB), daemon=False).start()


WORK_FACE = 96.0  # px: the face's size on the small copy the colour and light are measured on


def _work_scale(crop: np.ndarray, face_size: float) -> tuple[float, tuple[int, int]]:
    """(factor, (w, h)): how much the crop is shrunk for the measurements, and its small size."""
    factor = max(1.0, face_size / WORK_FACE)
    return factor, small_size(crop.shape[1], crop.shape[0], factor)


def _inner_face_weight(
    points: np.ndarray,
    size: tuple[int, int],
    factor: float,
    visible: np.ndarray | None = None,
    forehead: bool = False,
    skin_only: bool = False,
) -> np.ndarray:
    """(h, w) float32 of the inner face (jaw to brows, or with `forehead` to the forehead's top,
    shrunk 15%) on a crop shrunk by `factor`; with `visible` (the full-size face mask), only where
    the face mask holds (no occlusions: a fringe on either face is left out); with `skin_only`,
    without the eyes, brows and mouth (grown by FEATURE_GROW)."""
    inner = points[:68]
    centre = inner[[30, 33, 27]].mean(axis=0)
    if forehead:
        inner = with_forehead(inner)
    hull = cv2.convexHull(((centre + (inner - centre) * 0.85) / factor).astype(np.float32)).astype(np.int32)
    weight = np.zeros((size[1], size[0]), np.float32)
    cv2.fillConvexPoly(weight, hull, 1.0)
    weight *= near_side_image(points / factor, size, size_of_face(points[:68]) / factor) > 0.5
    if skin_only:
        reach = FEATURE_GROW * size_of_face(points[:68]) / factor
        skin = weight * (grown_parts(points[:68] / factor, size[1], size[0], FEATURE_PARTS, reach) == 0)
        if skin.any():  # a face a few pixels wide is all features at this scale: keep them
            weight = skin
    if visible is not None:
        weight *= cv2.resize(visible, size, interpolation=cv2.INTER_AREA) > 0.5
    return weight


SPREAD_RANGE = (0.6, 1.5)  # how far the source's spread of lightness may be scaled
# ... and of colour about its curve: calmed, never widened (widening it up to 1.5x pushed a warm-lit
# source's eye whites past neutral to green on a less warm target)
COLOUR_RANGE = (0.6, 1.0)
PALE_FLOOR = 0.5  # see match_colour: what is paler than the skin keeps this share of its colour at least
CURVE_SIGMA = 12.0  # Lab lightness levels (of 255): the smoothing of the highlights' colour curve
CURVE_SUPPORT = 0.02  # the share of the face's pixels a lightness level needs within CURVE_SIGMA


def _highlight_colour(lab: np.ndarray) -> np.ndarray:
    """Lab pixels (n, 3) uint8 -> (256, 2): the face's mean colour (a, b) at each lightness from
    its average up (a kernel regression over the levels with enough pixels near them), held flat
    beyond: below the average (shadows, features) at its value at the first such level."""
    lightness = lab[:, 0].astype(np.intp)
    count = np.bincount(lightness, minlength=256).astype(np.float64)
    count = cv2.GaussianBlur(count[None], (0, 0), CURVE_SIGMA)[0]
    # a blurred histogram: about (pixels within CURVE_SIGMA) / (2.5 CURVE_SIGMA) at each level
    trusted = count >= CURVE_SUPPORT * len(lab) / (2.5 * CURVE_SIGMA)
    known = np.flatnonzero(trusted & (np.arange(256) >= lightness.mean()))
    if len(known) == 0:
        return np.broadcast_to(lab[:, 1:].mean(axis=0), (256, 2)).astype(np.float64)
    curves = np.empty((256, 2))
    for channel in (0, 1):
        sums = np.bincount(lightness, weights=lab[:, 1 + channel].astype(np.float64), minlength=256)
        mean = cv2.GaussianBlur(sums[None], (0, 0), CURVE_SIGMA)[0] / np.maximum(count, 1e-9)
        curves[:, channel] = np.interp(np.arange(256), known, mean[known])
    return curves


def match_colour(
    source_crop: np.ndarray,
    target_crop: np.ndarray,
    points: np.ndarray,
    face_size: float,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """The source crop with the target face's Lab lightness mean and spread and its colour
    (measured on the inner face), highlights included.

    A highlight is less saturated than the skin around it, and under a coloured lamp much less:
    shifting a and b by the mean difference pushed a lit nose bridge or cheek past neutral to
    grey-blue. So each face's colour is measured against its own curve of colour on lightness
    (_highlight_colour: the highlights' curve, flat below the face's average), and the source's
    variation about its curve, rescaled to the target's, is put on the target's curve at the new
    lightness: a highlight takes the target's highlight colour, and a face onto itself comes back
    unchanged. The spread ratios are bounded so a harshly lit source is calmed but never
    flattened, and the colour's spread is never widened; what is paler than the skin stays on the
    skin's side of neutral where the target's skin is on it too (a warm-lit source's eye whites
    turned green). Lookup tables on 8-bit Lab (colours far outside skin's can clip), so it costs
    almost nothing at any size.
    """
    factor, size = _work_scale(source_crop, face_size)
    weight = _inner_face_weight(points, size, factor, visible) > 0
    if not weight.any():
        return source_crop
    src_px = cv2.cvtColor(cv2.resize(source_crop, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)[
        weight
    ]
    tgt_px = cv2.cvtColor(cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)[
        weight
    ]
    src_lab, tgt_lab = src_px.astype(np.float64), tgt_px.astype(np.float64)
    ratio = np.clip(max(tgt_lab[:, 0].std(), 1.0) / max(src_lab[:, 0].std(), 1.0), *SPREAD_RANGE)
    levels = np.arange(256, dtype=np.float64)
    new_lightness = np.clip((levels - src_lab[:, 0].mean()) * ratio + tgt_lab[:, 0].mean() + 0.5, 0, 255)
    new_lightness = new_lightness.astype(np.uint8)  # the lightness table: level -> new level
    source_colour = _highlight_colour(src_px)  # (256, 2): what the source's colour is measured against
    source_at, target_colour = source_colour[src_px[:, 0]], _highlight_colour(tgt_px)
    target_at = target_colour[tgt_px[:, 0]]  # each pixel's curve value
    variation, target_variation = src_lab[:, 1:] - source_at, tgt_lab[:, 1:] - target_at
    scale = np.clip(
        np.maximum(target_variation.std(axis=0), 1.0) / np.maximum(variation.std(axis=0), 1.0), *COLOUR_RANGE
    )
    # What lies on the skin's side of neutral stays there (eye whites, teeth, grey stubble): a lamp
    # tints them less than the skin in Lab, and shifted like the skin a warm-lit source's eye whites
    # crossed neutral to green on a less warm target. Their distance from neutral stays at least
    # PALE_FLOOR x (target skin / source skin, about neutral) x itself. The ratio's cap keeps a
    # nearly grey source's colours from being blown up; where the two skins lie on opposite sides
    # of neutral (or the target is grey) there is no floor.
    source_skin, target_skin = source_at.mean(axis=0) - 128.0, target_at.mean(axis=0) - 128.0
    away = np.where(source_skin >= 0, 1.0, -1.0)  # which side of neutral the source's skin lies on
    floor = PALE_FLOOR * np.clip(target_skin * away / np.maximum(np.abs(source_skin), 1.0), 0.0, 1.5)
    target_colour = target_colour[new_lightness]
    lightness, a, b = cv2.split(cv2.cvtColor(source_crop, cv2.COLOR_RGB2LAB))
    channels = [cv2.LUT(lightness, new_lightness)]
    for channel, values in enumerate((a, b)):
        # c' = scale (c - source colour(L)) + target colour, about neutral (128) to fit in 8 bits:
        # c' = scale (c - 128) + 128 + offset(L)
        offset = target_colour[:, channel] - 128.0 - scale[channel] * (source_colour[:, channel] - 128.0)
        table = np.clip(offset + 128.5, 0, 255).astype(np.uint8)
        gamma = -128.0 * float(scale[channel])
        shifted = cv2.addWeighted(values, float(scale[channel]), cv2.LUT(lightness, table), 1.0, gamma)
        if floor[channel] <= 0.0:
            channels.append(shifted)
            continue
        # The floor on the skin's side of neutral, continued past neutral at twice the distance (a
        # step at neutral would split a noisy grey patch into neutral and green specks).
        side = (levels - 128.0) * away[channel] >= 0
        pale = np.clip(128.0 + np.where(side, floor[channel], 2.0) * (levels - 128.0) + 0.5, 0, 255)
        pale = cv2.LUT(values, pale.astype(np.uint8))
        channels.append(cv2.max(shifted, pale) if away[channel] > 0 else cv2.min(shifted, pale))
    return cv2.cvtColor(cv2.merge(channels), cv2.COLOR_LAB2RGB)


def lighting_offset(
    target_crop: np.ndarray,
    source_crop: np.ndarray,
    points: np.ndarray,
    face_size: float,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w, 3) float32 offset that gives the warped source the target's shading and skin tone.

    Both crops are already aligned, so their low frequencies differ mostly in light and colour;
    adding target-low minus source-low keeps the source's features under the target's light. The
    local means are taken over the skin of the inner face and forehead where the mask holds: not
    the eyes, brows or mouth (a smile's teeth on the target lit the new closed mouth's surroundings,
    dark brows shaded the new ones), not a fringe on either face; without the forehead a lit one
    kept the source's darker strip below a fringe (a step where the mask ends). The offset is held
    near its median so a beard or a fringe on one side can't paint a patch.
    """
    height, width = target_crop.shape[:2]
    factor, size = _work_scale(target_crop, face_size)
    target_small = cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    source_small = cv2.resize(source_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    weight = _inner_face_weight(points, size, factor, visible, forehead=True, skin_only=True)
    sigma = 0.15 * face_size / factor
    offset = masked_blur(target_small, weight, sigma) - masked_blur(source_small, weight, sigma)
    inside = offset[weight > 0]
    if inside.size:
        median = np.median(inside, axis=0)
        offset = np.clip(offset, median - LIGHTING_SPREAD, median + LIGHTING_SPREAD)
    return cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)


HIGHLIGHT_SCALE = 0.05  # face sizes: the width of a source's highlight (a lit nose bridge, a cheek's sheen)
HIGHLIGHT_KEEP = 0.3  # how much of a highlight the target lacks is kept


def highlight_offset(
    target_crop: np.ndarray,
    face: np.ndarray,
    points: np.ndarray,
    face_size: float,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w, 1) float32 <= 0 that dims what the relit face (float RGB) still has brighter than the
    target at a finer scale than the lighting transfer: the source's own side light on its nose
    bridge or cheekbone. Only dims, never brightens (that would print the target's features)."""
    height, width = target_crop.shape[:2]
    factor, size = _work_scale(target_crop, face_size)
    weight = _inner_face_weight(points, size, factor, visible)
    sigma = HIGHLIGHT_SCALE * face_size / factor
    grey = np.array([0.299, 0.587, 0.114], np.float32)
    target_small = cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32) @ grey
    face_small = cv2.resize(face, size, interpolation=cv2.INTER_AREA) @ grey
    difference = (face_small - target_small) * weight
    norm = np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-3)
    brighter = cv2.GaussianBlur(difference, (0, 0), sigma) / norm
    dim = -(1.0 - HIGHLIGHT_KEEP) * np.maximum(brighter, 0.0) * (weight > 0)
    dim = cv2.GaussianBlur(dim, (0, 0), sigma / 2)
    return cv2.resize(dim, (width, height), interpolation=cv2.INTER_LINEAR)[:, :, None]
