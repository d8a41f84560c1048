"""A source photo decoded once and its faces found once, for fusing one source into many targets.

`fuse()` takes a `PreparedSource` wherever it takes a source photo and then skips decoding it and
finding its faces again; a batch worker prepares the source once and reuses it for every target.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from fusion.faces import Face, choose_faces, detect_faces
from fusion.io import ImageInput, decode_image
from fusion.options import Detector, FusionOptions


@dataclass(frozen=True)
class PreparedSource:
    """The decoded source (read-only pixels, decoding warnings) and, per detection setting, its faces.

    The faces are found on first use for each (working limit, thorough, detector): options that ask
    for another face index or face finder still get exactly what `fuse()` would find on its own."""

    pixels: np.ndarray  # (H, W, 3) RGB uint8, read-only
    warnings: tuple[str, ...] = ()
    _faces: dict[tuple[int, bool, str], list[Face]] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def faces(self, working_limit: int, thorough: bool, detector: Detector) -> list[Face]:
        """Every face, largest first, as `fusion.faces.detect_faces` finds them (cached)."""
        key = (working_limit, thorough, str(detector))
        with self._lock:
            if key not in self._faces:
                self._faces[key] = detect_faces(self.pixels, working_limit, thorough, detector)
            return self._faces[key]

    def __getstate__(self) -> dict[str, object]:  # sent to worker processes: the lock stays behind
        return {"pixels": self.pixels, "warnings": self.warnings, "_faces": dict(self._faces)}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.pixels.flags.writeable = False  # unpickled arrays come back writable
        object.__setattr__(self, "_lock", threading.Lock())


def prepare_source(source: ImageInput, options: FusionOptions | None = None) -> PreparedSource:
    """Decode the source once. With `options`, also find its faces now and check that the face they
    ask for exists (raises InvalidImage, NoFaceFound or FaceIndexOutOfRange at once)."""
    decoded = decode_image(source, "source")
    pixels = decoded.pixels
    if isinstance(source, np.ndarray) and np.shares_memory(pixels, source):
        pixels = pixels.copy()  # the caller's array stays writable
    pixels.flags.writeable = False  # shared by every target: nothing may draw on it
    prepared = PreparedSource(pixels, decoded.warnings)
    if options is not None:
        faces = prepared.faces(options.working_limit, options.source_face != 0, options.detector)
        choose_faces(faces, options.source_face, "source")
    return prepared
