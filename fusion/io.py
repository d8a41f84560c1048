"""Decode and validate input images; encode and atomically write results.

Inputs are recognised by content, not by file name. Everything becomes an RGB uint8 array: EXIF
orientation applied, alpha composited on white, grayscale and 16-bit converted.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fusion.errors import InvalidImage, OutputError

ImageInput = str | os.PathLike | bytes | bytearray | np.ndarray

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # ~ 7300 x 5500; larger is refused before decoding (decompression bombs)
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"}  # MPO: phone JPEGs with a depth frame
_REMEDY_FORMAT = "Use a JPEG, PNG, WebP or BMP photo"
# Output format (fusion.options.OUTPUT_FORMATS) -> file extension.
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3) RGB uint8, C-contiguous
    warnings: tuple[str, ...] = ()


def _read_bytes(data: str | os.PathLike | bytes | bytearray, role: str) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        path = Path(data)
        if not path.is_file():
            raise InvalidImage(role, f"file '{path}' does not exist", "Check the path")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidImage(
                role,
                f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit",
                "Use a smaller or more compressed photo",
            )
        raw = path.read_bytes()
    if not raw:
        raise InvalidImage(role, "the file is empty (0 bytes)", _REMEDY_FORMAT)
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidImage(
            role,
            f"file is {len(raw) / 1e6:.1f} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit",
            "Use a smaller or more compressed photo",
        )
    return raw


def _check_pixel_count(width: int, height: int, role: str) -> None:
    if width * height > MAX_PIXELS:
        raise InvalidImage(
            role,
            f"{width}x{height} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit",
            "Downscale the photo first",
        )
    if min(width, height) < 1:
        raise InvalidImage(role, f"{width}x{height} has no pixels", _REMEDY_FORMAT)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping (Pillow's convert('L') clips).
        wide = np.asarray(image, dtype=np.uint32 if mode == "I" else np.uint16)
        top = 65535 if mode != "I" or wide.max() <= 65535 else int(wide.max())
        gray = (wide.astype(np.float32) * (255.0 / top) + 0.5).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.array(image.convert("RGB"))  # a writable copy; Pillow's buffer is read-only


def decode_image(data: ImageInput, role: str) -> DecodedImage:
    """Decode a path, bytes or array into RGB uint8. Raises InvalidImage with a specific reason."""
    if isinstance(data, np.ndarray):
        return DecodedImage(_array_to_rgb(data, role))
    raw = _read_bytes(data, role)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(io.BytesIO(raw)) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise InvalidImage(role, f"{image.format} files are not supported", _REMEDY_FORMAT)
                _check_pixel_count(image.width, image.height, role)
                if getattr(image, "n_frames", 1) > 1:
                    notes.append(f"The {role} image is animated; its first frame was used.")
                image.load()
                pixels = _to_rgb_array(ImageOps.exif_transpose(image))
    except InvalidImage:
        raise
    except Image.DecompressionBombError:
        raise InvalidImage(
            role, f"the image claims more than {MAX_PIXELS} pixels", "Downscale the photo first"
        ) from None
    except UnidentifiedImageError:
        raise InvalidImage(
            role, "the file is not an image (or not a format we read)", _REMEDY_FORMAT
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InvalidImage(
            role, f"the file is truncated or corrupt ({exc})", "Re-export or re-download the photo"
        ) from None
    return DecodedImage(pixels, tuple(notes))


def _array_to_rgb(array: np.ndarray, role: str) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidImage(
            role,
            f"array of shape {array.shape} is not an image",
            "Pass an (H, W, 3) RGB uint8 array",
        )
    _check_pixel_count(array.shape[1], array.shape[0], role)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise InvalidImage(
            role, f"array dtype {array.dtype} is not supported", "Pass a uint8 (or uint16) array"
        )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(array)


def _png_text_chunk(key: str, value: str) -> bytes:
    body = key.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace")
    crc = zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", crc)


def encode_image(
    rgb: np.ndarray, fmt: str = "png", text: dict[str, str] | None = None, quality: int = 95
) -> bytes:
    """Encode RGB uint8 to PNG/JPEG/WebP bytes. No metadata from the inputs is carried over.

    PNG uses OpenCV's default (fast) settings, with `text` stored as tEXt chunks after IHDR.
    """
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    fmt = fmt.lower()
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr)
    elif fmt in ("jpeg", "jpg"):
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif fmt == "webp":
        ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    if not ok:
        raise OutputError(f"Could not encode the result as {fmt}.")
    data = buf.tobytes()
    if fmt == "png" and text:
        ihdr_end = 8 + 25  # signature + IHDR chunk (4 length + 4 type + 13 data + 4 crc)
        chunks = b"".join(_png_text_chunk(k, v) for k, v in text.items())
        data = data[:ihdr_end] + chunks + data[ihdr_end:]
    return data


def format_for_path(path: str | os.PathLike) -> str:
    """The output format a file name asks for (PNG when its extension says nothing we write)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    by_extension = {extension: fmt for fmt, extension in EXTENSIONS.items()} | {"jpeg": "jpeg"}
    return by_extension.get(suffix, "png")


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when it can't be read (decoding then says
    precisely what is wrong)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and rename: no half-written file is ever left."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"Output folder '{directory}' does not exist. Create it or choose another.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".fusion-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"Cannot write to '{directory}': {exc.strerror}. Choose another folder.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise OutputError(
            f"Could not write '{target}': {exc.strerror}. Free some space or choose another folder."
        ) from None
