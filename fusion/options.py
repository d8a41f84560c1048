"""Fusion options: every choice is defined once here and the CLI, the UI and the validator use it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

from fusion.errors import InvalidOptions

Mode = Literal["normal", "blend", "overlay"]
Fit = Literal["pad", "crop", "stretch"]
OutputFormat = Literal["png", "jpeg", "webp"]
Device = Literal["auto", "cpu", "cuda"]
Upscaler = Literal["lanczos", "realesrgan"]
Engine = Literal["auto", "classic", "inswapper", "modelscope"]
Detector = Literal["mediapipe", "dlib"]
Mouth = Literal["auto", "source", "target"]
Eyes = Literal["auto", "source", "target"]
Nose = Literal["auto", "source", "target"]

MODES: tuple[str, ...] = get_args(Mode)
FITS: tuple[str, ...] = get_args(Fit)
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
DEVICES: tuple[str, ...] = get_args(Device)
UPSCALERS: tuple[str, ...] = get_args(Upscaler)
ENGINE_CHOICES: tuple[str, ...] = get_args(Engine)  # "auto" first, then the registry's engines
DETECTORS: tuple[str, ...] = get_args(Detector)
MOUTHS: tuple[str, ...] = get_args(Mouth)
EYES: tuple[str, ...] = get_args(Eyes)
NOSES: tuple[str, ...] = get_args(Nose)
RESOLUTION_PRESETS: tuple[str, ...] = ("original", "512", "1024", "2048", "4096")

MIN_OUTPUT_SIDE = 16
MAX_OUTPUT_SIDE = 4096
_CUSTOM_RESOLUTION = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")


@dataclass(frozen=True)
class Control:
    """One user-facing option: the FusionOptions field, its command-line flag and help, and its
    choices or (inclusive) range. The CLI's flags are made from this table; the web UI's controls
    are bound to the same field names."""

    name: str
    flag: str
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


CONTROLS: tuple[Control, ...] = (
    Control(
        "blend_ratio", "--blend", "0 = the target unchanged ... 1 = the source's identity", low=0, high=1
    ),
    Control("mode", "--mode", "how the face is blended in", choices=MODES),
    Control("skin_smoothing", "--smoothing", "skin smoothing 0..1", low=0, high=1),
    Control("brightness", "--brightness", "-1..1, whole image", low=-1, high=1),
    Control("contrast", "--contrast", "-1..1, whole image", low=-1, high=1),
    Control("saturation", "--saturation", "-1..1, whole image", low=-1, high=1),
    Control("sharpen", "--sharpen", "0..1, unsharp mask on the output", low=0, high=1),
    Control("resolution", "--resolution", f"{'|'.join(RESOLUTION_PRESETS)} or WxH (e.g. 1024x1792)"),
    Control("fit", "--fit", "pad: keep the aspect, mirror-pad; crop: cover; stretch", choices=FITS),
    Control("source_face", "--source-face", "face index in the source, largest first"),
    Control("target_face", "--target-face", "face index in the target, largest first, or all"),
    Control(
        "engine",
        "--engine",
        "auto: inswapper, else modelscope, else classic, by which models are here",
        choices=ENGINE_CHOICES,
    ),
    Control(
        "upscaler", "--upscaler", "how a face drawn larger than the source is enlarged", choices=UPSCALERS
    ),
    Control("mask_size", "--mask-size", "0.5..1.5, how far the face mask reaches", low=0.5, high=1.5),
    Control(
        "mouth",
        "--mouth",
        "whose mouth: source (default), target (kept in place), or auto (the target's when one is open "
        "and the other closed)",
        choices=MOUTHS,
    ),
    Control(
        "eyes",
        "--eyes",
        "whose eyes (gaze): auto (default: the target's when the source is turned far past the target "
        "and its hidden side is drawn from its mirror image), source, or target",
        choices=EYES,
    ),
    Control(
        "nose",
        "--nose",
        "whose nose: auto (default: the target's when the source is turned far past the target, whose "
        "nose a 2-D warp can only draw from the side), source, or target",
        choices=NOSES,
    ),
    Control("device", "--device", "cpu: never use a GPU", choices=DEVICES),
    Control(
        "detector",
        "--detector",
        "what finds faces and landmarks: mediapipe (default) or dlib (optional extra, non-commercial model)",
        choices=DETECTORS,
    ),
)
_FLOAT_RANGES = tuple(
    (c.name, float(c.low), float(c.high)) for c in CONTROLS if c.low is not None and c.high is not None
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


def parse_face_index(value: object, role: str, allow_all: bool) -> int | str:
    """A face index from a form or a command line: "2", "2 (left)", 2, or "all" where allowed."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else "0"
    if allow_all and text.startswith("all"):
        return "all"
    text = text.split()[0] if text else "0"  # "2 (left)" -> "2"
    if not text.isdigit():
        extra = ' or "all"' if allow_all else ""
        raise InvalidOptions(f"{role}_face={value!r} must be a face index 0, 1, 2, ...{extra}")
    return int(text)


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
    mouth: Mouth = "source"  # whose mouth the result shows (the classic engine)
    eyes: Eyes = "auto"  # whose eyes, that is gaze, the result shows (the classic engine)
    nose: Nose = "auto"  # whose nose the result shows (the classic engine)
    working_limit: int = 2048
    device: Device = "auto"
    upscaler: Upscaler = "lanczos"  # how a face drawn larger than the source has it is enlarged
    detector: Detector = "mediapipe"  # what finds faces and landmarks (fusion.faces)

    def __post_init__(self) -> None:
        for name, low, high in _FLOAT_RANGES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidOptions(f"{name}={value!r} must be a number between {low} and {high}")
            if math.isnan(value) or not low <= value <= high:
                raise InvalidOptions(f"{name}={value!r} is out of range: use {low} to {high}")
            object.__setattr__(self, name, float(value))
        for control in CONTROLS:
            value = getattr(self, control.name)
            if control.choices and value not in control.choices:
                raise InvalidOptions(f"{control.name}={value!r} is not one of {', '.join(control.choices)}")
        if isinstance(self.resolution, int) and not isinstance(self.resolution, bool):
            object.__setattr__(self, "resolution", str(self.resolution))  # 1024 means "1024"
        if not isinstance(self.resolution, str):
            raise InvalidOptions(f"resolution={self.resolution!r} must be text such as '1024' or '1024x1792'")
        # Parsed once: every later read of output_size uses this.
        object.__setattr__(self, "_output_size", parse_resolution(self.resolution))
        _check_face_index("source_face", self.source_face, allow_all=False)
        _check_face_index("target_face", self.target_face, allow_all=True)
        if isinstance(self.working_limit, bool) or not isinstance(self.working_limit, int):
            raise InvalidOptions(f"working_limit={self.working_limit!r} must be an integer")
        if not 256 <= self.working_limit <= 8192:
            raise InvalidOptions(f"working_limit={self.working_limit} must be between 256 and 8192")

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(width, height) of the output, or None for the target's own size."""
        return self._output_size  # type: ignore[attr-defined, no-any-return]

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> FusionOptions:
        """Options from a front end's values by field name, as a form or a command line gives them
        (face indices and resolutions may be text). Unknown names raise InvalidOptions."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidOptions(
                f"unknown option(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}"
            )
        parsed = dict(values)
        if "source_face" in parsed:
            parsed["source_face"] = parse_face_index(parsed["source_face"], "source", allow_all=False)
        if "target_face" in parsed:
            parsed["target_face"] = parse_face_index(parsed["target_face"], "target", allow_all=True)
        return cls(**parsed)  # type: ignore[arg-type]
