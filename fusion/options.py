"""Fusion options: every choice is defined once here and the CLI, the UI and the validator use it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Literal, get_args

from fusion.errors import InvalidOptions

Mode = Literal["normal", "blend", "overlay"]
Fit = Literal["pad", "crop", "stretch"]
OutputFormat = Literal["png", "jpeg", "webp"]
Device = Literal["auto", "cpu", "cuda"]
Upscaler = Literal["lanczos", "realesrgan"]
Engine = Literal["auto", "classic", "inswapper", "modelscope"]

MODES: tuple[str, ...] = get_args(Mode)
FITS: tuple[str, ...] = get_args(Fit)
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
DEVICES: tuple[str, ...] = get_args(Device)
UPSCALERS: tuple[str, ...] = get_args(Upscaler)
ENGINE_CHOICES: tuple[str, ...] = get_args(Engine)  # "auto" first, then the registry's engines
RESOLUTION_PRESETS: tuple[str, ...] = ("original", "512", "1024", "2048", "4096")

MIN_OUTPUT_SIDE = 16
MAX_OUTPUT_SIDE = 4096
_CUSTOM_RESOLUTION = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")

# (field, low, high) for every float option; all ranges are inclusive.
_FLOAT_RANGES: tuple[tuple[str, float, float], ...] = (
    ("blend_ratio", 0.0, 1.0),
    ("skin_smoothing", 0.0, 1.0),
    ("brightness", -1.0, 1.0),
    ("contrast", -1.0, 1.0),
    ("saturation", -1.0, 1.0),
    ("sharpen", 0.0, 1.0),
    ("mask_size", 0.5, 1.5),
)


def parse_resolution(resolution: str) -> tuple[int, int] | None:
    """Return the output (width, height), or None for 'original'. Raises InvalidOptions."""
    text = str(resolution).strip().lower()
    if text == "original":
        return None
    if text.isdigit():
        width = height = int(text)
    else:
        match = _CUSTOM_RESOLUTION.match(text)
        if not match:
            raise InvalidOptions(
                f"resolution={resolution!r} is not understood: use one of "
                f"{', '.join(RESOLUTION_PRESETS)} or a custom size such as 1024x1792"
            )
        width, height = int(match.group(1)), int(match.group(2))
    for side in (width, height):
        if not MIN_OUTPUT_SIDE <= side <= MAX_OUTPUT_SIDE:
            raise InvalidOptions(
                f"resolution={resolution!r}: each side must be between {MIN_OUTPUT_SIDE} and "
                f"{MAX_OUTPUT_SIDE} pixels"
            )
    return width, height


def _check_face_index(name: str, value: object, allow_all: bool) -> None:
    if allow_all and value == "all":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        extra = ' or "all"' if allow_all else ""
        raise InvalidOptions(f"{name}={value!r} must be a face index 0, 1, 2, ...{extra}")


@dataclass(frozen=True)
class FusionOptions:
    """What the user asked for. Validated once, here; nothing downstream re-checks."""

    blend_ratio: float = 1.0
    mode: Mode = "normal"
    skin_smoothing: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    sharpen: float = 0.0
    resolution: str = "original"
    fit: Fit = "pad"
    source_face: int = 0
    target_face: int | Literal["all"] = 0
    engine: Engine = "auto"  # "auto": the best engine whose models are here (see fusion.engines)
    mask_size: float = 1.0
    working_limit: int = 2048
    device: Device = "auto"
    upscaler: Upscaler = "lanczos"  # how a face drawn larger than the source has it is enlarged

    def __post_init__(self) -> None:
        for name, low, high in _FLOAT_RANGES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidOptions(f"{name}={value!r} must be a number between {low} and {high}")
            if math.isnan(value) or not low <= value <= high:
                raise InvalidOptions(f"{name}={value!r} is out of range: use {low} to {high}")
            object.__setattr__(self, name, float(value))
        if self.mode not in MODES:
            raise InvalidOptions(f"mode={self.mode!r} is not one of {', '.join(MODES)}")
        if self.fit not in FITS:
            raise InvalidOptions(f"fit={self.fit!r} is not one of {', '.join(FITS)}")
        if self.device not in DEVICES:
            raise InvalidOptions(f"device={self.device!r} is not one of {', '.join(DEVICES)}")
        if self.upscaler not in UPSCALERS:
            raise InvalidOptions(f"upscaler={self.upscaler!r} is not one of {', '.join(UPSCALERS)}")
        parse_resolution(self.resolution)
        _check_face_index("source_face", self.source_face, allow_all=False)
        _check_face_index("target_face", self.target_face, allow_all=True)
        if self.engine not in ENGINE_CHOICES:
            raise InvalidOptions(
                f"engine={self.engine!r} is unknown: choose one of {', '.join(ENGINE_CHOICES)}"
            )
        if isinstance(self.working_limit, bool) or not isinstance(self.working_limit, int):
            raise InvalidOptions(f"working_limit={self.working_limit!r} must be an integer")
        if not 256 <= self.working_limit <= 8192:
            raise InvalidOptions(f"working_limit={self.working_limit} must be between 256 and 8192")

    @property
    def output_size(self) -> tuple[int, int] | None:
        return parse_resolution(self.resolution)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
