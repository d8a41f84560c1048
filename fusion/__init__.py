"""Face fusion library: `fuse(source, target, FusionOptions(...)) -> FusionResult`."""

from fusion.errors import (
    EngineUnavailable,
    FaceIndexOutOfRange,
    FusionError,
    InvalidImage,
    InvalidOptions,
    NoFaceFound,
    OutputError,
)
from fusion.options import FusionOptions
from fusion.pipeline import FusionResult, fuse

__all__ = [
    "EngineUnavailable",
    "FaceIndexOutOfRange",
    "FusionError",
    "FusionOptions",
    "FusionResult",
    "InvalidImage",
    "InvalidOptions",
    "NoFaceFound",
    "OutputError",
    "fuse",
]
