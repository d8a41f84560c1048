"""Which photos a batch fuses and what each result is called: a folder, a glob, a CSV or a list.

A folder is searched recursively and its images are recognised by content (a file with an image's
extension that does not read as one is kept, so that the report says what is wrong with it); in
object storage (an fsspec URL) by extension, which costs no request per file. A CSV
names each target in a `target` column; its other columns are fusion options (the names of
fusion.options.CONTROLS) that override the job's for that row.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fusion.batch import storage
from fusion.errors import FusionError, InvalidOptions
from fusion.io import EXTENSIONS, header_size
from fusion.options import CONTROLS, FusionOptions

# Extensions worth reporting on even when the content is not an image (a broken or mislabelled photo).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".mpo"})
OPTION_COLUMNS = tuple(control.name for control in CONTROLS)
_NUMERIC = frozenset(control.name for control in CONTROLS if control.low is not None)


@dataclass(frozen=True)
class Target:
    """One photo to fuse into, where its result goes and the options it overrides."""

    path: str  # the photo
    name: str  # the result's path inside the output folder without extension, e.g. "trip/beach"
    overrides: Mapping[str, str] = field(default_factory=dict)  # option name -> text, from a CSV row

    def output_file(self, fmt: str) -> str:
        return f"{self.name}.{EXTENSIONS[fmt]}"


def is_image_file(path: Path) -> bool:
    """An image by content (its header reads), or a file named like one (reported when it fails)."""
    return path.suffix.lower() in IMAGE_SUFFIXES or header_size(path) is not None


def find_targets(
    spec: str | os.PathLike | Sequence[str | os.PathLike], exclude: str | os.PathLike | None = None
) -> list[Target]:
    """Targets from a folder, a glob pattern, a .csv file (each a local path or an fsspec URL), or
    a list of photos (named after their files). Files under `exclude` (the output folder) are left
    out. Raises InvalidOptions when nothing is found or the CSV is malformed."""
    if not isinstance(spec, (str, os.PathLike)):
        return _named([(os.fspath(p), "", {}) for p in spec], spec)
    text = os.fspath(spec)
    skip = "" if exclude is None else os.fspath(exclude)
    if text.lower().endswith(".csv") and storage.exists(text):
        return _from_csv(text)
    if storage.is_url(text):
        found: list[tuple[str, str, dict[str, str]]] = [
            (url, relative, {})
            for url, relative in storage.list_files(text)
            if not _hidden(relative)
            and not (skip and url.startswith(skip.rstrip("/") + "/"))
            and PurePosixPath(relative).suffix.lower() in IMAGE_SUFFIXES
        ]
        return _named(found, text)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return _named(_local(files, path, skip), text)
    if glob.has_magic(text):
        files = sorted(p for p in map(Path, glob.glob(text, recursive=True)) if p.is_file())
        return _named(_local(files, _glob_root(text), skip), text)
    if path.is_file():
        return _named([(text, "", {})], text)
    raise InvalidOptions(f"targets={text!r} is not a folder, a .csv file, a glob pattern or a photo")


def _local(files: list[Path], root: Path, exclude: str) -> list[tuple[str, str, dict[str, str]]]:
    """The photos among `files` (by content) with their paths relative to `root`."""
    found: list[tuple[str, str, dict[str, str]]] = []
    for photo in files:
        relative = _relative(photo, root)
        if _hidden(relative) or (exclude and _inside(photo, Path(exclude))) or not is_image_file(photo):
            continue
        found.append((str(photo), relative, {}))
    return found


def _relative(photo: Path, root: Path) -> str:
    """`photo`'s POSIX path below `root`, or "" when it is not below it."""
    try:
        return photo.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(relative).parts)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _glob_root(pattern: str) -> Path:
    """The folder a glob pattern starts from: its parts before the first wildcard."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _from_csv(location: str) -> list[Target]:
    try:
        text = storage.read_bytes(location, "targets CSV").decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        rows = list(reader)
    except (FusionError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidOptions(f"targets CSV '{location}' cannot be read: {exc}") from None
    if "target" not in columns:
        raise InvalidOptions(
            f"targets CSV '{location}' has no 'target' column (its columns: {', '.join(columns)})"
        )
    unknown = sorted(set(columns) - {"target", *OPTION_COLUMNS})
    if unknown:
        raise InvalidOptions(
            f"targets CSV '{location}': unknown column(s) {', '.join(unknown)}; option columns are "
            f"{', '.join(OPTION_COLUMNS)}"
        )
    folder = location.rsplit("/", 1)[0] if storage.is_url(location) else str(Path(location).parent)
    found: list[tuple[str, str, dict[str, str]]] = []
    for row in rows:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        cell = cleaned.get("target", "")
        if not cell:
            continue
        overrides = {k: v for k, v in cleaned.items() if k != "target" and v != ""}
        if storage.is_url(cell) or Path(cell).expanduser().is_absolute():
            found.append((cell if storage.is_url(cell) else str(Path(cell).expanduser()), "", overrides))
        elif storage.is_url(folder):
            found.append((storage.join(folder, cell), posixpath.normpath(cell), overrides))
        else:
            photo = Path(folder) / cell
            found.append((str(photo), _relative(photo, Path(folder)), overrides))
    return _named(found, location)


def _named(found: Iterable[tuple[str, str, dict[str, str]]], spec: object) -> list[Target]:
    """Name each result after its photo: its path below the folder searched (the relative path
    given, "" for just the file's name) without the extension, so a/x.jpg and b/x.jpg give a/x and
    b/x; names still equal (x.jpg and x.png, or case differences) get -2, -3 in the order given,
    which is sorted, so a re-run gives every target the same name."""
    targets: list[Target] = []
    taken: set[str] = set()
    for location, relative, overrides in found:
        given = PurePosixPath(relative or location.replace("\\", "/").rsplit("/", 1)[-1])
        parts = [part for part in given.with_suffix("").parts if part not in ("", ".", "..", "/")]
        base = "/".join(parts) or "result"
        name, counter = base, 1
        while name.lower() in taken:
            counter += 1
            name = f"{base}-{counter}"
        taken.add(name.lower())
        targets.append(Target(location, name, overrides))
    if not targets:
        raise InvalidOptions(f"targets={spec!r}: no photos found there")
    return targets


def row_options(base: FusionOptions, overrides: Mapping[str, str]) -> FusionOptions:
    """The job's options with one CSV row's values put in (text converted as the command line does).
    Raises InvalidOptions naming the column and the value."""
    if not overrides:
        return base
    values: dict[str, object] = dict(overrides)
    for name in _NUMERIC & set(values):
        try:
            values[name] = float(str(values[name]))
        except ValueError:
            raise InvalidOptions(f"{name}={values[name]!r} must be a number") from None
    return FusionOptions.from_values({**base.as_dict(), **values})
