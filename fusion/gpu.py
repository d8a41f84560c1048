"""CUDA (torch) versions of the full-frame stages. torch is imported only when a GPU may exist."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device. Cheap on machines without an NVIDIA driver:
    torch (about a second to import) is not imported there at all."""
    if os.environ.get("FUSION_DEVICE") == "cpu":
        return False
    if not Path("/proc/driver/nvidia/version").exists() and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class CudaFrameOps:  # placeholder until the torch implementation lands: behaves as the CPU backend
    def __init__(self) -> None:
        from fusion.postprocess import CpuFrameOps

        self._cpu = CpuFrameOps()
        self.notes = self._cpu.notes

    def resize(self, image, size):  # type: ignore[no-untyped-def]
        return self._cpu.resize(image, size)

    def finish(self, frame, plan, options):  # type: ignore[no-untyped-def]
        return self._cpu.finish(frame, plan, options)
