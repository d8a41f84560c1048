"""CUDA (torch) versions of the full-frame stages. torch is imported only when a GPU may exist.

The `tensor_*` functions are the maths, on (B, C, H, W) float tensors holding 0..255 levels on the
caller's device; `CudaFrameOps` is the `FrameOps` backend that moves one frame to the device, runs
them, and brings the result back. It runs on any torch device, so the CPU build of torch tests it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from fusion.postprocess import CpuFrameOps

if TYPE_CHECKING:
    import torch

    from fusion.options import FusionOptions
    from fusion.postprocess import OutputPlan

logger = logging.getLogger(__name__)

# The CUDA antialiased interpolate keeps one block's filter taps in shared memory and refuses large
# shrink factors ("Too much shared memory required"); shrinking by at most this much per pass keeps
# the taps well inside 48 KiB, also in float32.
MAX_SHRINK_PER_PASS = 8
# OpenCV's RGB2GRAY fixed-point weights (x / 2**14), so the saturation stage matches adjust_tone.
_GRAY_WEIGHTS = (4899 / 16384, 9617 / 16384, 1868 / 16384)

_Result = TypeVar("_Result")


def _check_batch(images: torch.Tensor, name: str) -> None:
    if images.dim() != 4:
        raise ValueError(f"{name} expects a (B, C, H, W) tensor, got shape {tuple(images.shape)}")


def tensor_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) float images (0..255, any device) to size=(width, height).

    Bicubic, antialiased when an axis shrinks; large shrink factors go in passes of at most
    MAX_SHRINK_PER_PASS per axis. Returns (B, C, height, width), same dtype and device, clamped to
    0..255 (bicubic overshoots at edges), not rounded.
    """
    import torch.nn.functional as F

    _check_batch(images, "tensor_resize")
    out_w, out_h = size
    if out_w < 1 or out_h < 1:
        raise ValueError(f"tensor_resize: size must be positive, got {size}")
    height, width = images.shape[-2:]
    steps_h, steps_w = _shrink_steps(height, out_h), _shrink_steps(width, out_w)
    passes = max(len(steps_h), len(steps_w))
    # An axis needing fewer passes stays put in the first ones.
    steps_h = [height] * (passes - len(steps_h)) + steps_h
    steps_w = [width] * (passes - len(steps_w)) + steps_w
    for step_h, step_w in zip(steps_h, steps_w, strict=True):
        height, width = images.shape[-2:]
        if (step_h, step_w) == (height, width):
            continue
        images = F.interpolate(
            images,
            size=(step_h, step_w),
            mode="bicubic",
            align_corners=False,
            antialias=step_h < height or step_w < width,
        )
    return images.clamp(0.0, 255.0)


def _shrink_steps(size: int, target: int) -> list[int]:
    """Sizes to pass through from `size` to `target` along one axis, shrinking at most
    MAX_SHRINK_PER_PASS per pass. The last pass takes the full factor: its filter decides the look,
    the earlier ones only take away detail that is finer still."""
    steps = [target]
    while size > steps[0] * MAX_SHRINK_PER_PASS:
        steps.insert(0, steps[0] * MAX_SHRINK_PER_PASS)
    return steps


