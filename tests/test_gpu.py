"""The torch backend of the full-frame stages (fusion/gpu.py).

Everything runs on torch's CPU device wherever torch is installed; the same parity checks run on
CUDA under the `gpu` marker and are skipped without a CUDA GPU. CpuFrameOps (OpenCV) is the reference.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from fusion.options import FusionOptions
from fusion.postprocess import CpuFrameOps, OutputPlan, plan_output, reflect_pad

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

from fusion import gpu  # noqa: E402  (after the importorskip: the tests need torch)
from fusion.gpu import (  # noqa: E402
    CudaFrameOps,
    gaussian_kernel,
    tensor_reflect_pad,
    tensor_resize,
    tensor_tone,
    tensor_unsharp,
)

REPO = Path(__file__).resolve().parent.parent
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, needs_cuda])]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def diff(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(mean, max) absolute difference in levels; the shapes must match exactly."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(delta.mean()), int(delta.max())


def as_batch(image: np.ndarray, device: str = "cpu") -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().to(device)


def as_image(images: torch.Tensor) -> np.ndarray:
    return images[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


# -- FrameOps parity with the OpenCV backend ---------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [(256, 256), (200, 150), (1024, 1024), (700, 300)],
    ids=["half", "shrink-aspect", "double", "mixed-axes"],
)
def test_resize_matches_cpu(device: str, astronaut: np.ndarray, size: tuple[int, int]) -> None:
    ops = CudaFrameOps(device=device)
    ours, reference = ops.resize(astronaut, size), CpuFrameOps().resize(astronaut, size)
    assert ours.shape == (size[1], size[0], 3) and ours.flags.c_contiguous
    mean, worst = diff(ours, reference)
    # Bicubic against OpenCV's area/Lanczos: close on average; edges may differ more.
    assert mean < 2.0
    assert worst < 90 if size == (700, 300) else worst < 40
    assert ops.notes == []


def test_resize_up_from_small_crop(device: str, astronaut: np.ndarray) -> None:
    crop = np.ascontiguousarray(astronaut[100:196, 150:278])
    ours = CudaFrameOps(device=device).resize(crop, (300, 200))
    mean, worst = diff(ours, CpuFrameOps().resize(crop, (300, 200)))
    assert mean < 2.0 and worst < 40


def test_resize_large_shrink_goes_in_passes(device: str, group: np.ndarray) -> None:
    # 1280 -> 128 is a factor 10: more than one pass; it must still look like one antialiased shrink.
    ours = CudaFrameOps(device=device).resize(group, (128, 89))
    mean, worst = diff(ours, CpuFrameOps().resize(group, (128, 89)))
    assert mean < 2.5 and worst < 60
    single = torch.nn.functional.interpolate(
        as_batch(group), size=(89, 128), mode="bicubic", align_corners=False, antialias=True
    )
    mean_vs_single, _ = diff(ours, as_image(single))
    assert mean_vs_single < 0.2


def test_resize_same_size_returns_input(device: str, astronaut: np.ndarray) -> None:
    assert CudaFrameOps(device=device).resize(astronaut, (512, 512)) is astronaut


def test_resize_does_not_modify_input(device: str, astronaut: np.ndarray) -> None:
    before = astronaut.copy()
    CudaFrameOps(device=device).resize(astronaut, (300, 300))
    assert np.array_equal(astronaut, before)


def _finish_both(
    device: str, frame: np.ndarray, plan: OutputPlan, options: FusionOptions
) -> tuple[np.ndarray, dict[str, float], np.ndarray, dict[str, float], CudaFrameOps]:
    ops = CudaFrameOps(device=device)
    ours, our_timings = ops.finish(frame, plan, options)
    reference, reference_timings = CpuFrameOps().finish(frame, plan, options)
    return ours, our_timings, reference, reference_timings, ops


def test_pad_tiny_image_to_large_canvas_is_exact(device: str) -> None:
    # 3x2 -> 64x64 needs many reflect steps (reflect adds at most size-1 pixels per step).
    frame = np.arange(3 * 2 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13
    plan = OutputPlan((3, 2), (64, 64), "pad")
    ours, _, reference, _, ops = _finish_both(device, frame, plan, FusionOptions())
    assert ours.shape == (64, 64, 3)
    assert np.array_equal(ours, reference)
    assert ops.notes == []


@pytest.mark.parametrize("content", [(1, 1), (1, 5), (5, 1)], ids=["1x1", "1-wide", "1-tall"])
def test_pad_one_pixel_side_replicates(device: str, content: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (content[1], content[0], 3), dtype=np.uint8)
    plan = OutputPlan(content, (16, 20), "pad")
    ours, _, reference, _, _ = _finish_both(device, frame, plan, FusionOptions())
    assert ours.shape == (20, 16, 3)
    assert np.array_equal(ours, reference)


def test_pad_photo_with_tone_and_sharpen(device: str, astronaut: np.ndarray) -> None:
    plan = plan_output((512, 512), (600, 400), "pad")
    frame = CpuFrameOps().resize(astronaut, plan.content_size)
    options = FusionOptions(brightness=0.1, contrast=0.2, saturation=0.3, sharpen=0.8)
    ours, timings, reference, reference_timings, ops = _finish_both(device, frame, plan, options)
    assert ours.shape == (400, 600, 3)
    mean, worst = diff(ours, reference)
    assert mean < 1.0 and worst <= 6
    assert timings.keys() == reference_timings.keys() == {"tone", "canvas", "sharpen"}
    assert all(seconds >= 0 for seconds in timings.values())
    assert ops.notes == []


def test_crop_is_exact(device: str, astronaut: np.ndarray) -> None:
    plan = plan_output((512, 512), (300, 200), "crop")
    frame = CpuFrameOps().resize(astronaut, plan.content_size)
    ours, timings, reference, _, _ = _finish_both(device, frame, plan, FusionOptions())
    assert ours.shape == (200, 300, 3)
    assert np.array_equal(ours, reference)
    assert set(timings) == {"tone", "canvas"}


def test_stretch_with_sharpen(device: str, astronaut: np.ndarray) -> None:
    plan = plan_output((512, 512), (320, 160), "stretch")
    frame = CpuFrameOps().resize(astronaut, plan.content_size)
    ours, _, reference, _, _ = _finish_both(device, frame, plan, FusionOptions(sharpen=0.5))
    assert ours.shape == (160, 320, 3)
    mean, worst = diff(ours, reference)
    assert mean < 0.5 and worst <= 2


@pytest.mark.parametrize(
    "tone",
    [(0.2, 0.3, 0.0), (0.0, 0.0, 0.6), (-0.3, -0.4, -0.5), (1.0, 1.0, 1.0), (-1.0, -1.0, -1.0)],
    ids=["bright-contrast", "saturate", "all-negative", "all-max", "all-min"],
)
def test_tone_matches_adjust_tone(device: str, astronaut: np.ndarray, tone: tuple[float, ...]) -> None:
    brightness, contrast, saturation = tone
    options = FusionOptions(brightness=brightness, contrast=contrast, saturation=saturation)
    plan = OutputPlan((512, 512), (512, 512), "original")
    ours, timings, reference, _, _ = _finish_both(device, astronaut, plan, options)
    mean, worst = diff(ours, reference)
    # The same maths and rounding; float16 on CUDA may flip a level where a value sits on .5.
    assert mean < 0.05 and worst <= (1 if device == "cpu" else 2)
    assert set(timings) == {"tone", "canvas"}


def test_sharpen_levels(device: str, astronaut: np.ndarray) -> None:
    plan = OutputPlan((512, 512), (512, 512), "original")
    for amount in (0.25, 1.0):
        ours, _, reference, _, _ = _finish_both(device, astronaut, plan, FusionOptions(sharpen=amount))
        mean, worst = diff(ours, reference)
        assert mean < 0.5 and worst <= 3
        assert not np.array_equal(ours, astronaut)  # it really sharpened


def test_finish_with_nothing_to_do_returns_frame(device: str, astronaut: np.ndarray) -> None:
    plan = OutputPlan((512, 512), (512, 512), "original")
    image, timings = CudaFrameOps(device=device).finish(astronaut, plan, FusionOptions())
    assert image is astronaut
    assert set(timings) == {"tone", "canvas"}


def test_finish_does_not_modify_input(device: str, astronaut: np.ndarray) -> None:
    before = astronaut.copy()
    plan = plan_output((512, 512), (600, 400), "pad")
    frame = CpuFrameOps().resize(astronaut, plan.content_size)
    frame_before = frame.copy()
    CudaFrameOps(device=device).finish(frame, plan, FusionOptions(brightness=0.5, sharpen=1.0))
    assert np.array_equal(frame, frame_before) and np.array_equal(astronaut, before)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), "not an image"])
def test_bad_input_raises(bad: object) -> None:
    ops = CudaFrameOps(device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        ops.resize(bad, (4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="uint8"):
        ops.finish(bad, OutputPlan((8, 8), (16, 16), "pad"), FusionOptions())  # type: ignore[arg-type]
    assert ops.notes == []  # a caller's mistake is not a GPU failure


# -- the tensor functions ----------------------------------------------------------------------


def test_tensor_reflect_pad_matches_reflect_pad() -> None:
    rng = np.random.default_rng(0)
    for height, width, pads in [(5, 7, (2, 3, 4, 6)), (3, 2, (30, 31, 20, 41)), (4, 4, (0, 0, 9, 0))]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        images = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)
        padded = tensor_reflect_pad(images, *pads)
        assert padded.dtype == torch.uint8
        assert padded.shape == (1, 3, height + pads[0] + pads[1], width + pads[2] + pads[3])
        assert np.array_equal(padded[0].permute(1, 2, 0).numpy(), reflect_pad(image, *pads))
    with pytest.raises(ValueError, match=">= 0"):
        tensor_reflect_pad(images, -1, 0, 0, 0)


def test_tensor_functions_keep_shape_dtype_and_batch() -> None:
    rng = np.random.default_rng(2)
    batch = torch.from_numpy(rng.uniform(0, 255, (2, 3, 24, 32)).astype(np.float32))
    for function, expected in [
        (lambda x: tensor_resize(x, (16, 10)), (2, 3, 10, 16)),
        (lambda x: tensor_resize(x, (50, 40)), (2, 3, 40, 50)),
        (lambda x: tensor_reflect_pad(x, 1, 2, 3, 4), (2, 3, 27, 39)),
        (lambda x: tensor_unsharp(x, 0.75), (2, 3, 24, 32)),
        (lambda x: tensor_tone(x, 0.1, 0.2, 0.3), (2, 3, 24, 32)),
    ]:
        out = function(batch)
        assert out.shape == expected and out.dtype == torch.float32 and out.device == batch.device
        assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0
        # Each item of the batch is processed on its own.
        assert torch.allclose(function(batch[1:2]), out[1:2], atol=1e-3)


def test_tensor_functions_reject_non_batches() -> None:
    image = torch.zeros(3, 8, 8)
    for call in (
        lambda: tensor_resize(image, (4, 4)),
        lambda: tensor_reflect_pad(image, 1, 1, 1, 1),
        lambda: tensor_unsharp(image, 1.0),
        lambda: tensor_tone(image, 0.1, 0.0, 0.0),
    ):
        with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
            call()
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        tensor_tone(torch.zeros(1, 1, 8, 8), 0.0, 0.0, 0.5)


def test_gaussian_kernel_is_opencvs() -> None:
    import cv2

    kernel = gaussian_kernel(1.0, torch.float64, torch.device("cpu"))
    assert kernel.shape == (7,)  # the taps OpenCV's GaussianBlur takes for sigma 1.0 on uint8
    assert np.allclose(kernel.numpy(), cv2.getGaussianKernel(7, 1.0).ravel(), atol=1e-9)


def test_tensor_unsharp_and_tone_identities() -> None:
    flat = torch.full((1, 3, 9, 9), 77.0)
    assert torch.equal(tensor_unsharp(flat, 1.5), flat)  # nothing to sharpen on a flat image
    ramp = torch.arange(256.0).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert tensor_tone(ramp, 0.0, 0.0, 0.0) is ramp
    assert torch.equal(tensor_unsharp(ramp, 0.0), ramp)
    gray = tensor_tone(ramp, 0.0, 0.0, -1.0)  # full desaturation of a gray image changes nothing
    assert torch.equal(gray, ramp)
    brighter = tensor_tone(ramp, 0.25, 0.0, 0.0)
    assert torch.equal(brighter, (ramp + 32).clamp(max=255))


# -- out-of-memory fallback --------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 96.00 MiB"),
        RuntimeError("CUDA error: out of memory"),
    ],
    ids=["OutOfMemoryError", "RuntimeError"],
)
def test_out_of_memory_falls_back_to_cpu(
    monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray, error: Exception
) -> None:
    released = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: released.append(True))

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(gpu, "tensor_resize", fail)
    monkeypatch.setattr(gpu, "tensor_unsharp", fail)
    ops = CudaFrameOps(device="cpu")

    resized = ops.resize(astronaut, (300, 200))
    assert np.array_equal(resized, CpuFrameOps().resize(astronaut, (300, 200)))
    assert ops.notes == ["GPU out of memory at 300x200; finished this stage on the CPU"]

    plan = plan_output((300, 200), (400, 400), "pad")
    options = FusionOptions(brightness=0.2, sharpen=0.5)
    image, timings = ops.finish(resized, plan, options)
    reference, reference_timings = CpuFrameOps().finish(resized, plan, options)
    assert np.array_equal(image, reference)
    assert timings.keys() == reference_timings.keys()
    assert ops.notes[-1] == "GPU out of memory at 400x400; finished this stage on the CPU"
    assert len(ops.notes) == 2 and len(released) == 2


def test_other_torch_failure_falls_back_with_its_own_note(
    monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Too much shared memory required: 90268 vs 49152")

    monkeypatch.setattr(gpu, "tensor_resize", fail)
    ops = CudaFrameOps(device="cpu")
    resized = ops.resize(astronaut, (64, 64))
    assert np.array_equal(resized, CpuFrameOps().resize(astronaut, (64, 64)))
    assert ops.notes == ["GPU error at 64x64; finished this stage on the CPU"]


def test_notes_belong_to_one_instance(monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("out of memory")

    monkeypatch.setattr(gpu, "tensor_resize", fail)
    failing = CudaFrameOps(device="cpu")
    failing.resize(astronaut, (64, 64))
    assert CudaFrameOps(device="cpu").notes == [] and len(failing.notes) == 1


# -- torch is never imported on the CPU path ---------------------------------------------------


def _imports_torch(code: str) -> bool:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}  # no CUDA_VISIBLE_DEVICES, no FUSION_*
    script = f"{code}; import sys; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {"True": True, "False": False}[done.stdout.strip().splitlines()[-1]]


def test_cpu_path_never_imports_torch() -> None:
    assert not _imports_torch(
        "import fusion, fusion.device, fusion.gpu; ops = fusion.device.frame_ops('cpu'); "
        "assert type(ops).__name__ == 'CpuFrameOps'"
    )


@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="an NVIDIA driver is present")
def test_auto_without_nvidia_driver_never_imports_torch() -> None:
    assert not _imports_torch(
        "import fusion, fusion.device; ops = fusion.device.frame_ops('auto'); "
        "assert type(ops).__name__ == 'CpuFrameOps'"
    )


# -- CUDA only -----------------------------------------------------------------------------------


@pytest.mark.gpu
@needs_cuda
def test_frame_ops_picks_cuda_and_runs_half_precision(astronaut: np.ndarray) -> None:
    from fusion.device import frame_ops

    ops = frame_ops("auto")
    assert isinstance(ops, CudaFrameOps)
    assert ops.device.type == "cuda" and ops.dtype == torch.float16
    resized = ops.resize(astronaut, (1024, 1024))
    mean, _ = diff(resized, CpuFrameOps().resize(astronaut, (1024, 1024)))
    assert mean < 2.0 and ops.notes == []


@pytest.mark.gpu
@needs_cuda
def test_cuda_tensor_functions_match_cpu() -> None:
    rng = np.random.default_rng(3)
    host = torch.from_numpy(rng.uniform(0, 255, (1, 3, 40, 56)).astype(np.float32))
    cuda = host.to("cuda", torch.float16).contiguous(memory_format=torch.channels_last)
    for function in (
        lambda x: tensor_resize(x, (20, 13)),
        lambda x: tensor_resize(x, (5, 4)),  # several passes
        lambda x: tensor_resize(x, (100, 90)),
        lambda x: tensor_unsharp(x, 1.5),
        lambda x: tensor_reflect_pad(x, 50, 60, 70, 80),
    ):
        expected, got = function(host), function(cuda)
        assert got.device.type == "cuda" and got.dtype == torch.float16
        assert (got.float().cpu() - expected).abs().max() < 1.0


@pytest.mark.gpu
@needs_cuda
def test_fuse_on_cuda_matches_cpu() -> None:
    from fusion import fuse
    from fusion.samples import sample_path

    source, target = sample_path("astronaut"), sample_path("group")
    on_cpu = fuse(source, target, FusionOptions(device="cpu", resolution="2048", source_face=0, sharpen=0.3))
    on_cuda = fuse(
        source, target, FusionOptions(device="cuda", resolution="2048", source_face=0, sharpen=0.3)
    )
    assert on_cuda.image.shape == on_cpu.image.shape == (2048, 2048, 3)
    mean, _ = diff(on_cuda.image, on_cpu.image)
    assert mean < 2.0
    assert not any("finished this stage on the CPU" in warning for warning in on_cuda.warnings)
