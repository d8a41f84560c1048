"""The model store: where model files live, whether they are intact, and how to fetch them.

The list of models is data (manifest.json). Files are looked for in the models folder
($FUSION_MODELS_DIR, default ~/.cache/face-fusion/models), so files placed there by hand are found;
a few ship inside a Python package. Hashes are cached by (size, mtime) so listing stays fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fusion.errors import EngineUnavailable, FusionError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # offline must fail within seconds, not after minutes of retries
CHUNK = 1 << 20
_HASH_CACHE = ".hashes.json"
State = Literal["present", "missing", "corrupt"]


class ModelStoreError(FusionError):
    """A model could not be downloaded or verified; the message says where to put the file."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    engine: str
    file: str
    size: int | None
    sha256: str | None
    licence: str
    url: str
    note: str = ""
    approx_mb: float | None = None
    archive_member: str | None = None
    package: str | None = None  # "pkg/sub/dir": also looked for inside that installed package
    kind: str = "file"  # "file", or "modelscope" for a ModelScope model folder
    optional: bool = False
    # Where the publisher serves the file's CRC32 (FaceFusion's .hash files): fetched with the model
    # into "<file>.crc32" and checked whenever no sha256 is pinned.
    hash_url: str | None = None


@dataclass(frozen=True)
class ModelStatus:
    info: ModelInfo
    state: State
    path: Path  # where it is, or where it should be put
    detail: str = ""  # "no reference hash", "size 123 != 456", ...


def models_dir() -> Path:
    configured = os.environ.get("FUSION_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "face-fusion" / "models"


def manifest() -> dict[str, ModelInfo]:
    """Every model, by name. $FUSION_MODELS_MANIFEST replaces the shipped manifest (pinned hashes)."""
    path = Path(os.environ.get("FUSION_MODELS_MANIFEST") or Path(__file__).with_name("manifest.json"))
    entries = json.loads(path.read_text())["models"]
    return {name: ModelInfo(name=name, **entry) for name, entry in entries.items()}


def model_info(name: str) -> ModelInfo:
    models = manifest()
    if name not in models:
        raise ModelStoreError(f"unknown model {name!r}: choose one of {', '.join(models)}")
    return models[name]


def package_dir(package: str) -> Path | None:
    """The folder "pkg/sub/dir" inside an installed package, found without importing the package."""
    top, _, sub = package.partition("/")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    for location in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / sub
        if candidate.is_dir():
            return candidate
    return None


def locate(info: ModelInfo) -> Path:
    """Where the file is (models folder first, then its package), or where it should be put."""
    in_store = models_dir() / info.file
    if in_store.exists() or not info.package:
        return in_store
    folder = package_dir(info.package)
    if folder and (folder / info.file).exists():
        return folder / info.file
    return in_store


def _digest(path: Path, kind: str) -> str:
    if kind == "crc32":
        crc = 0
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                crc = zlib.crc32(block, crc)
        return format(crc, "08x")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path, use_cache: bool = True) -> str:
    """sha256 of a file; cached in the models folder by (size, mtime) so a listing doesn't re-read GBs."""
    return _file_digest(path, "sha256", use_cache)


def file_crc32(path: Path, use_cache: bool = True) -> str:
    """CRC32 of a file as 8 hex digits (FaceFusion's hash format); cached like file_sha256."""
    return _file_digest(path, "crc32", use_cache)


def _file_digest(path: Path, kind: str, use_cache: bool) -> str:
    stat = path.stat()
    key = str(path.resolve()) if kind == "sha256" else f"{path.resolve()}#{kind}"
    cache_file = models_dir() / _HASH_CACHE
    cache: dict[str, dict[str, object]] = {}
    if cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    entry = cache.get(key)
    if (
        use_cache
        and entry
        and entry.get("size") == stat.st_size
        and entry.get("mtime_ns") == stat.st_mtime_ns
    ):
        return str(entry[kind])
    digest = _digest(path, kind)
    cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, kind: digest}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cache, indent=1))
        temporary.replace(cache_file)
    except OSError:  # a read-only models folder still works, just slower
        log.debug("could not write the hash cache %s", cache_file, exc_info=True)
    return digest


def _publisher_crc32(path: Path) -> Path:
    return path.with_name(path.name + ".crc32")


def status(name: str, rehash: bool = False) -> ModelStatus:
    info = model_info(name)
    path = locate(info)
    if info.kind == "modelscope":
        found = path.is_dir() and any(path.iterdir())
        return ModelStatus(info, "present" if found else "missing", path, "" if found else "folder empty")
    if not path.is_file():
        return ModelStatus(info, "missing", path)
    size = path.stat().st_size
    if info.size is not None and size != info.size:
        return ModelStatus(info, "corrupt", path, f"size {size} bytes, expected {info.size}")
    if info.sha256 is None:
        published = _publisher_crc32(path)
        if not (info.hash_url and published.is_file()):
            return ModelStatus(info, "present", path, "no reference hash")
        expected = published.read_text().strip().lower()
        crc = file_crc32(path, use_cache=not rehash)
        if crc != expected:
            return ModelStatus(
                info, "corrupt", path, f"crc32 {crc} expected {expected} (the publisher's hash)"
            )
        return ModelStatus(info, "present", path, "crc32 ok (the publisher's hash)")
    digest = file_sha256(path, use_cache=not rehash)
    if digest != info.sha256:
        return ModelStatus(info, "corrupt", path, f"sha256 {digest[:12]}... expected {info.sha256[:12]}...")
    return ModelStatus(info, "present", path, "sha256 ok")


