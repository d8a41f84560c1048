"""Full-frame stages per backend: OpenCV (CpuFrameOps) against torch (CudaFrameOps) on the CPU and,
when there is one, on a CUDA GPU (with pinned and with pageable uploads).

    python benchmarks/gpu_frame_ops.py [--repeats N]

For each square canvas (1024, 2048, 4096) it resizes a 1200x900 photo to the content size ("pad"
fit: 4:3 content, reflect-padded to the square) and finishes it with sharpen 0.5. Prints a table of
median milliseconds and writes benchmarks/results/gpu_frame_ops.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fusion.errors import FusionError  # noqa: E402
from fusion.io import decode_image  # noqa: E402
from fusion.options import FusionOptions  # noqa: E402
from fusion.postprocess import CpuFrameOps, FrameOps, plan_output  # noqa: E402
from fusion.samples import sample_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CANVASES = (1024, 2048, 4096)
SOURCE_SIZE = (1200, 900)
OPTIONS = FusionOptions(sharpen=0.5)


def source_image() -> tuple[np.ndarray, str]:
    """A 1200x900 photo: the package-shipped group photo scaled, or noise when it is missing."""
    try:
        photo = decode_image(sample_path("group"), "target").pixels
        return cv2.resize(photo, SOURCE_SIZE, interpolation=cv2.INTER_AREA), "insightface t1.jpg"
    except FusionError:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (SOURCE_SIZE[1], SOURCE_SIZE[0], 3), dtype=np.uint8), "noise"


def backends() -> dict[str, Callable[[], FrameOps]]:
    found: dict[str, Callable[[], FrameOps]] = {"opencv-cpu": CpuFrameOps}
    try:
        import torch
    except ImportError:
        return found
    from fusion.gpu import CudaFrameOps

    found["torch-cpu"] = lambda: CudaFrameOps(device="cpu")
    if torch.cuda.is_available():
        found["torch-cuda"] = lambda: CudaFrameOps(device="cuda")
        found["torch-cuda-pageable"] = lambda: CudaFrameOps(device="cuda", pin_memory=False)
    return found


def time_one(make_ops: Callable[[], FrameOps], image: np.ndarray, canvas: int, repeats: int) -> dict:
    plan = plan_output((image.shape[1], image.shape[0]), (canvas, canvas), "pad")
    resize_ms, finish_ms, total_ms = [], [], []
    for attempt in range(repeats + 1):  # the first run warms up (CUDA context, kernels, allocator)
        ops = make_ops()  # one per request, as the pipeline does
        begin = time.perf_counter()
        frame = ops.resize(image, plan.content_size)
        middle = time.perf_counter()
        result, _ = ops.finish(frame, plan, OPTIONS)
        end = time.perf_counter()  # both calls return host arrays: the device work is done
        assert result.shape == (canvas, canvas, 3), result.shape
        if ops.notes:
            raise RuntimeError(f"backend fell back: {ops.notes}")
        if attempt:
            resize_ms.append(1000 * (middle - begin))
            finish_ms.append(1000 * (end - middle))
            total_ms.append(1000 * (end - begin))
    return {
        "canvas": canvas,
        "content_size": list(plan.content_size),
        "resize_ms": round(statistics.median(resize_ms), 2),
        "finish_ms": round(statistics.median(finish_ms), 2),
        "total_ms": round(statistics.median(total_ms), 2),
        "repeats": repeats,
    }


def environment() -> dict:
    info = {
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "cpu_count": os.cpu_count(),
        "opencv_threads": cv2.getNumThreads(),
    }
    try:
        import torch

        info |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name()
    except ImportError:
        info["torch"] = None
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    args = parser.parse_args()

    image, image_name = source_image()
    rows = []
    for name, make_ops in backends().items():
        for canvas in CANVASES:
            repeats = max(1, args.repeats if canvas < 4096 else args.repeats // 2)
            rows.append({"backend": name, **time_one(make_ops, image, canvas, repeats)})

    print(f"resize 1200x900 -> content, then finish (pad to square, sharpen 0.5); median ms ({image_name})")
    header = f"{'backend':<22} {'canvas':>6} {'resize':>9} {'finish':>9} {'total':>9} {'vs opencv':>9}"
    print(header)
    print("-" * len(header))
    opencv_total = {row["canvas"]: row["total_ms"] for row in rows if row["backend"] == "opencv-cpu"}
    for row in rows:
        ratio = row["total_ms"] / opencv_total[row["canvas"]]
        row["vs_opencv"] = round(ratio, 2)
        print(
            f"{row['backend']:<22} {row['canvas']:>6} {row['resize_ms']:>9.1f} {row['finish_ms']:>9.1f} "
            f"{row['total_ms']:>9.1f} {ratio:>8.2f}x"
        )
    RESULTS.mkdir(exist_ok=True)
    report = {"environment": environment(), "source": image_name, "options": "sharpen=0.5", "rows": rows}
    (RESULTS / "gpu_frame_ops.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
