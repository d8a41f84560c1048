"""`python -m fusion models list|download|verify [NAME ...]`: see fusion.models.store."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from fusion.models import store


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    models = commands.add_parser("models", help="list, download or verify the neural models")
    actions = models.add_subparsers(dest="models_command", required=True)
    listing = actions.add_parser("list", help="each model: present / missing / corrupt")
    listing.add_argument("--json", action="store_true")
    download = actions.add_parser("download", help="download (resumes), verify, delete if corrupt")
    download.add_argument("names", nargs="*", help="model names (default: all required models)")
    verify = actions.add_parser("verify", help="re-hash the files present")
    verify.add_argument("names", nargs="*", help="model names (default: all)")


def _row(current: store.ModelStatus) -> str:
    size = f"{current.info.approx_mb or (current.info.size or 0) / 1e6:.0f} MB"
    detail = f" ({current.detail})" if current.detail else ""
    info = current.info
    return f"{info.name:<26} {info.engine:<20} {current.state:<8} {size:>7}  {current.path}{detail}"


def progress_bar(label: str) -> Callable[[int, int | None], None]:
    """A progress line on stderr for one download (the CLI's; the library only calls back)."""
    last = [0.0]
    start = time.monotonic()

    def show(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and (total is None or done < total):
            return
        last[0] = now
        rate = done / max(now - start, 1e-6) / 1e6
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"\r{label} [{bar}] {100 * done / total:5.1f}% {done / 1e6:.0f}/{total / 1e6:.0f} MB"
        else:
            text = f"\r{label} {done / 1e6:.0f} MB"
        sys.stderr.write(f"{text} {rate:.1f} MB/s ")
        sys.stderr.flush()

    return show


def run(args: argparse.Namespace) -> int:
    names = list(getattr(args, "names", None) or [])
    if args.models_command == "list":
        rows = [store.status(name) for name in store.manifest()]
        if args.json:
            print(json.dumps([{"name": r.info.name, "engine": r.info.engine, "state": r.state,
                               "path": str(r.path), "detail": r.detail, "licence": r.info.licence}
                              for r in rows], indent=2))  # fmt: skip
        else:
            print(f"models folder: {store.models_dir()}")
            for current in rows:
                print(_row(current))
        return 0 if all(r.state != "corrupt" for r in rows) else 1
    if args.models_command == "verify":
        failed = False
        for name in names or list(store.manifest()):
            current = store.status(name, rehash=True)
            if current.state != "missing" or names:
                print(_row(current))
            failed |= current.state != "present" and bool(names) or current.state == "corrupt"
        return 1 if failed else 0
    wanted = names or [
        n
        for n, info in store.manifest().items()
        if not info.optional and not info.engine.startswith("upscaler")
    ]
    for name in wanted:
        current = store.download(name, progress_bar(name) if sys.stderr.isatty() else None)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        print(_row(current))
    return 0
