"""The one device policy: which stages of a request may use a CUDA GPU, from `FusionOptions.device`.

"cpu" means no CUDA anywhere (frame stages, Real-ESRGAN, onnxruntime, ModelScope); "auto" and "cuda"
use CUDA wherever this machine really has it ("cuda" adds a note to the result when it has not).
No environment variable of ours changes this; CUDA_VISIBLE_DEVICES hides GPUs as for any CUDA program.
Checking is cheap on machines without an NVIDIA driver: torch is not imported there at all.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fusion.postprocess import FrameOps


@cache
def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device."""
    if not Path("/proc/driver/nvidia/version").exists() and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def use_cuda(device: str) -> bool:
    """Whether torch stages (frame operations, Real-ESRGAN) run on CUDA for this `device` option."""
    return device != "cpu" and cuda_available()


def torch_device(device: str) -> str:
    """'cuda' or 'cpu': where torch code runs for this `device` option."""
    return "cuda" if use_cuda(device) else "cpu"


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers to ask for. onnxruntime-gpu lists CUDA even without a GPU and
    then silently runs on the CPU: what really runs is `session.get_providers()`."""
    import onnxruntime as ort

    if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def modelscope_device(device: str) -> str:
    """ModelScope's own device name ('gpu' or 'cpu'); left alone, its pipelines pick a GPU themselves."""
    return "gpu" if use_cuda(device) else "cpu"


def frame_ops(device: str) -> FrameOps:
    """The backend for the full-frame stages: torch on CUDA (fusion.gpu) or OpenCV on the CPU."""
    from fusion.postprocess import CpuFrameOps

    if use_cuda(device):
        from fusion.gpu import CudaFrameOps

        return CudaFrameOps()
    ops = CpuFrameOps()
    if device == "cuda":
        ops.notes.append("No CUDA GPU is available (or torch is not installed); ran on the CPU.")
    return ops
