"""Which photos a batch fuses and what each result is called: a folder, a glob, a CSV or a list.

A folder is searched recursively and its images are recognised by content (a file with an image's
extension that does not read as one is kept, so that the report says what is wrong with it). A CSV
names each target in a `target` column; its other columns are fusion options (the names of
fusion.options.CONTROLS) that override the job's for that row.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fusion.errors import InvalidOptions
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
    spec: str | os.PathLike | Sequence[str | os.PathLike], exclude: Path | None = None
) -> list[Target]:
    """Targets from a folder, a glob pattern, a .csv file, or a list of photo paths (names from the
    files' own names). Files under `exclude` (the output folder) are left out. Raises InvalidOptions
    when nothing is found or the CSV is malformed."""
    if not isinstance(spec, (str, os.PathLike)):
        paths = [Path(p) for p in spec]
        return _named([(p, p.parent, {}) for p in paths], spec)
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
        found: list[tuple[Path, Path, dict[str, str]]]
        found = [(p, path, {}) for p in files if not _inside(p, exclude) and is_image_file(p)]
        return _named(found, text)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _from_csv(path)
    if glob.has_magic(text):
        root = _glob_root(text)
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
        found = [
            (p, root, {}) for p in matches if p.is_file() and not _inside(p, exclude) and is_image_file(p)
        ]
        return _named(found, text)
    if path.is_file():
        return _named([(path, path.parent, {})], text)
    raise InvalidOptions(f"targets={text!r} is not a folder, a .csv file, a glob pattern or a photo")


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    return path.resolve().is_relative_to(folder.resolve())


def _glob_root(pattern: str) -> Path:
    """The folder a glob pattern starts from: its parts before the first wildcard."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _from_csv(csv_path: Path) -> list[Target]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidOptions(f"targets CSV '{csv_path}' cannot be read: {exc}") from None
    if "target" not in columns:
        raise InvalidOptions(
            f"targets CSV '{csv_path}' has no 'target' column (columns: {', '.join(columns)})"
        )
    unknown = sorted(set(columns) - {"target", *OPTION_COLUMNS})
    if unknown:
        raise InvalidOptions(
            f"targets CSV '{csv_path}': unknown column(s) {', '.join(unknown)}; option columns are "
            f"{', '.join(OPTION_COLUMNS)}"
        )
    found: list[tuple[Path, Path, dict[str, str]]] = []
    for row in rows:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not cleaned.get("target"):
            continue
        photo = Path(cleaned["target"]).expanduser()
        photo = photo if photo.is_absolute() else csv_path.parent / photo
        overrides = {k: v for k, v in cleaned.items() if k != "target" and v != ""}
        found.append((photo, csv_path.parent, overrides))
    return _named(found, str(csv_path))


def _named(found: Iterable[tuple[Path, Path, dict[str, str]]], spec: object) -> list[Target]:
    """Name each result after its photo: its path below `root` without the extension, so a/x.jpg and
    b/x.jpg give a/x and b/x; names still equal (x.jpg and x.png, or case differences) get -2, -3 in
    the order given, which is sorted, so a re-run gives every target the same name."""
    targets: list[Target] = []
    taken: set[str] = set()
    for photo, root, overrides in found:
        try:
            relative = photo.resolve().relative_to(root.resolve()).with_suffix("")
            base = relative.as_posix()
        except ValueError:  # a CSV row pointing outside the CSV's folder
            base = photo.stem
        base = base or "result"
        name, counter = base, 1
        while name.lower() in taken:
            counter += 1
            name = f"{base}-{counter}"
        taken.add(name.lower())
        targets.append(Target(str(photo), name, overrides))
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
