"""What every engine provides, and what it hands back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from fusion.faces import Face
    from fusion.options import FusionOptions


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""
    remedy: str = ""
    # Unavailable, but partly set up (a model present, or corrupt): worth telling an "auto" request.
    partial: bool = False


@dataclass(frozen=True)
class FacePatch:
    """A rectangle of the target frame with one face fused in.

    `pixels` equals the target outside the face area, so the pipeline can paste the whole rectangle.
    """

    pixels: np.ndarray  # (h, w, 3) uint8 RGB
    origin: tuple[int, int]  # x0, y0 of the rectangle in the target frame
    face_mask: np.ndarray  # (h, w) float32 0..1: where the new face is
    landmarks: np.ndarray  # (78, 2) float32 frame coordinates of the fused face (68 + forehead)


class Engine(Protocol):
    name: str
    # True when the engine enlarges its own output (a model with a fixed output size); otherwise the
    # pipeline hands it a source whose face region the chosen upscaler already enlarged.
    upscales_itself: bool

    def availability(self) -> Availability: ...

    def fuse_face(
        self,
        source: np.ndarray,
        source_face: Face,
        target: np.ndarray,
        target_face: Face,
        options: FusionOptions,
    ) -> FacePatch: ...
