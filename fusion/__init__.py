"""Face fusion library: `fuse(source, target, FusionOptions(...)) -> FusionResult`.

Everything a front end (the CLI, the web UI, a script) needs is exported here; the model store is
`fusion.models`, the option choices `fusion.options`, the error types `fusion.errors`.
"""

from fusion.device import cuda_available
from fusion.engines import ENGINE_NAMES, auto_engine, engine_availability
from fusion.errors import (
    Availability,
    EngineFailed,
    EngineUnavailable,
    FaceIndexOutOfRange,
    FusionError,
    InvalidImage,
    InvalidOptions,
    NoFaceFound,
    OutputError,
)
from fusion.faces import DetectedFaces, Face, detect, detector_availability
from fusion.identity import SAME_PERSON_DISTANCE, IdentityCheck, check_identity
from fusion.io import (
    EXTENSIONS,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    decode_image,
    encode_image,
    format_for_path,
    header_size,
    write_atomic,
)
from fusion.options import FusionOptions
from fusion.pipeline import FusionResult, fuse
from fusion.prepared import PreparedSource, prepare_source
from fusion.samples import sample_path
from fusion.upscale import availability as upscaler_availability

__all__ = [
    "ENGINE_NAMES",
    "EXTENSIONS",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "SAME_PERSON_DISTANCE",
    "Availability",
    "DetectedFaces",
    "EngineFailed",
    "EngineUnavailable",
    "Face",
    "FaceIndexOutOfRange",
    "FusionError",
    "FusionOptions",
    "FusionResult",
    "IdentityCheck",
    "InvalidImage",
    "InvalidOptions",
    "NoFaceFound",
    "OutputError",
    "PreparedSource",
    "auto_engine",
    "check_identity",
    "cuda_available",
    "decode_image",
    "detect",
    "detector_availability",
    "encode_image",
    "engine_availability",
    "format_for_path",
    "fuse",
    "header_size",
    "prepare_source",
    "sample_path",
    "upscaler_availability",
    "write_atomic",
]
