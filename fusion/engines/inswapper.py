"""InsightFace inswapper_128 engine: ArcFace identity of the source drawn into the target's aligned face.

Models (see fusion/models/manifest.json): inswapper_128.onnx and w600k_r50.onnx are required;
det_10g.onnx (SCRFD) is optional: without it the 5 alignment points come from the dlib landmarks
the pipeline already found. The blend ratio mixes the swapped and the original aligned crop; the
result is pasted back with a feathered mask whose softness scales with the face. Faces larger than
128 px get "pixel boost": an N*128 aligned crop is swapped as N*N interleaved 128-px sub-images.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from fusion import onnx_models
from fusion.blend import composite
from fusion.engines.base import FacePatch, FaceRequest
from fusion.errors import Availability, EngineUnavailable
from fusion.faces import Face
from fusion.geometry import box_iou
from fusion.models import store
from fusion.upscale import enlarge_to, learned_enlargement

log = logging.getLogger(__name__)

SWAP_SIZE = 128
MAX_PIXEL_BOOST = 4  # 512 px aligned crop: 16 passes of the 128-px model
CROP_MARGIN = 0.35  # around the landmarks, in face sizes
# Eye distance in the 128-px swap template: how many pixels of the frame one swapped pixel covers.
_TEMPLATE_EYES_128 = float(np.linalg.norm(np.subtract(*onnx_models.arcface_template(SWAP_SIZE)[:2])))
REQUIRED = ("inswapper_128", "arcface_w600k_r50")
DETECTOR = "scrfd_10g"


def five_points(image: np.ndarray, face: Face, detector: Path | None, device: str) -> np.ndarray:
    """ArcFace's 5 points for `face`: from SCRFD when its model is present and it finds this face
    (IoU with the face's box >= 0.3 and eyes plausibly placed), else the face's own (its mesh's)."""
    fallback = face.five_points
    if detector is None:
        return fallback
    # Detect in a window twice the face box: SCRFD then sees the face at a scale it handles well.
    x0, y0, x1, y1 = face.box
    half = max(x1 - x0, y1 - y0)
    wx0, wy0 = max(0, x0 - half // 2), max(0, y0 - half // 2)
    wx1, wy1 = min(image.shape[1], x1 + half // 2), min(image.shape[0], y1 + half // 2)
    window = image[wy0:wy1, wx0:wx1]
    box = (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0)
    detections = onnx_models.scrfd_detect(detector, window, device)
    if not detections:
        return fallback
    best = max(detections, key=lambda d: box_iou(d.box, box))
    points = best.points_5 + np.array([wx0, wy0], np.float32)
    eyes = float(np.linalg.norm(points[1] - points[0]))
    fallback_eyes = float(np.linalg.norm(fallback[1] - fallback[0]))
    spread = float(np.abs(points - fallback).mean())
    if (
        box_iou(best.box, box) < 0.3
        or not 0.6 < eyes / max(fallback_eyes, 1e-6) < 1.6
        or spread > 0.2 * face.size
    ):
        log.debug("SCRFD did not confirm this face; using its landmarks for alignment")
        return fallback
    return points.astype(np.float32)


def pixel_boost(points_5: np.ndarray) -> int:
    """How many 128-px passes per side the face needs so the swap is not enlarged much on paste."""
    eyes = float(np.linalg.norm(points_5[1] - points_5[0]))
    wanted = SWAP_SIZE * eyes / _TEMPLATE_EYES_128
    return int(np.clip(math.ceil(wanted / SWAP_SIZE - 0.25), 1, MAX_PIXEL_BOOST))


def swap_boosted(model: Path, aligned: np.ndarray, latent: np.ndarray, boost: int, device: str) -> np.ndarray:
    """Swap an (N*128, N*128, 3) aligned crop as N*N interleaved 128-px sub-images."""
    swapped = np.empty_like(aligned)
    for dy in range(boost):
        for dx in range(boost):
            sub = np.ascontiguousarray(aligned[dy::boost, dx::boost])
            swapped[dy::boost, dx::boost] = onnx_models.inswapper_swap(model, sub, latent, device)
    return swapped


def _square_mask(size: int) -> np.ndarray:
    """(size, size) float32: 1 inside, feathered toward the aligned crop's edge (soft edge ~ size/20)."""
    mask = np.zeros((size, size), np.float32)
    border = max(2, size // 16)
    mask[border:-border, border:-border] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, size / 40))


class InswapperEngine:
    name = "inswapper"
    upscales_itself = True  # the 128-px model output is what gets enlarged, not the source

    def availability(self) -> Availability:
        partial = any(store.status(model).state != "missing" for model in REQUIRED)
        missing = onnx_models.onnx_runtime_missing()
        if missing:
            return Availability(
                False,
                f"the {missing} package is not installed",
                'Install it with: pip install "face-fusion[neural]"',
                partial,
            )
        for model in REQUIRED:
            try:
                store.require(model, self.name)
            except EngineUnavailable as exc:
                return Availability(False, exc.reason, exc.remedy, partial)
        return Availability(True)

    def providers(self, device: str = "auto") -> list[str]:
        """What really runs the swap model here, e.g. ['CUDAExecutionProvider', 'CPUExecutionProvider']."""
        return onnx_models.running_providers(store.require("inswapper_128", self.name), device)

    def fuse_face(self, request: FaceRequest) -> FacePatch:
        source, source_face, target, target_face, options = request.unpack()
        region = request.region(CROP_MARGIN)
        mask = region.mask(options.mask_size)

        swap_model = store.require("inswapper_128", self.name)
        arcface_model = store.require("arcface_w600k_r50", self.name)
        detector = store.status(DETECTOR)
        detector_path = detector.path if detector.state == "present" else None
        device = options.device
        source_5 = five_points(source, source_face, detector_path, device)
        target_5 = five_points(target, target_face, detector_path, device)
        source_aligned, _ = onnx_models.align(source, source_5, 112)
        latent = onnx_models.inswapper_latent(
            swap_model, onnx_models.arcface_embedding(arcface_model, source_aligned, device)
        )
        boost = pixel_boost(target_5)
        size = SWAP_SIZE * boost
        aligned, matrix = onnx_models.align(target, target_5, size)
        swapped = swap_boosted(swap_model, aligned, latent, boost, device).astype(np.float32)
        ratio = options.blend_ratio
        mixed = ratio * swapped + (1.0 - ratio) * aligned.astype(np.float32)
        mixed_u8 = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)

        # Frame pixels per aligned pixel: how much the paste enlarges the swap (stage 2 of upscaling).
        enlarge = 1.0 / math.sqrt(abs(np.linalg.det(matrix[:, :2])))
        if learned_enlargement(options.upscaler, enlarge):
            big = round(size * enlarge)
            mixed_u8 = enlarge_to(mixed_u8, (big, big), options.upscaler, device=device)
            matrix = matrix * (big / size)
            size = big
        to_crop = matrix.copy()
        to_crop[:, 2] += matrix[:, :2] @ np.array(region.origin, np.float64)  # aligned <- crop-local
        inverse = cv2.invertAffineTransform(to_crop)
        interpolation = cv2.INTER_CUBIC if enlarge > 1.0 else cv2.INTER_AREA
        crop_size = (region.crop.shape[1], region.crop.shape[0])
        face = cv2.warpAffine(
            mixed_u8, inverse, crop_size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE
        )
        square = cv2.warpAffine(_square_mask(size), inverse, crop_size, flags=cv2.INTER_LINEAR)
        paste_mask = mask * square
        return FacePatch(composite(region.crop, face, paste_mask), region.origin, paste_mask, region.points)
