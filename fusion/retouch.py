"""Retouching: skin smoothing on the face's skin only, and global brightness/contrast/saturation."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.blend import composite
from fusion.geometry import FEATURE_PARTS, fill_parts


def _skin_mask(face_mask: np.ndarray, landmarks_local: np.ndarray, face_size: float) -> np.ndarray:
    """The face mask without the eyes, brows and lips (kept sharp when smoothing skin)."""
    keep_sharp = fill_parts(landmarks_local, face_mask.shape[0], face_mask.shape[1], FEATURE_PARTS)
    grow = max(3, round(face_size * 0.03)) | 1
    keep_sharp = cv2.dilate(keep_sharp, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    sharp = cv2.GaussianBlur(keep_sharp.astype(np.float32), (0, 0), grow / 2.0)
    return face_mask * (1.0 - sharp)


def smooth_skin(
    crop: np.ndarray, face_mask: np.ndarray, landmarks_local: np.ndarray, face_size: float, strength: float
) -> np.ndarray:
    """Edge-preserving smoothing (bilateral) of the skin in a face crop, `strength` 0..1.

    Runs at a scale where the face is about 320 px wide, so the cost does not grow with the output.
    """
    if strength <= 0:
        return crop
    height, width = crop.shape[:2]
    factor = max(1.0, face_size / 256.0)
    small = cv2.resize(
        crop, (max(1, round(width / factor)), max(1, round(height / factor))), interpolation=cv2.INTER_AREA
    )
    # Two passes of a bilateral filter sized to the face: wrinkles and pores go, edges stay.
    smoothed = small
    for _ in range(2):
        smoothed = cv2.bilateralFilter(smoothed, d=9, sigmaColor=15 + 35 * strength, sigmaSpace=6)
    if factor > 1.0:
        # Put the fine detail the downscale removed back, minus what the filter meant to remove.
        detail = crop.astype(np.float32) - cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        smoothed_full = cv2.resize(smoothed, (width, height), interpolation=cv2.INTER_LINEAR).astype(
            np.float32
        )
        smoothed_full += detail * (1.0 - strength)
    else:
        smoothed_full = smoothed.astype(np.float32)
    weight = _skin_mask(face_mask, landmarks_local, face_size) * min(1.0, 0.4 + 0.6 * strength)
    return composite(crop, smoothed_full, weight)


def adjust_tone(image: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Global brightness/contrast (one lookup table) and saturation, each -1..1 with 0 = unchanged."""
    if brightness or contrast:
        levels = np.arange(256, dtype=np.float32)
        lut = (levels - 128.0) * (1.0 + contrast) + 128.0 + 128.0 * brightness
        image = cv2.LUT(image, np.clip(lut + 0.5, 0, 255).astype(np.uint8))
    if saturation:
        gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        image = cv2.addWeighted(image, 1.0 + saturation, gray, -saturation, 0.0)
    return image