def tensor_reflect_pad(images: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Mirror-pad (B, C, H, W) images of any dtype on any device by any amount.

    Same result as postprocess.reflect_pad (OpenCV BORDER_REFLECT_101): reflection adds at most
    size-1 pixels at a time, so large pads go in steps, and a 1-pixel side is replicated instead.
    Returns (B, C, H + top + bottom, W + left + right), same dtype and device.
    """
    import torch.nn.functional as F

    _check_batch(images, "tensor_reflect_pad")
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"tensor_reflect_pad: pads must be >= 0, got {(top, bottom, left, right)}")
    while top or bottom or left or right:
        height, width = images.shape[-2:]
        reach_y, reach_x = height - 1, width - 1
        if (reach_y == 0 and (top or bottom)) or (reach_x == 0 and (left or right)):
            return _replicate_pad(images, top, bottom, left, right)
        t, b, lf, r = min(top, reach_y), min(bottom, reach_y), min(left, reach_x), min(right, reach_x)
        images = F.pad(images, (lf, r, t, b), mode="reflect")
        top, bottom, left, right = top - t, bottom - b, left - lf, right - r
    return images


def _replicate_pad(images: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    import torch.nn.functional as F

    if images.is_floating_point():
        return F.pad(images, (left, right, top, bottom), mode="replicate")
    # Replicate padding has no integer kernel on every device; it only copies values, so a float
    # round trip is exact for uint8.
    return F.pad(images.float(), (left, right, top, bottom), mode="replicate").to(images.dtype)


def gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 1-D Gaussian OpenCV's GaussianBlur uses on uint8 images for this sigma: 2*round(3*sigma)+1
    taps (7 for sigma 1.0), normalised to sum 1. Shape (taps,)."""
    import torch

    radius = max(1, round(3.0 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def tensor_unsharp(images: torch.Tensor, amount: float, sigma: float = 1.0) -> torch.Tensor:
    """Unsharp mask of (B, C, H, W) float images (0..255, any device): image + amount * (image - blur).

    The blur is a separable Gaussian (depthwise convolutions) with a reflect-101 border, like
    fusion.blend.unsharp. Returns the same shape, dtype and device, clamped to 0..255, not rounded.
    """
    import torch
    import torch.nn.functional as F

    _check_batch(images, "tensor_unsharp")
    if amount <= 0:
        return images
    channels = images.shape[1]
    kernel = gaussian_kernel(sigma, images.dtype, images.device)
    radius = kernel.numel() // 2
    # Reflection padding returns NCHW; the depthwise convolutions are about 4x faster channels_last
    # (measured with torch on the CPU, 1024x1024x3 float32: 57 ms against 226 ms).
    padded = tensor_reflect_pad(images, radius, radius, radius, radius)
    padded = padded.contiguous(memory_format=torch.channels_last)
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    # x + a * (x - blur) rather than (1 + a) * x - a * blur: smaller intermediates, better in fp16.
    return images.add(images - blurred, alpha=amount).clamp_(0.0, 255.0)


def tensor_tone(images: torch.Tensor, brightness: float, contrast: float, saturation: float) -> torch.Tensor:
    """Brightness/contrast then saturation of (B, 3, H, W) RGB float images (0..255, any device).

    The same maths as fusion.retouch.adjust_tone, including its rounding and clamping to 0..255 after
    each step, so the result holds whole levels. Each control is -1..1 with 0 = unchanged; returns
    the same shape, dtype and device (the input itself when all three are 0).
    """
    import torch

    _check_batch(images, "tensor_tone")
    if brightness or contrast:
        offset = 128.0 + 128.0 * brightness + 0.5  # + 0.5 then floor: the LUT rounds half up
        images = torch.floor((images - 128.0) * (1.0 + contrast) + offset).clamp_(0.0, 255.0)
    if saturation:
        if images.shape[1] != 3:
            raise ValueError(f"tensor_tone: saturation needs 3 (RGB) channels, got {images.shape[1]}")
        red, green, blue = images.unbind(1)
        gray = red * _GRAY_WEIGHTS[0] + green * _GRAY_WEIGHTS[1] + blue * _GRAY_WEIGHTS[2]
        gray = torch.floor(gray + 0.5).unsqueeze(1)
        # addWeighted(image, 1 + s, gray, -s) == image + s * (image - gray), then round and saturate.
        images = images.add(images - gray, alpha=saturation).round_().clamp_(0.0, 255.0)
    return images


def _is_out_of_memory(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def _release_cached_memory() -> None:
    import torch

    try:
        torch.cuda.empty_cache()  # a no-op where CUDA was never initialised
    except RuntimeError:  # a broken CUDA context must not turn a fallback into a crash
        logger.exception("torch.cuda.empty_cache() failed")


class CudaFrameOps:
    """The full-frame stages with torch on `device` ("cuda" by default; "cpu" works for testing).

    Each call uploads the frame once (uint8, through pinned memory on CUDA), works in float16 on
    CUDA (float32 elsewhere: CPU interpolate has no half kernels) with channels_last layout, and
    downloads once. When the device runs out of memory, or a torch kernel fails, the stage is redone
    by CpuFrameOps and a warning goes to `notes`: a request never fails for the GPU's sake.

    Nothing but `notes` is kept between calls (the pipeline makes one FrameOps per request).
    """

    def __init__(self, device: str = "cuda", pin_memory: bool = True) -> None:
        import torch

        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.pin_memory = pin_memory and self.device.type == "cuda"
        self.notes: list[str] = []

    # -- FrameOps -------------------------------------------------------------------------------

    def resize(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W, C) uint8 -> (size[1], size[0], C) uint8; the input itself when the size matches."""
        _check_image(image)
        if (image.shape[1], image.shape[0]) == tuple(size):
            return image
        return self._guarded(
            "resize",
            size,
            lambda: self._resize_on_device(image, size),
            lambda: CpuFrameOps().resize(image, size),
        )

    def finish(
        self, frame: np.ndarray, plan: OutputPlan, options: FusionOptions
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Tone, then pad/crop to plan.canvas_size, then sharpening, for an (H, W, 3) uint8 frame.

        Returns the (canvas_h, canvas_w, 3) uint8 image and seconds per stage with CpuFrameOps' keys
        ("tone", "canvas", "sharpen" when sharpening); the upload counts into "tone" and the download
        into the last stage.
        """
        _check_image(frame)
        tone = (options.brightness, options.contrast, options.saturation)
        on_canvas = plan.fit == "crop" or (plan.fit == "pad" and plan.content_size != plan.canvas_size)
        if not any(tone) and not on_canvas and options.sharpen <= 0:
            return frame, {"tone": 0.0, "canvas": 0.0}  # nothing to do: don't move the frame at all
        return self._guarded(
            "finish",
            plan.canvas_size,
            lambda: self._finish_on_device(frame, plan, options),
            lambda: _cpu_finish(frame, plan, options, self.notes),
        )

    # -- device work ----------------------------------------------------------------------------

    def _resize_on_device(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        images = self._upload(image).to(self.dtype)
        return self._download(tensor_resize(images, size))

    def _finish_on_device(
        self, frame: np.ndarray, plan: OutputPlan, options: FusionOptions
    ) -> tuple[np.ndarray, dict[str, float]]:
        # uint8 between stages: each CPU stage rounds to uint8 too, and pad/crop then move a quarter
        # (float32) or half (float16) of the bytes.
        timings = {}
        begin = time.perf_counter()
        images = self._upload(frame)
        if options.brightness or options.contrast or options.saturation:
            toned = tensor_tone(
                images.to(self.dtype), options.brightness, options.contrast, options.saturation
            )
            images = toned.to(images.dtype)  # whole levels already: exact
        timings["tone"] = self._elapsed(begin)

        begin = time.perf_counter()
        images = self._place_on_canvas(images, plan)
        if options.sharpen <= 0:
            result = self._download(images)
            timings["canvas"] = self._elapsed(begin)
            return result, timings
        timings["canvas"] = self._elapsed(begin)

        begin = time.perf_counter()
        result = self._download(tensor_unsharp(images.to(self.dtype), 1.5 * options.sharpen, 1.0))
        timings["sharpen"] = self._elapsed(begin)
        return result, timings

    @staticmethod
    def _place_on_canvas(images: torch.Tensor, plan: OutputPlan) -> torch.Tensor:
        out_w, out_h = plan.canvas_size
        height, width = images.shape[-2:]
        if plan.fit == "crop":
            x0, y0 = -plan.content_offset[0], -plan.content_offset[1]
            return images[..., y0 : y0 + out_h, x0 : x0 + out_w]
        if plan.fit == "pad" and (width, height) != (out_w, out_h):
            left, top = plan.content_offset
            return tensor_reflect_pad(images, top, out_h - height - top, left, out_w - width - left)
        return images

    def _upload(self, image: np.ndarray) -> torch.Tensor:
        """(H, W, C) uint8 numpy -> (1, C, H, W) uint8 on the device, channels_last (a free view of
        HWC memory)."""
        import torch

        if not image.flags.writeable:  # torch.from_numpy warns on read-only arrays
            image = image.copy()
        host = torch.from_numpy(np.ascontiguousarray(image))
        if self.pin_memory:
            # Page-locked staging lets the copy run as one DMA at full bus speed; torch's caching
            # host allocator reuses these buffers across requests.
            host = host.pin_memory()
        device_image = host.to(self.device, non_blocking=self.pin_memory)
        return device_image.permute(2, 0, 1).unsqueeze(0)

    @staticmethod
    def _download(images: torch.Tensor) -> np.ndarray:
        """(1, C, H, W) tensor -> (H, W, C) uint8 numpy (rounded, clamped), one copy to the host."""
        import torch

        if images.dtype != torch.uint8:
            images = images.round().clamp_(0.0, 255.0).to(torch.uint8)
        return np.asarray(images[0].permute(1, 2, 0).contiguous().cpu().numpy())

    def _elapsed(self, begin: float) -> float:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # kernels run asynchronously: wait before timing
        return time.perf_counter() - begin

    def _guarded(
        self,
        stage: str,
        size: tuple[int, int],
        on_device: Callable[[], _Result],
        on_cpu: Callable[[], _Result],
    ) -> _Result:
        """Run a stage on the device; on out-of-memory (or any torch runtime failure) free the cache,
        note it and run the stage on the CPU instead."""
        try:
            return on_device()
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
            out_of_memory = _is_out_of_memory(error)
            logger.warning("%s on %s failed at %dx%d", stage, self.device, *size, exc_info=True)
        # Outside the except block: the traceback (and the tensors its frames hold) is gone, so the
        # cached blocks can really be returned.
        _release_cached_memory()
        what = "out of memory" if out_of_memory else "error"
        self.notes.append(f"GPU {what} at {size[0]}x{size[1]}; finished this stage on the CPU")
        return on_cpu()


def _cpu_finish(
    frame: np.ndarray, plan: OutputPlan, options: FusionOptions, notes: list[str]
) -> tuple[np.ndarray, dict[str, float]]:
    cpu = CpuFrameOps()
    result = cpu.finish(frame, plan, options)
    notes.extend(cpu.notes)
    return result


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, C) uint8 image, got shape {shape} and dtype {dtype}")
