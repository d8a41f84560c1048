"""What every engine provides, and what it hands back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from fusion.blend import face_mask
from fusion.errors import Availability
from fusion.geometry import face_crop_box, with_forehead

if TYPE_CHECKING:
    from fusion.faces import Face
    from fusion.options import FusionOptions


@dataclass(frozen=True)
class FacePatch:
    """A rectangle of the target frame with one face fused in.

    `pixels` equals the target outside the face area, so the pipeline can paste the whole rectangle.
    """

    pixels: np.ndarray  # (h, w, 3) uint8 RGB
    origin: tuple[int, int]  # x0, y0 of the rectangle in the target frame
    face_mask: np.ndarray  # (h, w) float32 0..1: where the new face is
    landmarks: np.ndarray  # (78, 2) float32 frame coordinates of the fused face (68 + forehead)


@dataclass(frozen=True)
class FaceRegion:
    """The rectangle of the target an engine works in, around one face (every engine's first step)."""

    crop: np.ndarray  # (h, w, 3) uint8 RGB, a view into the target
    origin: tuple[int, int]  # x0, y0 in the target frame
    points: np.ndarray  # (78, 2) frame coordinates of the face the patch will show
    face_size: float

    @property
    def local(self) -> np.ndarray:
        """`points` in crop coordinates."""
        return self.points - np.array(self.origin, np.float32)

    def mask(self, mask_size: float) -> np.ndarray:
        """The feathered face mask over the crop (fusion.blend.face_mask)."""
        return face_mask(self.local, self.crop.shape[1], self.crop.shape[0], self.face_size, mask_size)

    def unchanged(self, mask: np.ndarray) -> FacePatch:
        """The target itself: what blend ratio 0 gives."""
        return FacePatch(self.crop.copy(), self.origin, mask, self.points)


UNCHANGED_MARGIN = 0.35  # face sizes around an unchanged face (room for the mask's feather)


@dataclass(frozen=True)
class FaceRequest:
    """One face to fuse: the source photo and its face, the target frame and the face in it (both
    in their own pixel coordinates), and the options."""

    source: np.ndarray  # (H, W, 3) RGB uint8
    source_face: Face
    target: np.ndarray  # (H, W, 3) RGB uint8, the frame at output scale
    target_face: Face
    options: FusionOptions
    # Hands over the target face (hands.hands_near's points, frame pixels): the pipeline finds them
    # once and puts them back in front of whatever an engine draws; an engine may leave them out.
    target_hands: tuple[np.ndarray, ...] = ()

    def unpack(self) -> tuple[np.ndarray, Face, np.ndarray, Face, FusionOptions]:
        return self.source, self.source_face, self.target, self.target_face, self.options

    def unchanged(self) -> FacePatch:
        """The target face as it is, with its mask: what blend ratio 0 gives, whatever the engine."""
        region = self.region(UNCHANGED_MARGIN)
        return region.unchanged(region.mask(self.options.mask_size))

    def region(self, margin: float) -> FaceRegion:
        """The target face's region (landmarks and forehead) grown by `margin` face sizes."""
        face = self.target_face
        return face_region(self.target, with_forehead(face.landmarks), face.size, margin)


def face_region(
    target: np.ndarray, points: np.ndarray, face_size: float, margin: float, also: np.ndarray | None = None
) -> FaceRegion:
    """The region around `points` (and `also`, e.g. where they move to) grown by `margin` face sizes."""
    height, width = target.shape[:2]
    extent = points if also is None else np.vstack([points, also])
    x0, y0, x1, y1 = face_crop_box(extent, margin * face_size, width, height)
    return FaceRegion(target[y0:y1, x0:x1], (x0, y0), points, face_size)


class Engine(Protocol):
    name: str
    # True when the engine enlarges its own output (a model with a fixed output size); otherwise the
    # pipeline hands it a source whose face region the chosen upscaler already enlarged.
    upscales_itself: bool

    def availability(self) -> Availability: ...

    def fuse_face(self, request: FaceRequest) -> FacePatch:
        """The face fused in; never called with blend ratio 0 (the pipeline keeps the target)."""
        ...
