"""Masks (occlusion-aware) and compositing for a face crop; the colour and light transfer is in
fusion/colour.py.

Heavy smooth fields (feathered masks, Poisson corrections) are computed on a small copy of
the crop and enlarged: they have no fine detail, and this keeps the cost flat at 4096 px output.
"""

from __future__ import annotations

import cv2
import numpy as np

from fusion.geometry import TURNED_AWAY, face_crop_box, fill_parts, near_side_image, smoothstep, turn

# Outline of the face mask in the 78-point layout (68 dlib points + 10 forehead points, see geometry).
FACE_OUTLINE = list(range(0, 17)) + list(range(77, 67, -1))


def small_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(8, round(width / factor)), max(8, round(height / factor))


def face_mask(
    points: np.ndarray,
    width: int,
    height: int,
    face_size: float,
    mask_size: float = 1.0,
    skin_check: tuple[np.ndarray, np.ndarray] | None = None,
    source_forehead: float = 1.0,
    objects: np.ndarray | None = None,
) -> np.ndarray:
    """Feathered (h, w) float32 mask of the face outline, shrunk so its soft edge stays on skin.

    With `skin_check` = (target crop, warped source crop), the mask is kept only where both look
    like their own skin (`_skin_agreement`): what covers either face stays the target's; above
    the brows the source's counts `source_forehead` (forehead_kept) of what it would; and never
    on `objects` (occluders.object_mask's, at its scale: thin dark lines such as a glasses frame).
    """
    factor = max(1.0, face_size / 128.0)
    small_w, small_h = small_size(width, height, factor)
    outline = points[FACE_OUTLINE]
    centre = points[[30, 33, 27]].mean(axis=0)  # around the nose: the face's visual centre
    outline = centre + (outline - centre) * (0.93 * mask_size)
    small = np.zeros((small_h, small_w), np.float32)
    hull = cv2.convexHull((outline / factor).astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(small, hull, 1.0, lineType=cv2.LINE_AA)
    sigma = max(1.0, 0.045 * face_size / factor)
    small = cv2.erode(
        small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), iterations=max(1, round(sigma))
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    if skin_check is not None or objects is not None:
        # After the outline's feathering, with a softer edge of its own: a stick or a finger a
        # tenth of a face wide would otherwise be blurred away.
        agreement = np.ones((small_h, small_w), np.float32)
        if skin_check is not None:
            agreement = _skin_agreement(
                skin_check, points, face_size, factor, (small_w, small_h), source_forehead
            )
        if objects is not None:
            agreement *= 1.0 - objects.astype(np.float32)
        # Grown by a pixel first, so the soft edge falls beside the object rather than on it (more
        # costs identity: each further pixel ~0.01 of median distance on the benchmark).
        agreement = cv2.erode(agreement, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
        small *= cv2.GaussianBlur(agreement, (0, 0), max(0.7, sigma / 3))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


_CHEEKS = ([1, 2, 3, 4, 48, 31, 40, 41, 36], [15, 14, 13, 12, 54, 35, 47, 46, 45])
EYES_AND_BROWS = (list(range(17, 22)) + list(range(36, 42)), list(range(22, 27)) + list(range(42, 48)))
LIPS_OUTER, _LIPS_INNER = list(range(48, 60)), list(range(60, 68))


def near_cheeks(facing: float) -> tuple[list[int], ...]:
    """The cheeks to sample skin from, given the face's turn (geometry.turn)."""
    if facing < -TURNED_AWAY:
        return (_CHEEKS[1],)
    if facing > TURNED_AWAY:
        return (_CHEEKS[0],)
    return _CHEEKS


def _colour_likelihood(lab: np.ndarray, sample: np.ndarray, floor: tuple[float, ...]) -> np.ndarray:
    """0..1 per pixel: how close to the Lab colour of the pixels where `sample` is set (`floor`:
    the least spread allowed per channel, so that a sample of one tone does not reject the rest)."""
    samples = lab[sample > 0]
    if len(samples) < 8:
        return np.ones(lab.shape[:2], np.float32)
    # Median and MAD: an object over part of the sample must not widen what counts as its colour.
    centre = np.median(samples, axis=0)
    deviation = 1.4826 * np.median(np.abs(samples - centre), axis=0)
    spread = np.maximum(deviation * 2.5, np.array(floor, np.float32))
    distance2 = (((lab - centre) / spread) ** 2).sum(axis=2)
    return np.exp(-0.5 * np.maximum(distance2 - 1.0, 0.0)).astype(np.float32)


_CHROMA_RANGE = (64.0, 192.0)  # Lab a and b levels the chroma histogram spans (skin sits near 140-170)
_CHROMA_BINS = 48


def _chroma_likelihood(lab: np.ndarray, sample: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """0..1 per pixel: how common its chroma (Lab a, b) is among the pixels where `sample` is set,
    by histogram back-projection: a lit cheek and a shadowed one are both skin, a window beside
    the face that is merely near their average is not."""
    chroma = np.ascontiguousarray(np.clip(lab[:, :, 1:], *_CHROMA_RANGE).astype(np.float32))
    mask = (sample > 0).astype(np.uint8)
    if int(mask.sum()) < 8:
        return np.ones(lab.shape[:2], np.float32)
    ranges = [*_CHROMA_RANGE, *_CHROMA_RANGE]
    hist = cv2.calcHist([chroma], [0, 1], mask, [_CHROMA_BINS, _CHROMA_BINS], ranges)
    hist = cv2.GaussianBlur(hist, (0, 0), sigma)
    found = cv2.calcBackProject([chroma], [0, 1], hist, ranges, scale=1.0)
    # Scaled so that the commonest four fifths of the sample's own pixels count fully.
    level = float(np.percentile(found[mask > 0], 20))
    return np.clip(found / max(level, 1e-6), 0.0, 1.0).astype(np.float32)


SMOOTH_RANGE = (2.5, 5.0)  # detail over the cheeks' median: still skin .. hair


def _smooth_likelihood(lightness: np.ndarray, sample: np.ndarray, face_size: float) -> np.ndarray:
    """0..1 per pixel: 1 where the fine detail (|Laplacian| of the lightness, Gaussian-averaged over
    a fortieth of a face) is at most SMOOTH_RANGE[0] times the sample's median (at least one level:
    very smooth skin does not make ordinary skin texture look like hair), 0 from SMOOTH_RANGE[1]
    times: hair is as busy as the sample's skin is smooth, whatever its colour."""
    detail = np.abs(cv2.Laplacian(lightness, cv2.CV_32F, ksize=3))
    detail = cv2.GaussianBlur(detail, (0, 0), max(0.7, face_size / 40.0))
    values = detail[sample > 0]
    if len(values) < 8:
        return np.ones(lightness.shape, np.float32)
    ratio = detail / max(float(np.median(values)), 1.0)
    low, high = SMOOTH_RANGE
    return np.clip((high - ratio) / (high - low), 0.0, 1.0).astype(np.float32)


FOREHEAD_SEEN = (0.75, 0.85)  # share of the source's forehead that is skin: none of it kept .. all
_ABOVE_FLOOR = (18.0, 8.0, 8.0)  # Lab spreads allowed above the brows (_colour_likelihood)


def _forehead(points_small: np.ndarray, size: tuple[int, int], face_size: float) -> tuple[np.ndarray, ...]:
    """(band, forehead, up) for points on a small image of `size`: band 0..1 rising over the brows,
    the face outline where it is fully 1, and the unit vector up the face."""
    brows = points_small[17:27].mean(axis=0)
    up = brows - points_small[8]
    up /= max(float(np.linalg.norm(up)), 1e-6)
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    height_above = (xs - brows[0]) * up[0] + (ys - brows[1]) * up[1]
    band = np.clip(height_above / (0.06 * face_size) + 0.3, 0.0, 1.0)
    forehead = (fill_parts(points_small, size[1], size[0], (FACE_OUTLINE,)) > 0) & (band >= 1.0)
    return band, forehead, up


def forehead_kept(image: np.ndarray, points: np.ndarray, face_size: float) -> float:
    """0..1: how much of a source's forehead to keep, from how much of it is skin in its own photo
    (`points`: the 78-point layout). A fringe over most of it leaves a strip of skin in its shadow
    between it and the brows, which pasted makes a dark band across the new forehead (astronaut ->
    group faces 2 and 3); the target's own forehead then shows instead, from the brows up. Judged
    on the source as it is: warped onto a turned target, its forehead is partly the far side."""
    factor = max(1.0, face_size / 128.0)
    x0, y0, x1, y1 = face_crop_box(points, 0.1 * face_size, image.shape[1], image.shape[0])
    size = small_size(x1 - x0, y1 - y0, factor)
    points_small = (points - np.array([x0, y0], np.float32)) * np.array(
        [size[0] / (x1 - x0), size[1] / (y1 - y0)], np.float32
    )
    small_face = face_size * size[0] / (x1 - x0)
    lab = cv2.cvtColor(cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
    cheeks = fill_parts(points_small, size[1], size[0], near_cheeks(turn(points[:68])))
    seen = _forehead(points_small, size, small_face)[1] & (
        near_side_image(points_small, size, small_face) > 0.5
    )
    if not seen.any():
        return 1.0
    lab = lab.astype(np.float32)
    skin = _colour_likelihood(lab, cheeks, _ABOVE_FLOOR) * _smooth_likelihood(
        lab[:, :, 0], cheeks, small_face
    )
    share = float(skin[seen].mean())
    return float(smoothstep(share, *FOREHEAD_SEEN))


def _skin_agreement(
    images: tuple[np.ndarray, np.ndarray],
    points: np.ndarray,
    face_size: float,
    factor: float,
    size: tuple[int, int],
    source_forehead: float = 1.0,
) -> np.ndarray:
    """Where both photos show their own face: 1, else toward 0 (a fringe, a hat, a hand, a
    microphone in either photo stays the target's). Above the brows lightness, colour and fine
    detail are compared with the cheeks' (and the source's scaled by `source_forehead`,
    forehead_kept); below them colour only (a shadowed cheek is still skin),
    and detail too up from the eyes (a fringe as light as the skin reaches down to the brows); on
    the lips, the cheeks' or the lips' own colour; eyes, brows and the mouth's inside always count."""
    points_small = points / factor
    # A cheek turned away is a sliver with the background beside it: sample only the near one then.
    facing = turn(points[:68])
    cheeks = fill_parts(points_small, size[1], size[0], near_cheeks(facing))
    near = near_side_image(points_small, size, face_size / factor)
    lips = fill_parts(points_small, size[1], size[0], (LIPS_OUTER,))
    inside_mouth = fill_parts(points_small, size[1], size[0], (_LIPS_INNER,))
    grow = 2 * max(1, round(0.03 * face_size / factor)) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
    lip_zone = cv2.dilate(lips, kernel) > 0
    always = cv2.dilate(fill_parts(points_small, size[1], size[0], EYES_AND_BROWS), kernel) | inside_mouth
    always &= near > 0.5  # a turned-away eye's outline reaches past the face into the background
    band, _, up = _forehead(points_small, size, face_size / factor)
    # Between the eyes and the brows, as above them, hair (a fringe) is told from skin by its detail.
    eyes = points_small[36:48].mean(axis=0)
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    over_eyes = np.clip(((xs - eyes[0]) * up[0] + (ys - eyes[1]) * up[1]) / (0.05 * face_size / factor), 0, 1)
    above = np.ones((size[1], size[0]), np.float32)
    below = np.ones((size[1], size[0]), np.float32)
    for index, image in enumerate(images):
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        smooth = _smooth_likelihood(lab[:, :, 0], cheeks, face_size / factor)
        above *= _colour_likelihood(lab, cheeks, _ABOVE_FLOOR) * smooth * (source_forehead if index else 1.0)
        # Near the cheeks' typical colour (a grey object on pale skin is not).
        skin = _colour_likelihood(lab, cheeks, (1e6, 10.0, 10.0))
        if index == 0:
            # On the target, also of a chroma common on its cheeks: beside a turned face the
            # window or wall can be near their average colour. (On the warped source as well, it
            # costs likeness where strong light gives the source's skin tones its cheeks lack.)
            skin = np.minimum(skin, _chroma_likelihood(lab, cheeks))
        lip_colour = _colour_likelihood(lab, lips & (1 - inside_mouth), (1e6, 10.0, 10.0))
        below *= np.where(lip_zone, np.maximum(skin, lip_colour), skin)
        below *= 1.0 - over_eyes + over_eyes * smooth
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    # Above the brows, skin-like specks in hair are dropped (opening); below them, the specks of
    # "not skin" that shading and stubble leave on a real face are filled (closing): an object
    # worth keeping is larger than a fifteenth of a face. (Eight benchmark pairs, median identity
    # distance: 0.448 with an opening here, 0.426 with this closing; 0.429 with no check below.)
    above = cv2.morphologyEx(above, cv2.MORPH_OPEN, opening)
    close = 2 * max(1, round(0.035 * face_size / factor)) + 1
    below = cv2.morphologyEx(
        below, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    )
    # Eyes, brows and the mouth's inside count on either side of the line (a turned head's near
    # brow rises above it).
    return np.maximum(band * above + (1.0 - band) * below, always.astype(np.float32))


def masked_blur(image_small: np.ndarray, weight_small: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the local mean of `image` over where `weight` is set."""
    weighted = cv2.GaussianBlur(image_small * weight_small[:, :, None], (0, 0), sigma)
    norm = cv2.GaussianBlur(weight_small, (0, 0), sigma)
    return weighted / np.maximum(norm, 1e-3)[:, :, None]


def poisson_offset(
    face: np.ndarray, background: np.ndarray, mask: np.ndarray, face_size: float
) -> np.ndarray:
    """(h, w, 3) float32 membrane that makes `face` meet `background` at the mask edge (Poisson)."""
    height, width = face.shape[:2]
    factor = max(1.0, face_size / 160.0)
    size = small_size(width, height, factor)
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
    spread = masked_blur(offset, weight, 2.0)
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
