"""`python -m fusion batch`: one source into every target of a folder, glob or CSV.

Exit codes: 0 every target fused (or skipped: its result was already there); 6 the job ran but at
least one target failed (report.csv says which and why); as for `fuse` when the job cannot start:
1 internal error, 2 bad argument, source or targets, 3 no face in the source, 4 engine, upscaler or
Ray unavailable, 5 output folder not writable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from fusion.batch import SKIPPED, BatchProgress, BatchReport
from fusion.batch import run as run_batch
from fusion.options import CONTROLS, OUTPUT_FORMATS, FusionOptions

if TYPE_CHECKING:
    from tqdm import tqdm

EXIT_SOME_FAILED = 6


def add_parser(
    commands: argparse._SubParsersAction, add_option_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    batch = commands.add_parser(
        "batch",
        help="fuse one source into many targets (folder, glob or CSV), resumable",
        description="Fuse one source into every target; results and report.csv go into --out. "
        "A second run skips the targets whose result is already there.",
    )
    batch.add_argument("--source", required=True, help="photo with the face to use")
    batch.add_argument(
        "--targets",
        required=True,
        help="a folder (searched recursively), a quoted glob ('photos/**/*.jpg') or a .csv with a "
        "'target' column and optional option columns (blend_ratio, resolution, target_face, ...)",
    )
    batch.add_argument("--out", required=True, help="output folder (created if missing)")
    add_option_flags(batch)
    batch.add_argument("--format", choices=OUTPUT_FORMATS, default="png", help="output format (png)")
    batch.add_argument(
        "--workers", type=int, default=None, help="local processes, or Ray actors (default: CPU count)"
    )
    batch.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run with Ray Data: alone, on a Ray started for the job; with an ADDRESS (auto, "
        "ray://host:10001) on that cluster (needs the cluster extra)",
    )
    batch.add_argument(
        "--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray actor reserves (e.g. 1 or 0.5)"
    )
    batch.add_argument(
        "--no-identity",
        dest="identity",
        action="store_false",
        help="skip the identity distance (dlib; the slowest part of a row when dlib is installed)",
    )
    batch.add_argument("--json", action="store_true", help="print one JSON line per target, then a summary")


class _Bar:
    """tqdm on stderr over the targets to fuse (skipped ones are counted apart, not in the rate)."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.skipped = 0

    def __call__(self, event: BatchProgress) -> None:
        if event.outcome.status == SKIPPED:
            self.skipped += 1
            return
        if self.bar is None:
            description = f"fusing ({self.skipped} skipped)" if self.skipped else "fusing"
            total = event.total - self.skipped
            from tqdm import tqdm  # only when a batch runs: it costs a single fuse's start ~35 ms

            self.bar = tqdm(total=total, unit="img", desc=description, file=sys.stderr, dynamic_ncols=True)
        self.bar.update(1)
        if event.outcome.status == "error":
            self.bar.write(f"failed: {event.outcome.target}: {event.outcome.message}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _json_line(event: BatchProgress) -> None:
    print(json.dumps(event.as_dict()), flush=True)


def run(args: argparse.Namespace) -> int:
    options = FusionOptions.from_values({control.name: getattr(args, control.name) for control in CONTROLS})
    bar = None if args.json else _Bar()
    try:
        report = run_batch(
            args.source,
            args.targets,
            args.out,
            options,
            workers=args.workers,
            ray=args.ray,
            fmt=args.format,
            identity=args.identity,
            progress=_json_line if args.json else bar,
            gpus_per_worker=args.gpus_per_worker,
        )
    finally:
        if bar is not None:
            bar.close()
    _summarise(report, args.json)
    return EXIT_SOME_FAILED if report.failed else 0


def _summarise(report: BatchReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.summary()), flush=True)
        return
    print(
        f"{report.ok} fused, {report.skipped} skipped (already there), {report.failed} failed "
        f"of {len(report.outcomes)} in {report.seconds:.1f} s ({report.runner}); report: {report.report_path}"
    )
