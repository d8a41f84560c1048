"""Where a batch reads its photos and writes its results: local paths, or fsspec URLs (s3://, gs://,
file://, ...; the protocol's package installed, e.g. s3fs) so that a cluster's actors can share
object storage. Local results are written atomically (temporary file + rename); on object storage
one upload is atomic by itself (a reader sees the whole object or none)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusion.errors import InvalidImage, InvalidOptions, OutputError
from fusion.io import MAX_FILE_BYTES, write_atomic


def is_url(location: str) -> bool:
    return "://" in location


def _filesystem(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs  # only for URLs

    try:
        return url_to_fs(url)  # type: ignore[no-any-return]
    except (ImportError, ValueError) as exc:
        raise OutputError(f"Cannot open '{url}': {exc}. Install the package for its protocol.") from None


def join(base: str, name: str) -> str:
    """`name` (a relative POSIX path) inside the folder `base`."""
    return f"{base.rstrip('/')}/{name}" if is_url(base) else str(Path(base) / name)


def exists(location: str) -> bool:
    if not is_url(location):
        return Path(location).is_file()
    fs, path = _filesystem(location)
    return bool(fs.isfile(path))


def read_bytes(url: str, role: str) -> bytes:
    """A photo at a URL (at most the decoder's size limit, checked before reading it)."""
    fs, path = _filesystem(url)
    try:
        size = fs.size(path)
        if size is not None and size > MAX_FILE_BYTES:
            raise InvalidImage(
                role,
                f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit",
                "Use a smaller or more compressed photo",
            )
        return bytes(fs.cat_file(path))
    except FileNotFoundError:
        raise InvalidImage(role, f"'{url}' does not exist", "Check the path") from None
    except OSError as exc:
        raise InvalidImage(
            role, f"'{url}' cannot be read ({exc})", "Check the storage and try again"
        ) from None


def write_bytes(location: str, data: bytes) -> None:
    """Write a result: locally via a temporary file and a rename, to object storage in one upload."""
    if not is_url(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(location, data)
        return
    fs, path = _filesystem(location)
    if type(fs).__name__ == "LocalFileSystem":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return
    try:
        fs.pipe_file(path, data)
    except OSError as exc:
        raise OutputError(f"Could not write '{location}': {exc}.") from None


def make_folder(location: str) -> None:
    if is_url(location):
        fs, path = _filesystem(location)
        fs.makedirs(path, exist_ok=True)
    else:
        Path(location).mkdir(parents=True, exist_ok=True)


def list_files(url: str) -> Iterator[tuple[str, str]]:
    """(URL, path relative to `url`) of every file below the folder URL `url`, or matching the glob
    `url`, sorted; the relative path of a glob's match is taken from its part before the wildcard."""
    fs, path = _filesystem(url)
    if any(char in path for char in "*?["):
        root = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
        try:
            found = fs.glob(path)
        except ValueError as exc:
            raise InvalidOptions(f"targets={url!r}: {exc}") from None
    else:
        root = path.rstrip("/")
        found = fs.find(root) if fs.isdir(root) else []
    for item in sorted(found):
        if fs.isfile(item):
            yield fs.unstrip_protocol(item), posixpath.relpath(item, root)
