"""Thin dark objects across a face (a glasses frame, a dark strand): found on a crop where the face
is ~128 px wide, kept in front of the new face on the target (blend.face_mask leaves them out) and
painted out of the warped source."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.blend import EYES_AND_BROWS, FACE_OUTLINE, LIPS_OUTER, near_cheeks, small_size
from fusion.geometry import fill_parts, grown_parts, turn

OBJECT_DARK = 0.4  # lightness under this share of the cheeks' median: dark enough to be an object
OBJECT_CONTRAST = 0.3  # and this share darker than what lies either side of it (black-hat)
OBJECT_WIDTH = 0.1  # thinner than this (face sizes): a line (a frame, a strand), not a shadowed side
OBJECT_LENGTH = 0.2  # and at least this long: a mole, a pore or a smile's fold is not an object
OBJECT_DARK_ON_FEATURES = 0.25  # followed onto the eyes and brows only where darker than this share


def _thin_dark_objects(
    lightness: np.ndarray,
    cheeks: np.ndarray,
    features: np.ndarray,
    face_size: float,
    own: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) bool, set on thin dark lines across the skin (a glasses frame, a hair strand, a
    microphone's edge): far darker than the cheeks, and than either side of them, and long outside
    `features` (_features: thin dark lines of the face itself are there); such a line goes on into
    `features` (a frame's upper rim beside the brows), and over `own` (the features themselves,
    grown less) only where it is far darker than a brow (OBJECT_DARK_ON_FEATURES: a black rim
    lying on one). Stubble and a shadowed cheek are neither dark enough nor thin enough."""
    values = lightness[cheeks > 0]
    if len(values) < 8:
        return np.zeros(lightness.shape, bool)
    level = float(np.median(values))
    across = 2 * max(1, round(OBJECT_WIDTH * face_size / 2)) + 1
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (across, across))
    darker = cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, closing)
    dark = (darker > OBJECT_CONTRAST * level) & (lightness < OBJECT_DARK * level)
    outside = (dark & (features == 0)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(outside, connectivity=8)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    long = extent >= max(4.0, OBJECT_LENGTH * face_size)  # 4 px: a face of a few pixels has no objects
    long[0] = False  # the background label
    found = long[labels]
    if own is not None and found.any():
        reach = (dark & ((own == 0) | (lightness < OBJECT_DARK_ON_FEATURES * level))).astype(np.uint8)
        _, labels = cv2.connectedComponents(reach, connectivity=8)
        wanted = np.zeros(labels.max() + 1, bool)
        wanted[np.unique(labels[found])] = True
        wanted[0] = False
        found = wanted[labels]
    return found


def _features(
    points_small: np.ndarray, size: tuple[int, int], face_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """(zone, own), (h, w) uint8 each: eyes, brows, nostrils and lips grown by 0.03 face sizes; and
    the same with eyes and brows grown by 0.01 only."""
    height, width = size[1], size[0]
    mouth_nose = grown_parts(points_small, height, width, (list(range(31, 36)), LIPS_OUTER), 0.03 * face_size)
    zone = np.maximum(mouth_nose, grown_parts(points_small, height, width, EYES_AND_BROWS, 0.03 * face_size))
    own = np.maximum(mouth_nose, grown_parts(points_small, height, width, EYES_AND_BROWS, 0.01 * face_size))
    return zone, own


def object_mask(image: np.ndarray, points: np.ndarray, face_size: float) -> np.ndarray:
    """Bool, where the face is ~128 px wide (the crop shrunk as face_mask shrinks it): the thin
    dark objects (_thin_dark_objects) across the face of `points` in `image` (a crop: the
    target's, or the source warped onto it). On the target face_mask leaves them out (the closing
    that fills "not skin" specks would fill a thin frame, and the eyes' zone take its rims) and the
    texture step's measure keeps away from them (texture.measurable); on the source paint_out
    removes them."""
    height, width = image.shape[:2]
    factor = max(1.0, face_size / 128.0)
    size = small_size(width, height, factor)
    points_small = points / factor
    cheeks = fill_parts(points_small, size[1], size[0], near_cheeks(turn(points[:68])))
    zone, own = _features(points_small, size, face_size / factor)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    lightness = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[:, :, 0]
    found = _thin_dark_objects(lightness, cheeks, zone, face_size / factor, own)
    return found & (fill_parts(points_small, size[1], size[0], (FACE_OUTLINE,)) > 0)  # a tie is no matter


def paint_out(image: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """`image` (RGB uint8) with `objects` (object_mask's) painted over from the skin around them
    (OpenCV's Telea inpainting on object_mask's grid, two pixels beyond their edges: their soft
    rims): a source's glasses frame, left out of the mask instead, showed as a grey ghost."""
    if not objects.any():
        return image
    height, width = image.shape[:2]
    size = (objects.shape[1], objects.shape[0])
    holes = cv2.dilate(objects.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    filled = cv2.inpaint(cv2.resize(image, size, interpolation=cv2.INTER_AREA), holes, 3, cv2.INPAINT_TELEA)
    weight = np.clip(2.0 * cv2.GaussianBlur(holes.astype(np.float32), (0, 0), 0.7), 0.0, 1.0)
    # Enlarged and mixed in only within the holes' box (the crop may be thousands of pixels wide).
    x, y, w, h = cv2.boundingRect(holes)
    x0, y0 = max(0, x - 2), max(0, y - 2)
    x1, y1 = min(size[0], x + w + 2), min(size[1], y + h + 2)
    sx, sy = width / size[0], height / size[1]
    box = (slice(round(y0 * sy), round(y1 * sy)), slice(round(x0 * sx), round(x1 * sx)))
    part = (box[1].stop - box[1].start, box[0].stop - box[0].start)
    big_filled = cv2.resize(filled[y0:y1, x0:x1], part, interpolation=cv2.INTER_LINEAR)
    big_weight = cv2.resize(weight[y0:y1, x0:x1], part, interpolation=cv2.INTER_LINEAR)[:, :, None]
    out = image.copy()
    out[box] = (image[box] * (1.0 - big_weight) + big_filled * big_weight + 0.5).astype(np.uint8)
    return out
