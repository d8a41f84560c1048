"""Face fusion library: `fuse(source, target, FusionOptions(...)) -> FusionResult`."""

from fusion.errors import (
    EngineFailed,
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
    "EngineFailed",
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
