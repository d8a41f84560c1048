"""Masks, colour/lighting transfer and compositing for a face crop.

Heavy smooth fields (feathered masks, lighting, Poisson corrections) are computed on a small copy of
the crop and enlarged: they have no fine detail, and this keeps the cost flat at 4096 px output.
"""

from __future__ import annotations

import cv2
import numpy as np

# Outline of the face mask in the 78-point layout (68 dlib points + 10 forehead points, see geometry).
FACE_OUTLINE = list(range(0, 17)) + list(range(77, 67, -1))


def _small_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(8, round(width / factor)), max(8, round(height / factor))


def face_mask(
    points: np.ndarray, width: int, height: int, face_size: float, mask_size: float = 1.0
) -> np.ndarray:
    """Feathered (h, w) float32 mask of the face outline, shrunk so its soft edge stays on skin."""
    factor = max(1.0, face_size / 128.0)
    small_w, small_h = _small_size(width, height, factor)
    outline = points[FACE_OUTLINE]
    centre = points[[30, 33, 27]].mean(axis=0)  # around the nose: the face's visual centre
    outline = centre + (outline - centre) * (0.93 * mask_size)
    small = np.zeros((small_h, small_w), np.float32)
    hull = cv2.convexHull((outline / factor).astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(small, hull, 1.0, lineType=cv2.LINE_AA)
    sigma = max(1.0, 0.045 * face_size / factor)
    small = cv2.erode(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), iterations=max(1, round(sigma)))
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _masked_blur(image_small: np.ndarray, weight_small: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the local mean of `image` over where `weight` is set."""
    weighted = cv2.GaussianBlur(image_small * weight_small[:, :, None], (0, 0), sigma)
    norm = cv2.GaussianBlur(weight_small, (0, 0), sigma)
    return weighted / np.maximum(norm, 1e-3)[:, :, None]


def lighting_offset(
    target_crop: np.ndarray,
    source_crop: np.ndarray,
    region: np.ndarray,
    face_size: float,
) -> np.ndarray:
    """(h, w, 3) float32 offset that gives the warped source the target's shading and skin tone.

    Both crops are already aligned, so their low frequencies differ only in light and colour; adding
    target-low minus source-low keeps the source's features (high frequencies) under the target's light.
    """
    height, width = target_crop.shape[:2]
    factor = max(1.0, face_size / 96.0)
    size = _small_size(width, height, factor)
    target_small = cv2.resize(target_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    source_small = cv2.resize(source_crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    weight = (cv2.resize(region, size, interpolation=cv2.INTER_AREA) > 0.5).astype(np.float32)
    sigma = 0.09 * face_size / factor
    offset = _masked_blur(target_small, weight, sigma) - _masked_blur(source_small, weight, sigma)
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
