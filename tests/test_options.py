"""FusionOptions validation and resolution parsing."""

from __future__ import annotations

import math

import pytest

from fusion import FusionOptions, InvalidOptions
from fusion.options import parse_resolution


def test_defaults_match_the_documented_interface() -> None:
    options = FusionOptions()
    assert options.blend_ratio == 1.0
    assert options.mode == "normal"
    assert (options.skin_smoothing, options.brightness, options.contrast) == (0.0, 0.0, 0.0)
    assert (options.saturation, options.sharpen) == (0.0, 0.0)
    assert (options.resolution, options.fit) == ("original", "pad")
    assert (options.source_face, options.target_face, options.engine) == (0, 0, "auto")
    assert options.output_size is None


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        FusionOptions().blend_ratio = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("blend_ratio", 1.5),
        ("blend_ratio", -0.1),
        ("blend_ratio", math.nan),
        ("skin_smoothing", 2.0),
        ("brightness", -1.01),
        ("contrast", math.inf),
        ("saturation", "a lot"),
        ("sharpen", True),
        ("mask_size", 3.0),
    ],
)
def test_out_of_range_numbers_name_the_field_and_value(field: str, value: object) -> None:
    with pytest.raises(InvalidOptions) as error:
        FusionOptions(**{field: value})  # type: ignore[arg-type]
    assert field in str(error.value)
    assert repr(value) in str(error.value) or str(value) in str(error.value)


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("mode", "multiply", "normal, blend, overlay"),
        ("fit", "zoom", "pad, crop, stretch"),
        ("engine", "magic", "classic"),
        ("source_face", -1, "face index"),
        ("source_face", "all", "face index"),
        ("target_face", "some", '"all"'),
        ("device", "tpu", "auto, cpu, cuda"),
    ],
)
def test_bad_choices_list_the_valid_ones(field: str, value: object, hint: str) -> None:
    with pytest.raises(InvalidOptions) as error:
        FusionOptions(**{field: value})  # type: ignore[arg-type]
    assert field in str(error.value)
    assert hint in str(error.value)


def test_target_face_all_is_accepted() -> None:
    assert FusionOptions(target_face="all").target_face == "all"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("original", None),
        ("512", (512, 512)),
        ("4096", (4096, 4096)),
        ("1024x1792", (1024, 1792)),
        (" 800 X 600 ", (800, 600)),
        ("640*480", (640, 480)),
    ],
)
def test_parse_resolution(text: str, size: tuple[int, int] | None) -> None:
    assert parse_resolution(text) == size
    assert FusionOptions(resolution=text).output_size == size


@pytest.mark.parametrize("text", ["0x0", "-5x100", "100000x100000", "abc", "8192", "10x10", "1024x", ""])
def test_bad_resolutions_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidOptions) as error:
        FusionOptions(resolution=text)
    assert "resolution" in str(error.value)
