"""What this machine can do at a given output size: expected time on a CPU, free memory on a GPU.

Used for the hint under the resolution control and for the check that refuses, before running, a
size the machine cannot hold (instead of failing after minutes of work).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from fusion import cuda_available
from fusion.options import RESOLUTION_PRESETS, parse_resolution

log = logging.getLogger(__name__)

# Seconds for one request by output megapixels on the 2-core CPU these machines have: warm fuse() of
# two 1-2 MP JPEGs plus the PNG encode (benchmarks/speed.py, README "Speed"), plus ~0.1 s the page
# adds (tests/test_browser.py). Interpolated between the sizes.
CPU_SECONDS_BY_MEGAPIXELS: tuple[tuple[float, float], ...] = (
    (0.26, 0.25),  # 512 x 512
    (1.05, 0.3),  # 1024 x 1024
    (4.19, 0.4),  # 2048 x 2048
    (16.8, 1.0),  # 4096 x 4096
)
# Peak memory per output pixel while fusing (uint8 frame, float32 blend buffers, encode buffer),
# rounded up from the 4096 x 4096 run (~0.7 GB peak) so that the check errs on the safe side.
BYTES_PER_OUTPUT_PIXEL = 64
SLOW_SECONDS = 15.0  # above this the hint turns into a warning


@dataclass(frozen=True)
class Capacity:
    device: str  # "cuda:0 (name)" or "cpu"
    free_bytes: int  # memory the output must fit in (GPU memory, or available RAM)


def cpu_memory_available() -> int:
    """MemAvailable from /proc/meminfo, or physical pages as a fallback (non-Linux)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def machine_capacity(force_cpu: bool = False) -> Capacity:
    """The GPU's free memory when torch sees a CUDA device (fusion.cuda_available: torch is not
    imported on a machine without an NVIDIA driver), else the CPU's available RAM."""
    if not force_cpu and cuda_available():
        try:
            import torch

            if torch.cuda.is_available():
                free, _total = torch.cuda.mem_get_info()
                return Capacity(f"cuda:0 ({torch.cuda.get_device_name(0)})", int(free))
        except Exception as exc:  # a broken CUDA install must not stop the UI: fall back to the CPU
            log.warning("CUDA check failed, using the CPU figures: %s", exc)
    return Capacity("cpu", cpu_memory_available())


def output_pixels(resolution: str, target_size: tuple[int, int] | None) -> int | None:
    """Output pixel count, or None when it depends on a target not chosen yet."""
    size = parse_resolution(resolution)
    if size is None:
        size = target_size
    return None if size is None else size[0] * size[1]


def expected_cpu_seconds(pixels: int) -> float:
    megapixels = [m for m, _ in CPU_SECONDS_BY_MEGAPIXELS]
    seconds = [s for _, s in CPU_SECONDS_BY_MEGAPIXELS]
    return float(np.interp(pixels / 1e6, megapixels, seconds))


def largest_preset_that_fits(free_bytes: int) -> str | None:
    fitting = [p for p in RESOLUTION_PRESETS[1:] if int(p) ** 2 * BYTES_PER_OUTPUT_PIXEL <= free_bytes]
    return fitting[-1] if fitting else None


def fits_in_memory(pixels: int, capacity: Capacity) -> bool:
    return pixels * BYTES_PER_OUTPUT_PIXEL <= capacity.free_bytes


def hint_text(resolution: str, target_size: tuple[int, int] | None, capacity: Capacity) -> str:
    """One or two lines of Markdown for under the resolution control. Raises InvalidOptions."""
    pixels = output_pixels(resolution, target_size)
    gib = capacity.free_bytes / 1024**3
    if capacity.device == "cpu":
        machine = f"CPU, {gib:.1f} GiB memory free"
    else:
        largest = largest_preset_that_fits(capacity.free_bytes) or "none of the presets"
        machine = f"GPU {capacity.device}: {gib:.1f} GiB free, largest square output about {largest}"
    if pixels is None:
        return f"{machine}. Output size: the target photo's own size."
    if not fits_in_memory(pixels, capacity):
        need = pixels * BYTES_PER_OUTPUT_PIXEL / 1024**3
        return f"⚠️ {machine}. This size needs about {need:.1f} GiB: choose a smaller resolution."
    if capacity.device != "cpu":
        return f"{machine}."
    seconds = expected_cpu_seconds(pixels)
    warn = "⚠️ " if seconds > SLOW_SECONDS else ""
    return f"{warn}{machine}. Expected time for this size on this CPU: about {seconds:.1f} s."
