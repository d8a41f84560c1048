"""One-click presets from the original tool's recommendations. Unnamed controls go back to defaults,
so a preset always gives the same look whatever was set before."""

from __future__ import annotations

from types import MappingProxyType

from fusion import FusionOptions

# The controls a preset sets, in the order the UI lists them as outputs.
PRESET_FIELDS: tuple[str, ...] = (
    "resolution",
    "blend_ratio",
    "mode",
    "skin_smoothing",
    "brightness",
    "contrast",
    "saturation",
    "sharpen",
)

PRESETS = MappingProxyType(
    {
        "social": {
            "resolution": "512",
            "blend_ratio": 0.5,
            "skin_smoothing": 0.4,
            "brightness": 0.1,
            "contrast": 0.05,
        },
        "art": {
            "resolution": "1024",
            "blend_ratio": 0.7,
            "mode": "blend",
            "skin_smoothing": 0.3,
            "saturation": 0.2,
        },
        "restore": {
            "resolution": "2048",
            "blend_ratio": 0.6,
            "skin_smoothing": 0.6,
            "brightness": 0.15,
            "contrast": 0.1,
        },
    }
)


def preset_values(name: str) -> tuple[object, ...]:
    """Control values for preset `name`, in PRESET_FIELDS order (validated by FusionOptions)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    options = FusionOptions(**PRESETS[name])  # type: ignore[arg-type]
    return tuple(getattr(options, field) for field in PRESET_FIELDS)
