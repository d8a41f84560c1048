"""Batch benchmark: images/s at 1024 px for one source into many targets, as single fuse() calls in a
loop, and as a batch job in this process, on 2 local worker processes and on Ray (local cluster).

    python benchmarks/batch.py [--targets 16] [--workers 2] [--no-ray]

Targets are JPEGs made from ../shared/faces when present, else from the package-shipped photos
(mirrored and shifted copies, so that no two are equal). Every way writes the same PNGs (encode and
atomic write included in every row; the identity check is off). Prints a table and writes
benchmarks/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pairs import SHARED_FACES  # noqa: E402

from fusion import (  # noqa: E402
    FusionOptions,
    decode_image,
    encode_image,
    fuse,
    sample_path,
    write_atomic,
)
from fusion.batch import BatchProgress, run  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = FusionOptions(resolution="1024")
_SHARED_TARGETS = ("biden.jpg", "obama-1080p.jpg", "obama3.jpg", "two_people.jpg", "alex-lacamoire.png")


def make_targets(folder: Path, count: int) -> tuple[Path, list[Path], str]:
    """The source and `count` target JPEGs (variants of the available photos)."""
    if (SHARED_FACES / "obama.jpg").is_file():
        source, photos = SHARED_FACES / "obama.jpg", [SHARED_FACES / name for name in _SHARED_TARGETS]
        described = f"shared: obama.jpg into {count} variants of {len(photos)} ../shared photos"
    else:
        source, photos = sample_path("group"), [sample_path("astronaut")]
        described = f"package: t1.jpg into {count} variants of the astronaut"
    targets = []
    for index in range(count):
        pixels = decode_image(photos[index % len(photos)], "target").pixels
        variant = index // len(photos)
        pixels = np.roll(pixels, 9 * variant, axis=1)
        pixels = cv2.flip(pixels, 1) if variant % 2 else pixels
        if max(pixels.shape[:2]) < 1024:
            pixels = cv2.resize(pixels, (1024, 1024), interpolation=cv2.INTER_CUBIC)
        path = folder / f"target-{index:02d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        targets.append(path)
    return source, targets, described


def single_calls(source: Path, targets: list[Path], out: Path) -> dict[str, float]:
    """fuse() per target in a loop, with the same PNG encoding and atomic write as a batch."""
    out.mkdir()
    fuse(source, targets[0], OPTIONS)  # warm: models loaded
    begin = time.perf_counter()
    for target in targets:
        result = fuse(source, target, OPTIONS)
        write_atomic(out / f"{target.stem}.png", encode_image(result.image, "png"))
    seconds = time.perf_counter() - begin
    return {"seconds": seconds, "steady_seconds": seconds, "startup_seconds": 0.0}


def batch_job(source: Path, folder: Path, out: Path, workers: int, ray: bool) -> dict[str, float]:
    """One batch run: wall time with start-up, and the steady rate (first result to last)."""
    finished: list[float] = []

    def tick(event: BatchProgress) -> None:
        finished.append(time.perf_counter())

    begin = time.perf_counter()
    report = run(source, folder, out, OPTIONS, workers=workers, ray=ray, identity=False, progress=tick)
    seconds = time.perf_counter() - begin
    assert report.ok == len(report.outcomes), [o.message for o in report.outcomes if o.status != "ok"]
    count = len(finished)
    # Steady state: the mean gap between results, times the count (start-up excluded).
    steady = (finished[-1] - finished[0]) / (count - 1) * count if count > 1 else seconds
    return {"seconds": seconds, "steady_seconds": steady, "startup_seconds": finished[0] - begin}


def same_pixels(first: Path, second: Path) -> bool:
    return all(
        np.array_equal(decode_image(path, "a").pixels, decode_image(second / path.name, "b").pixels)
        for path in sorted(first.glob("*.png"))
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        source, targets, described = make_targets(work / "in", args.targets)
        runs = [("single fuse() calls in a loop", lambda: single_calls(source, targets, work / "loop"))]
        runs.append(
            ("batch, in-process (1 worker)", lambda: batch_job(source, work / "in", work / "w1", 1, False))
        )
        runs.append(
            (
                f"batch, {args.workers} local processes",
                lambda: batch_job(source, work / "in", work / "wn", args.workers, False),
            )
        )
        ray_start = None
        if not args.no_ray:
            import ray

            begin = time.perf_counter()
            ray.init(num_cpus=args.workers + 1, include_dashboard=False, log_to_driver=False)
            ray_start = time.perf_counter() - begin
            runs.append(
                (
                    f"batch, Ray Data, {args.workers} actors",
                    lambda: batch_job(source, work / "in", work / "ray", args.workers, True),
                )
            )
        for name, measure in runs:
            timing = measure()
            rows.append({"way": name, **{k: round(v, 3) for k, v in timing.items()}})
        if ray_start is not None:
            import ray

            ray.shutdown()
        equal = {
            name: same_pixels(work / "loop", work / name)
            for name in ("w1", "wn", "ray")
            if (work / name).is_dir()
        }
    baseline = float(rows[0]["seconds"]) / args.targets  # type: ignore[arg-type]
    local = next(row for row in rows if "local processes" in str(row["way"]))
    print(
        f"inputs: {described}; output 1024x1024 PNG; {os.cpu_count()} CPUs; "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"{'way':38s} {'wall s':>7s} {'img/s':>6s} {'s/img':>6s} {'vs loop':>7s} "
        f"{'steady img/s':>12s} {'steady vs loop':>14s} {'start-up s':>10s}"
    )
    for row in rows:
        per_image = float(row["seconds"]) / args.targets  # type: ignore[arg-type]
        steady = args.targets / float(row["steady_seconds"])  # type: ignore[arg-type]
        row.update(
            images_per_second=round(args.targets / float(row["seconds"]), 3),  # type: ignore[arg-type]
            seconds_per_image=round(per_image, 4),
            relative_to_loop=round(per_image / baseline, 3),
            steady_relative_to_loop=round(float(row["steady_seconds"]) / args.targets / baseline, 3),  # type: ignore[arg-type]
            steady_images_per_second=round(steady, 3),
        )
        print(
            f"{row['way']!s:38s} {row['seconds']:7.2f} {row['images_per_second']:6.2f} {per_image:6.3f} "
            f"{row['relative_to_loop']:7.2f} {steady:12.2f} {row['steady_relative_to_loop']:14.2f} "
            f"{row['startup_seconds']:10.2f}"
        )
    if ray_start is not None:
        ray_row = rows[-1]
        ratio = float(local["steady_images_per_second"]) / float(ray_row["steady_images_per_second"])  # type: ignore[arg-type]
        print(
            f"Ray start-up (ray.init): {ray_start:.2f} s; "
            f"Ray per-image time / local processes' (steady): {ratio:.2f}"
        )
    print(f"same pixels as the loop: {equal}")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "inputs": described,
        "output": "1024x1024 png",
        "targets": args.targets,
        "workers": args.workers,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "ray_init_seconds": None if ray_start is None else round(ray_start, 3),
        "same_pixels_as_loop": equal,
        "rows": rows,
    }
    (RESULTS / "batch.json").write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
