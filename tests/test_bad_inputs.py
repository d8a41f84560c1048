"""A corpus of bad and odd inputs, generated here (no committed binaries), each through fuse():
every case ends in a correct result or one specific typed error, never anything else."""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fusion import (
    FaceIndexOutOfRange,
    FusionError,
    FusionOptions,
    InvalidImage,
    InvalidOptions,
    NoFaceFound,
    fuse,
)
from fusion.io import decode_image


def _save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    body = (
        _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + _png_chunk(b"IEND", b"")
    )
    return b"\x89PNG\r\n\x1a\n" + body


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[np.ndarray], bytes | np.ndarray]  # from the astronaut (RGB) to the bad input
    expect: type[Exception] | None  # None: a correct result
    needle: str = ""  # part of the message, or of a warning when expect is None


def _rgba_transparent_face(face: np.ndarray) -> bytes:
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[100:300, 150:350, 3] = 0  # the face area is fully transparent
    return _save(Image.fromarray(rgba, "RGBA"), "PNG")


def _animated(face: np.ndarray, fmt: str) -> bytes:
    frames = [Image.fromarray(face), Image.fromarray(255 - face)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:])


def _exif_rotated(face: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; the viewer turns it back 90 degrees
    return _save(Image.fromarray(np.rot90(face, -1).copy()), "JPEG", exif=exif.tobytes(), quality=92)


def _crowd(face: np.ndarray) -> np.ndarray:
    small = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    return np.vstack([np.hstack([small] * 4)] * 3)  # 12 faces


CASES = [
    Case("zero-byte file", lambda f: b"", InvalidImage, "empty"),
    Case("truncated JPEG", lambda f: _save(Image.fromarray(f), "JPEG")[:5000], InvalidImage, "truncated"),
    Case("truncated PNG", lambda f: _save(Image.fromarray(f), "PNG")[:20000], InvalidImage, "truncated"),
    Case("text renamed .jpg", lambda f: b"just some notes\n" * 20, InvalidImage, "not an image"),
    Case("HTML file", lambda f: b"<!doctype html><html><body>hi</body></html>", InvalidImage, "not an image"),
    Case(
        "SVG file",
        lambda f: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        InvalidImage,
        "not an",
    ),
    Case("ZIP file", lambda f: b"PK\x03\x04" + bytes(200), InvalidImage, "not an image"),
    Case("PNG bomb 100000x100000", lambda f: _png_bomb(), InvalidImage, "pixels"),
    Case("12 MB file", lambda f: b"\xff\xd8\xff" + bytes(12 * 1024 * 1024), InvalidImage, "MB limit"),
    Case(
        "TIFF file", lambda f: _save(Image.fromarray(f), "TIFF"), InvalidImage, "TIFF files are not supported"
    ),
    Case("1x1 image", lambda f: _save(Image.new("RGB", (1, 1)), "PNG"), NoFaceFound, "source image"),
    Case(
        "8x8 image", lambda f: _save(Image.new("RGB", (8, 8), (200, 150, 120)), "PNG"), NoFaceFound, "source"
    ),
    Case("CMYK JPEG", lambda f: _save(Image.fromarray(f).convert("CMYK"), "JPEG", quality=95), None),
    Case("16-bit PNG", lambda f: _save(Image.fromarray(f[..., 1].astype(np.uint16) * 257), "PNG"), None),
    Case("grayscale", lambda f: _save(Image.fromarray(f).convert("L"), "PNG"), None),
    Case(
        "palette PNG with transparency",
        lambda f: _save(Image.fromarray(f).quantize(255), "PNG", transparency=0),
        None,
    ),
    Case("RGBA, face fully transparent", _rgba_transparent_face, NoFaceFound, "source image"),
    Case("animated GIF", lambda f: _animated(f, "GIF"), None, "first frame"),
    Case("animated WebP", lambda f: _animated(f, "WEBP"), None, "first frame"),
    Case("EXIF-rotated portrait", _exif_rotated, None),
    Case(
        "photo with no face",
        lambda f: cv2.GaussianBlur(f, (0, 0), 25),
        NoFaceFound,
        "No face found in the source",
    ),
    Case("face cut by the border", lambda f: np.ascontiguousarray(f[:, 170:]), None),
    Case(  # MediaPipe finds it (dlib did not): it fuses, with a warning
        "tiny face (~20 px)",
        lambda f: cv2.resize(f, (110, 110), interpolation=cv2.INTER_AREA),
        None,
        "is small",
    ),
    Case(
        "face too small to find (~7 px)",
        lambda f: cv2.resize(f, (40, 40), interpolation=cv2.INTER_AREA),
        NoFaceFound,
        "40",
    ),
    Case("extreme aspect 4000x100", lambda f: cv2.resize(f, (4000, 100)), NoFaceFound, "source image"),
    Case("float array", lambda f: f.astype(np.float32), InvalidImage, "dtype"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_source_inputs(case: Case, astronaut: np.ndarray, group: np.ndarray) -> None:
    bad = case.make(astronaut)
    if case.expect is None:
        result = fuse(bad, group, FusionOptions(resolution="512"))
        assert result.image.shape == (512, 512, 3)
        assert not case.needle or any(case.needle in note for note in result.warnings)
        return
    with pytest.raises(case.expect) as error:
        fuse(bad, group)
    assert case.needle in str(error.value)


def test_exif_rotation_is_applied_before_detection(astronaut: np.ndarray) -> None:
    decoded = decode_image(_exif_rotated(astronaut), "target").pixels
    assert decoded.shape == astronaut.shape  # upright again, so the face can be found
    result = fuse(astronaut, _exif_rotated(astronaut))
    assert result.image.shape == astronaut.shape


def test_a_crowd_of_twelve(astronaut: np.ndarray, group: np.ndarray) -> None:
    result = fuse(group, _crowd(astronaut), FusionOptions(target_face="all"))
    assert len(result.target_faces) >= 10


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"resolution": "0x0"}, "resolution"),
        ({"resolution": "-5x100"}, "resolution"),
        ({"resolution": "100000x100000"}, "resolution"),
        ({"resolution": "abc"}, "resolution"),
        ({"blend_ratio": math.nan}, "blend_ratio"),
        ({"blend_ratio": 1.5}, "blend_ratio"),
        ({"skin_smoothing": -1}, "skin_smoothing"),
        ({"brightness": 2}, "brightness"),
        ({"sharpen": math.inf}, "sharpen"),
        ({"target_face": -3}, "target_face"),
    ],
)
def test_bad_settings(options: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidOptions, match=needle):
        FusionOptions(**options)  # type: ignore[arg-type]