def fix_hint(info: ModelInfo) -> str:
    where = models_dir() / info.file
    if info.kind == "modelscope":
        return f"run: python -m fusion models download {info.name} (or put the model folder at {where})"
    return (
        f"put {Path(info.file).name} in {where.parent} or run: python -m fusion models download {info.name}"
    )


def require(name: str, engine: str) -> Path:
    """The path of an intact model file, or EngineUnavailable with the reason and the fix."""
    current = status(name)
    if current.state == "missing":
        raise EngineUnavailable(engine, f"the model {current.info.file} is missing", fix_hint(current.info))
    if current.state == "corrupt":
        raise EngineUnavailable(
            engine,
            f"the model file {current.path} is corrupt ({current.detail})",
            f"delete it and {fix_hint(current.info)}",
        )
    return current.path


Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None when unknown)


def _fetch(url: str, destination: Path, show: Progress) -> None:
    """Download url into destination, resuming from destination.part with an HTTP Range request."""
    import urllib.request  # here, not at the top: it costs a cold start 20 ms that fusing never needs

    part = destination.with_name(destination.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "face-fusion"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with part.open("ab" if resumed else "wb") as handle:
            done = have
            while block := response.read(CHUNK):
                handle.write(block)
                done += len(block)
                show(done, total)
    part.replace(destination)


def _download_modelscope(info: ModelInfo) -> Path:
    if importlib.util.find_spec("modelscope") is None:
        raise ModelStoreError(
            f"{info.name}: the modelscope package is not installed (pip install modelscope); "
            f"or put the model folder at {models_dir() / info.file}"
        )
    from modelscope import snapshot_download  # type: ignore[import-not-found]

    model_id = info.url.rsplit("/models/", 1)[-1]
    target = models_dir() / "modelscope"
    return Path(snapshot_download(model_id, cache_dir=str(target)))


def download(name: str, progress: Progress | None = None) -> ModelStatus:
    """Fetch a model into the models folder, resuming and verifying it; `progress(done, total)` is
    called as bytes arrive. Raises ModelStoreError."""
    import urllib.error

    info = model_info(name)
    if info.kind == "modelscope":
        _download_modelscope(info)
        return status(name)
    current = status(name)
    wants_publisher_hash = bool(info.hash_url) and current.detail == "no reference hash"
    if current.state == "present" and not wants_publisher_hash:
        return current
    if info.package:
        raise ModelStoreError(f"{info.name} is not downloaded: it ships inside a Python package. {info.note}")
    if current.state == "corrupt" and current.path.parent == models_dir():
        current.path.unlink()
    destination = models_dir() / info.file
    destination.parent.mkdir(parents=True, exist_ok=True)
    show = progress or (lambda done, total: None)
    fetched = destination
    if info.archive_member:
        fetched = destination.with_name(Path(info.url).name)
    try:
        if info.hash_url:  # the publisher's hash first: small, and a wrong one stops before 500 MB
            _fetch_publisher_crc32(info.hash_url, _publisher_crc32(destination))
        if not fetched.exists():
            _fetch(info.url, fetched, show)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelStoreError(
            f"could not download {info.name} ({reason}); {fix_hint(info)} "
            f"(from {info.url}{' : ' + info.archive_member if info.archive_member else ''})"
        ) from None
    if info.archive_member:
        _extract(fetched, info.archive_member, destination)
    result = status(name, rehash=True)
    if result.state == "corrupt":
        result.path.unlink()
        raise ModelStoreError(
            f"{info.name}: the downloaded file is corrupt ({result.detail}) and was deleted"
        )
    return result


def _fetch_publisher_crc32(url: str, destination: Path) -> None:
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "face-fusion"})
    with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response:
        text = response.read(64).decode("ascii", "replace").strip().lower()
    if len(text) != 8 or any(c not in "0123456789abcdef" for c in text):
        raise ModelStoreError(f"the publisher's hash file {url} does not hold a CRC32 ({text[:20]!r})")
    destination.write_text(text + "\n")


def _extract(archive: Path, member: str, destination: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        names = [n for n in bundle.namelist() if Path(n).name == member]
        if not names:
            raise ModelStoreError(f"{archive.name} has no {member}")
        with bundle.open(names[0]) as source, destination.open("wb") as handle:
            shutil.copyfileobj(source, handle, CHUNK)
        # Keep the archive while other manifest entries still need a member of it.
        others = [
            m
            for m in manifest().values()
            if m.archive_member and Path(m.url).name == archive.name and not locate(m).exists()
        ]
    if not others:
        archive.unlink()
