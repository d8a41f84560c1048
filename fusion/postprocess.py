"""Output geometry: aspect-preserving fit, reflect padding, crop, stretch and sharpening.

The pipeline first scales the target to the size its content will have in the output ("content
size"), fuses the face at that size, then pads or crops to the exact canvas. Upscaling the frame is
stage 1 of the two-stage upscale; fusing the face at the final size from the full-resolution source
is stage 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from fusion.blend import unsharp
from fusion.retouch import adjust_tone

if TYPE_CHECKING:
    from fusion.options import FusionOptions


@dataclass(frozen=True)
class OutputPlan:
    content_size: tuple[int, int]  # (width, height) the target is scaled to before fusing
    canvas_size: tuple[int, int]  # (width, height) of the final image
    fit: str

    @property
    def content_offset(self) -> tuple[int, int]:
        """Where the content's top-left corner lands on the canvas (negative when cropped)."""
        if self.fit == "pad":
            return (self.canvas_size[0] - self.content_size[0]) // 2, (
                self.canvas_size[1] - self.content_size[1]
            ) // 2
        if self.fit == "crop":
            return -((self.content_size[0] - self.canvas_size[0]) // 2), -(
                (self.content_size[1] - self.canvas_size[1]) // 2
            )
        return 0, 0


def plan_output(target_size: tuple[int, int], output_size: tuple[int, int] | None, fit: str) -> OutputPlan:
    """Where the target's pixels go. Sizes are (width, height)."""
    width, height = target_size
    if output_size is None:
        return OutputPlan(target_size, target_size, "original")
    out_w, out_h = output_size
    if fit == "stretch":
        return OutputPlan(output_size, output_size, fit)
    if fit == "pad":
        scale = min(out_w / width, out_h / height)
        content = (min(out_w, max(1, round(width * scale))), min(out_h, max(1, round(height * scale))))
    else:  # crop: cover the canvas
        scale = max(out_w / width, out_h / height)
        content = (max(out_w, round(width * scale)), max(out_h, round(height * scale)))
    return OutputPlan(content, output_size, fit)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area averaging when shrinking, Lanczos when enlarging."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(image, size, interpolation=interpolation)


def reflect_pad(image: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Mirror padding of any amount. Reflection can add at most size-1 pixels at a time, so large
    pads are done in steps; a 1-pixel-wide side can't be mirrored and is replicated instead."""
    while top or bottom or left or right:
        height, width = image.shape[:2]
        reach_y, reach_x = height - 1, width - 1
        if (reach_y == 0 and (top or bottom)) or (reach_x == 0 and (left or right)):
            return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
        t, b, lf, r = min(top, reach_y), min(bottom, reach_y), min(left, reach_x), min(right, reach_x)
        image = cv2.copyMakeBorder(image, t, b, lf, r, cv2.BORDER_REFLECT_101)
        top, bottom, left, right = top - t, bottom - b, left - lf, right - r
    return image


def place_on_canvas(image: np.ndarray, plan: OutputPlan) -> np.ndarray:
    """Pad (centred, reflect) or centre-crop the content to exactly the canvas size."""
    out_w, out_h = plan.canvas_size
    height, width = image.shape[:2]
    if plan.fit == "crop":
        x0, y0 = -plan.content_offset[0], -plan.content_offset[1]
        return np.ascontiguousarray(image[y0 : y0 + out_h, x0 : x0 + out_w])
    if plan.fit == "pad" and (width, height) != (out_w, out_h):
        left, top = plan.content_offset
        return reflect_pad(image, top, out_h - height - top, left, out_w - width - left)
    return image


def sharpen(image: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp mask, 0..1 mapped to a gain of 0..1.5 with a fine radius (keeps halos away)."""
    return unsharp(image, 1.5 * amount, 1.0)


def lay_out(image: np.ndarray, size: tuple[int, int], fit: str, output_sized: bool) -> np.ndarray:
    """`image` laid out on a canvas of `size` as a result of it would be (same fit; a result at the
    photo's own size, `output_sized` False, is the photo scaled)."""
    plan = plan_output((image.shape[1], image.shape[0]), size, fit if output_sized else "stretch")
    return place_on_canvas(resize(image, plan.content_size), plan)


class FrameOps(Protocol):
    """The full-frame stages, on one device. `notes` collects warnings (e.g. a fallback to the CPU)."""

    notes: list[str]

    def resize(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray: ...

    def finish(
        self, frame: np.ndarray, plan: OutputPlan, options: FusionOptions
    ) -> tuple[np.ndarray, dict[str, float]]: ...


@dataclass
class CpuFrameOps:
    """OpenCV on the CPU: measured faster here than torch on the CPU for every full-frame stage."""

    notes: list[str] = field(default_factory=list)

    def resize(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return resize(image, size)

    def finish(
        self, frame: np.ndarray, plan: OutputPlan, options: FusionOptions
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Tone adjustments, then pad/crop to the canvas, then sharpening; timed per stage."""
        timings = {}
        begin = time.perf_counter()
        frame = adjust_tone(frame, options.brightness, options.contrast, options.saturation)
        timings["tone"] = time.perf_counter() - begin
        begin = time.perf_counter()
        image = place_on_canvas(frame, plan)
        timings["canvas"] = time.perf_counter() - begin
        if options.sharpen > 0:
            begin = time.perf_counter()
            image = sharpen(image, options.sharpen)
            timings["sharpen"] = time.perf_counter() - begin
        return image, timings