def test_face_index_beyond_the_faces(astronaut: np.ndarray, group: np.ndarray) -> None:
    with pytest.raises(FaceIndexOutOfRange):
        fuse(group, astronaut, FusionOptions(target_face=3))


# --- property-based: whatever the bytes, decoding gives an RGB image or InvalidImage, nothing else ---

_VALID = {
    "png": _save(Image.fromarray(np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)), "PNG"),
    "jpeg": _save(Image.fromarray(np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)), "JPEG"),
    "webp": _save(Image.new("RGB", (40, 30), (10, 200, 30)), "WEBP"),
    "gif": _save(Image.new("P", (20, 20)), "GIF"),
    "bmp": _save(Image.new("RGB", (20, 20)), "BMP"),
}


def _check_decodes_or_refuses(data: bytes) -> None:
    try:
        pixels = decode_image(data, "source").pixels
    except InvalidImage:
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check_decodes_or_refuses(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(_VALID)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_images(fmt: str, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_VALID[fmt])
    for position, value in flips:
        data[position % len(data)] = value
    _check_decodes_or_refuses(bytes(data[: max(1, len(data) - cut)]))


def test_every_error_is_a_fusion_error() -> None:
    for kind in (InvalidImage, InvalidOptions, NoFaceFound, FaceIndexOutOfRange):
        assert issubclass(kind, FusionError)
