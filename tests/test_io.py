"""Decoding and validating inputs; encoding and writing outputs."""

from __future__ import annotations

import errno
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusion import InvalidImage, OutputError
from fusion.io import MAX_FILE_BYTES, decode_image, encode_image, format_for_path, write_atomic


def _encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 4 % 256, ys * 5 % 256, (xs + ys) % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP"])
def test_lossless_formats_decode_exactly(fmt: str) -> None:
    pixels = _gradient()
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode_image(_encoded(Image.fromarray(pixels), fmt, **kwargs), "source")
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert decoded.pixels.flags.writeable


def test_format_is_read_from_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"  # really a PNG
    path.write_bytes(_encoded(Image.fromarray(_gradient()), "PNG"))
    np.testing.assert_array_equal(decode_image(path, "source").pixels, _gradient())


def test_exif_orientation_is_applied() -> None:
    pixels = _gradient(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encoded(Image.fromarray(pixels), "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(data, "target").pixels
    assert decoded.shape == (60, 40, 3)


def test_alpha_is_composited_on_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255  # top half opaque red-ish, bottom fully transparent
    decoded = decode_image(_encoded(Image.fromarray(rgba, "RGBA"), "PNG"), "source").pixels
    assert tuple(decoded[0, 0]) == (200, 0, 0)
    assert tuple(decoded[7, 7]) == (255, 255, 255)


def test_grayscale_and_16_bit_become_rgb() -> None:
    gray = decode_image(_encoded(Image.fromarray(_gradient()[..., 0]), "PNG"), "source").pixels
    assert gray.shape == (48, 64, 3)
    wide = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)
    decoded = decode_image(_encoded(Image.fromarray(wide), "PNG"), "source").pixels
    assert decoded.shape == (48, 64, 3)
    assert decoded.max() > 200  # scaled down, not clipped at 255 from the low byte
    np.testing.assert_allclose(decoded[..., 0].astype(int), (wide / 257.0).round(), atol=1)


def test_palette_with_transparency() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.info["transparency"] = 0
    decoded = decode_image(_encoded(image, "PNG", transparency=0), "source").pixels
    assert tuple(decoded[0, 0]) == (255, 255, 255)


def test_animated_gif_uses_first_frame_and_says_so() -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue(), "target")
    assert decoded.pixels[0, 0, 0] > 200
    assert any("animated" in note for note in decoded.warnings)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (b"<html><body>hi</body></html>", "not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "not an image"),
        (b"PK\x03\x04" + b"\x00" * 100, "not an image"),
        (_png_header_claiming(100_000, 100_000), "pixels"),
        (_png_header_claiming(8000, 6000), "megapixel limit"),
    ],
)
def test_bad_bytes_get_a_specific_message(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidImage) as error:
        decode_image(data, "source")
    assert needle in str(error.value)
    assert str(error.value).startswith("source image:")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(fmt: str) -> None:
    data = _encoded(Image.fromarray(_gradient(256, 256)), fmt)
    with pytest.raises(InvalidImage) as error:
        decode_image(data[: len(data) // 2], "target")
    assert "truncated or corrupt" in str(error.value)


def test_too_big_files_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"\xff" * (MAX_FILE_BYTES + 1))
    with pytest.raises(InvalidImage) as error:
        decode_image(path, "target")
    assert "MB limit" in str(error.value)


def test_missing_file() -> None:
    with pytest.raises(InvalidImage, match="does not exist"):
        decode_image("/no/such/photo.png", "source")


def test_arrays_are_validated_and_converted() -> None:
    rgba = np.full((4, 4, 4), 255, np.uint8)
    assert decode_image(rgba, "source").pixels.shape == (4, 4, 3)
    assert decode_image(np.zeros((4, 4), np.uint8), "source").pixels.shape == (4, 4, 3)
    with pytest.raises(InvalidImage, match="dtype"):
        decode_image(np.zeros((4, 4, 3), np.float32), "source")
    with pytest.raises(InvalidImage, match="shape"):
        decode_image(np.zeros((4, 4, 7), np.uint8), "source")


def test_png_carries_our_text_but_no_input_metadata() -> None:
    data = encode_image(_gradient(), "png", {"fusion-options": '{"blend_ratio": 0.5}'})
    with Image.open(io.BytesIO(data)) as image:
        assert image.text["fusion-options"] == '{"blend_ratio": 0.5}'
        assert not image.getexif()
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), _gradient())


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lossy_formats_have_no_exif(fmt: str) -> None:
    data = encode_image(_gradient(), fmt)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt.upper()
        assert not image.getexif()


def test_format_for_path() -> None:
    assert format_for_path("a/b.JPG") == "jpeg"
    assert format_for_path("x.webp") == "webp"
    assert format_for_path("x.png") == format_for_path("x") == "png"


def test_write_atomic_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    write_atomic(target, b"complete")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(OutputError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "out.png", b"x")


def test_unwritable_folder_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("fusion.io.tempfile.mkstemp", refuse)
    with pytest.raises(OutputError, match="Cannot write .*Permission denied"):
        write_atomic(tmp_path / "out.png", b"x")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("fusion.io.os.replace", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        write_atomic(tmp_path / "out.png", b"data")
    assert list(tmp_path.iterdir()) == []
