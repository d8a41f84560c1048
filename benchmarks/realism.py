"""Realism measures for a fused photo against its target (benchmarks/quality.py reports them).

- background PSNR: outside the face hull (68 points and forehead) grown by half a face width, the
  result should be the target (99 = identical).
- seam: across the face outline, the lightness profile's total variation (sum of |steps| along a line
  crossing the edge), median over the outline, for the result and for the target at the same place.
  A pale band or a step the mask adds shows as a result larger than the target's own.
- texture: fine-detail energy (mean square of the image minus its 1.5 px blur: pores, grain,
  noise) of the inner face relative to its surround, result against target, as |ln ratio|:
  0 = the same crispness.
- off-colour: the share of the face's skin (cheeks, nose, chin: the 68-point hull shrunk by a tenth, no
  eyes, brows or mouth) coloured outside the target's own skin range: further in Lab (a, b) from
  the target skin's median colour than 95% of the target's skin. The target scores 0.05; a grey
  or blue patch, a red blotch or a colour cast shows as more.
"""

from __future__ import annotations

import cv2
import numpy as np

from fusion.faces import Face
from fusion.geometry import with_forehead
from fusion.texture import detail_energy, face_regions

SEAM_REACH = 0.12  # the profile runs this many face sizes either side of the outline
SEAM_SAMPLES = 64  # points along the outline


def _width(face: Face) -> float:
    return float(np.linalg.norm(face.landmarks[16] - face.landmarks[0]))


def _hull(face: Face) -> np.ndarray:
    return cv2.convexHull(with_forehead(face.landmarks).astype(np.float32)).reshape(-1, 2)


def _fill(hull: np.ndarray, shape: tuple[int, ...], grow: float = 0.0) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    if grow >= 1:
        size = 2 * round(grow) + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return mask.astype(bool)


def _lightness(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[:, :, 0]


def background_psnr(result: np.ndarray, target: np.ndarray, faces: list[Face]) -> float:
    """PSNR outside every face's hull grown by half its width; 99 = identical there."""
    inside = np.zeros(target.shape[:2], bool)
    for face in faces:
        inside |= _fill(_hull(face), target.shape, 0.5 * _width(face))
    diff = result[~inside].astype(np.float64) - target[~inside].astype(np.float64)
    mse = float(np.mean(diff**2)) if diff.size else 0.0
    return 99.0 if mse == 0 else min(99.0, 10 * np.log10(255.0**2 / mse))


def _outline_samples(face: Face) -> tuple[np.ndarray, np.ndarray]:
    """SEAM_SAMPLES points evenly along the hull and their outward normals."""
    hull = _hull(face).astype(np.float64)
    closed = np.vstack([hull, hull[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    at = np.linspace(0, along[-1], SEAM_SAMPLES, endpoint=False)
    xs, ys = np.interp(at, along, closed[:, 0]), np.interp(at, along, closed[:, 1])
    points = np.stack([xs, ys], axis=1)
    outward = points - hull.mean(axis=0)
    return points, outward / np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)


def _profile_variation(
    lightness: np.ndarray, points: np.ndarray, normals: np.ndarray, reach: float
) -> np.ndarray:
    steps = np.linspace(-reach, reach, max(8, int(2 * reach)))
    xs = (points[:, None, 0] + normals[:, None, 0] * steps).astype(np.float32)
    ys = (points[:, None, 1] + normals[:, None, 1] * steps).astype(np.float32)
    profiles = cv2.remap(lightness, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    profiles = cv2.GaussianBlur(profiles, (0, 0), sigmaX=1.0, sigmaY=0.01)  # along each line only
    return np.abs(np.diff(profiles, axis=1)).sum(axis=1)


def seam(result: np.ndarray, target: np.ndarray, face: Face) -> tuple[float, float]:
    """(result, target) median lightness variation across the face outline (L* units)."""
    points, normals = _outline_samples(face)
    reach = SEAM_REACH * face.size
    ours = _profile_variation(_lightness(result), points, normals, reach)
    theirs = _profile_variation(_lightness(target), points, normals, reach)
    return float(np.median(ours)), float(np.median(theirs))


def texture_log_ratio(result: np.ndarray, target: np.ndarray, face: Face) -> float:
    """ln of (face / surround fine-detail energy) in the result over the same in the target."""
    landmarks = face.landmarks
    centre = landmarks[[27, 30, 33]].mean(axis=0)
    inner = cv2.convexHull((centre + (landmarks[:68] - centre) * 0.85).astype(np.float32)).reshape(-1, 2)
    face_mask = _fill(inner, target.shape)
    hull = _hull(face)
    surround = _fill(hull, target.shape, 0.25 * _width(face)) & ~_fill(hull, target.shape)
    ratios = [
        detail_energy(image, face_mask) / max(detail_energy(image, surround), 1e-9)
        for image in (result, target)
    ]
    return float(np.log(max(ratios[0], 1e-9) / max(ratios[1], 1e-9)))


def off_colour(result: np.ndarray, target: np.ndarray, face: Face) -> float:
    """Share of the face's skin in `result` coloured outside the target skin's 95% range."""
    height, width = target.shape[:2]
    skin, _ = face_regions(face.landmarks, width, height, face.size)
    if not skin.any():
        return 0.0
    wanted = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)[skin][:, 1:].astype(np.float64)
    got = cv2.cvtColor(result, cv2.COLOR_RGB2LAB)[skin][:, 1:].astype(np.float64)
    centre = np.median(wanted, axis=0)
    reach = np.percentile(np.linalg.norm(wanted - centre, axis=1), 95)
    return float(np.mean(np.linalg.norm(got - centre, axis=1) > reach))
