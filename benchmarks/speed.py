"""Speed benchmark: warm in-process fuse() per output size, per stage, plus PNG encoding, peak memory
and a cold CLI run.

    python benchmarks/speed.py [--repeats N] [--device auto|cpu|cuda]

Inputs are typical 1-2 MP JPEGs: ../shared/faces/obama.jpg -> biden.jpg when present, otherwise the
package-shipped group photo -> the astronaut enlarged to 1024 px (saved as JPEG). Prints a table and
writes benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from environment import versions  # noqa: E402
from pairs import SHARED_FACES  # noqa: E402

from fusion import (  # noqa: E402
    FusionOptions,
    fuse,
    sample_path,  # noqa: E402
)
from fusion.io import decode_image, encode_image  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = ("512", "1024", "2048", "4096")
TARGETS_S = {"512": 0.25, "1024": 0.35, "2048": 0.6, "4096": 1.5}


def inputs(workdir: Path) -> tuple[Path, Path, str]:
    if (SHARED_FACES / "obama.jpg").is_file():
        described = "shared: obama.jpg (1.0 MP) -> biden.jpg (2.1 MP)"
        return SHARED_FACES / "obama.jpg", SHARED_FACES / "biden.jpg", described
    target = workdir / "astronaut-1024.jpg"
    astronaut = decode_image(sample_path("astronaut"), "target").pixels
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(target), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return sample_path("group"), target, "package: t1.jpg (1.1 MP) -> astronaut 1024 JPEG (1.0 MP)"


def time_size(source: Path, target: Path, resolution: str, repeats: int, device: str) -> dict[str, object]:
    options = FusionOptions(resolution=resolution, device=device)
    fuse(source, target, options)  # warm-up: models loaded, caches filled
    runs, encodes = [], []
    for _ in range(repeats):
        result = fuse(source, target, options)
        begin = time.perf_counter()
        encode_image(result.image, "png")
        encodes.append(time.perf_counter() - begin)
        runs.append(result.timings)
    stages = {stage: statistics.median(run.get(stage, 0.0) for run in runs) for stage in runs[0]}
    encode = statistics.median(encodes)
    return {
        "resolution": f"{resolution}x{resolution}",
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "fuse_s": round(stages["total"], 4),
        "png_encode_s": round(encode, 4),
        "fuse_plus_png_s": round(stages["total"] + encode, 4),
        "target_s": TARGETS_S[resolution],
        "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def cold_cli(source: Path, target: Path, workdir: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "fusion", "fuse", "--source", str(source), "--target", str(target),
             "--out", str(workdir / "cold.png"), "--resolution", "1024"],
            check=True, capture_output=True,
        )  # fmt: skip
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source, target, described = inputs(workdir)
        rows = [time_size(source, target, size, args.repeats, args.device) for size in SIZES]
        cold = cold_cli(source, target, workdir)
    stage_names = [s for s in rows[-1]["stages_s"] if s != "total"]  # type: ignore[union-attr]
    print(f"inputs: {described}; device: {args.device}; {platform.processor() or platform.machine()}")
    header = f"{'output':>10s} " + " ".join(f"{s:>8s}" for s in stage_names)
    print(header + f" {'fuse()':>8s} {'target':>7s} {'+PNG':>8s} {'RSS MB':>7s}")
    for row in rows:
        stages = row["stages_s"]
        cells = " ".join(f"{stages.get(s, 0.0):8.3f}" for s in stage_names)  # type: ignore[union-attr]
        print(
            f"{row['resolution']:>10s} {cells} {row['fuse_s']:8.3f} {row['target_s']:7.2f} "
            f"{row['fuse_plus_png_s']:8.3f} {row['peak_rss_mb_so_far']:7.0f}"
        )
    print(f"cold CLI run at 1024 (python start to file written): {cold:.2f} s (limit 1.5 s, aim 0.6 s)")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "inputs": described,
        "device": args.device,
        "machine": {"cpus": os.cpu_count()},
        "environment": versions(),
        "rows": rows,
        "cold_cli_1024_s": round(cold, 3),
    }
    (RESULTS / "speed.json").write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
