"""Masks, colour/lighting transfer and compositing for a face crop.

Heavy smooth fields (feathered masks, lighting, Poisson corrections) are computed on a small copy of
the crop and enlarged: they have no fine detail, and this keeps the cost flat at 4096 px output.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

# Outline of the face mask in the 78-point layout (68 dlib points + 10 forehead points, see geometry).
FACE_OUTLINE = list(range(0, 17)) + list(range(77, 67, -1))
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


def _small_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(8, round(width / factor)), max(8, round(height / factor))


def face_mask(
    points: np.ndarray,
    width: int,
    height: int,
    face_size: float,
    mask_size: float = 1.0,
    skin_check: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Feathered (h, w) float32 mask of the face outline, shrunk so its soft edge stays on skin.

    With `skin_check` = (target crop, warped source crop), the forehead part of the mask is kept
    only where both look like their own cheeks' skin: a fringe or hat in either photo stays.
    """
    factor = max(1.0, face_size / 128.0)
    small_w, small_h = _small_size(width, height, factor)
    outline = points[FACE_OUTLINE]
    centre = points[[30, 33, 27]].mean(axis=0)  # around the nose: the face's visual centre
    outline = centre + (outline - centre) * (0.93 * mask_size)
    small = np.zeros((small_h, small_w), np.float32)
    hull = cv2.convexHull((outline / factor).astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(small, hull, 1.0, lineType=cv2.LINE_AA)
    if skin_check is not None:
        small *= _forehead_skin(skin_check, points, face_size, factor, (small_w, small_h))
    sigma = max(1.0, 0.045 * face_size / factor)
    small = cv2.erode(
        small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), iterations=max(1, round(sigma))
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


_CHEEKS = ([1, 2, 3, 4, 48, 31, 40, 41, 36], [15, 14, 13, 12, 54, 35, 47, 46, 45])


def _skin_likelihood(lab: np.ndarray, points_small: np.ndarray) -> np.ndarray:
    """0..1 per pixel: how close to the Lab colour of this face's own cheeks."""
    cheeks = np.zeros(lab.shape[:2], np.uint8)
    for polygon in _CHEEKS:
        cv2.fillPoly(cheeks, [points_small[polygon].astype(np.int32)], 1)
    samples = lab[cheeks > 0]
    if len(samples) < 8:
        return np.ones(lab.shape[:2], np.float32)
    mean = samples.mean(axis=0)
    spread = np.maximum(samples.std(axis=0) * 2.5, np.array([18.0, 8.0, 8.0], np.float32))
    distance2 = (((lab - mean) / spread) ** 2).sum(axis=2)
    return np.exp(-0.5 * np.maximum(distance2 - 1.0, 0.0)).astype(np.float32)


def _forehead_skin(
    images: tuple[np.ndarray, np.ndarray],
    points: np.ndarray,
    face_size: float,
    factor: float,
    size: tuple[int, int],
) -> np.ndarray:
    points_small = points / factor
    skin = np.ones((size[1], size[0]), np.float32)
    for image in images:
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        skin *= _skin_likelihood(lab, points_small)
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    # Only above the brows: below them the landmarks already say where the face is.
    brows = points_small[17:27].mean(axis=0)
    up = brows - points_small[8]
    up /= max(float(np.linalg.norm(up)), 1e-6)
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    height_above = (xs - brows[0]) * up[0] + (ys - brows[1]) * up[1]
    band = np.clip(height_above / (0.06 * face_size / factor) + 0.3, 0.0, 1.0)
    return 1.0 - band * (1.0 - skin)


def _inner_face_weight(points: np.ndarray, size: tuple[int, int], factor: float) -> np.ndarray:
    """(h, w) float32 of the inner face (jaw to brows, shrunk 15%) on a crop shrunk by `factor`."""
    inner = points[:68]
    centre = inner[[30, 33, 27]].mean(axis=0)
    hull = cv2.convexHull(((centre + (inner - centre) * 0.85) / factor).astype(np.float32)).astype(np.int32)
    weight = np.zeros((size[1], size[0]), np.float32)
    cv2.fillConvexPoly(weight, hull, 1.0)
    return weight


def match_colour(
    source_crop: np.ndarray, target_crop: np.ndarray, points: np.ndarray, face_size: float
) -> np.ndarray:
    """The source crop with the target face's Lab mean and spread (measured on the inner face).

    The spread ratio is bounded so a harshly lit source is calmed but never flattened. Applied as a
    per-channel lookup table on 8-bit Lab, so it costs almost nothing at any size.
    """
    height, width = source_crop.shape[:2]
    factor = max(1.0, face_size / 96.0)
    size = _small_size(width, height, factor)
    weight = _inner_face_weight(points, size, factor) > 0
    if not weight.any():
        return source_crop
    src_lab = cv2.cvtColor(cv2.resize(source_crop, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
    tgt_lab = cv2.cvtColor(cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
    src_px, tgt_px = src_lab[weight].astype(np.float32), tgt_lab[weight].astype(np.float32)
    src_mean, tgt_mean = src_px.mean(axis=0), tgt_px.mean(axis=0)
    ratio = np.clip(tgt_px.std(axis=0) / np.maximum(src_px.std(axis=0), 1.0), 0.6, 1.5)
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip((levels - src_mean) * ratio + tgt_mean + 0.5, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(source_crop, cv2.COLOR_RGB2LAB)
    lab = cv2.LUT(lab, np.ascontiguousarray(table.reshape(256, 1, 3)))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def _masked_blur(image_small: np.ndarray, weight_small: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the local mean of `image` over where `weight` is set."""
    weighted = cv2.GaussianBlur(image_small * weight_small[:, :, None], (0, 0), sigma)
    norm = cv2.GaussianBlur(weight_small, (0, 0), sigma)
    return weighted / np.maximum(norm, 1e-3)[:, :, None]


def lighting_offset(
    target_crop: np.ndarray,
    source_crop: np.ndarray,
    points: np.ndarray,
    face_size: float,
) -> np.ndarray:
    """(h, w, 3) float32 offset that gives the warped source the target's shading and skin tone.

    Both crops are already aligned, so their low frequencies differ mostly in light and colour;
    adding target-low minus source-low keeps the source's features under the target's light. The
    local means are taken over the inner face only (jaw to brows, no forehead: hair differs there),
    and the offset is held near its median so a beard or a fringe on one side can't paint a patch.
    """
    height, width = target_crop.shape[:2]
    factor = max(1.0, face_size / 96.0)
    size = _small_size(width, height, factor)
    target_small = cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    source_small = cv2.resize(source_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    weight = _inner_face_weight(points, size, factor)
    sigma = 0.15 * face_size / factor
    offset = _masked_blur(target_small, weight, sigma) - _masked_blur(source_small, weight, sigma)
    inside = offset[weight > 0]
    if inside.size:
        median = np.median(inside, axis=0)
        offset = np.clip(offset, median - LIGHTING_SPREAD, median + LIGHTING_SPREAD)
    return cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)


def poisson_offset(
    face: np.ndarray, background: np.ndarray, mask: np.ndarray, face_size: float
) -> np.ndarray:
    """(h, w, 3) float32 membrane that makes `face` meet `background` at the mask edge (Poisson)."""
    height, width = face.shape[:2]
    factor = max(1.0, face_size / 160.0)
    size = _small_size(width, height, factor)
    face_small = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    back_small = cv2.resize(background, size, interpolation=cv2.INTER_AREA)
    binary = (cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > 0.02).astype(np.uint8) * 255
    binary[:2, :] = binary[-2:, :] = 0
    binary[:, :2] = binary[:, -2:] = 0
    ys, xs = np.nonzero(binary)
    if len(xs) == 0:
        return np.zeros((height, width, 3), np.float32)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    cloned = cv2.seamlessClone(face_small, back_small, binary, centre, cv2.NORMAL_CLONE)
    offset = cloned.astype(np.float32) - face_small.astype(np.float32)
    offset[binary == 0] = 0.0
    # Extend the membrane past the mask edge so the feathered composite sees no step.
    weight = (binary > 0).astype(np.float32)
    spread = _masked_blur(offset, weight, 2.0)
    offset = np.where(weight[:, :, None] > 0, offset, spread)
    return cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)


def overlay(base: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Photoshop-style overlay of `layer` on `base`, float32 0..255 in and out."""
    a = base / 255.0
    b = layer / 255.0
    out = np.where(a < 0.5, 2.0 * a * b, 1.0 - 2.0 * (1.0 - a) * (1.0 - b))
    return out * 255.0


def composite(background: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """background * (1 - mask) + face * mask, uint8 out; exact background where mask is 0."""
    face_u8 = np.clip(face, 0, 255).astype(np.uint8) if face.dtype != np.uint8 else face
    weight = np.ascontiguousarray(mask, dtype=np.float32)
    return cv2.blendLinear(face_u8, background, weight, 1.0 - weight)


def unsharp(image: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask on uint8 (any size): image + amount * (image - blur)."""
    if amount <= 0:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0)
