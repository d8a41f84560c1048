"""One device policy: FusionOptions.device reaches every stage that can use a GPU, and "cpu" means no
CUDA anywhere, even on a machine that has it (simulated here: no GPU is needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion import FusionOptions, device, fuse
from fusion.engines.base import FaceRequest
from fusion.faces import detect_faces


@pytest.fixture()
def cuda_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if torch saw a CUDA device and onnxruntime-gpu were installed."""
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        monkeypatch.setattr(
            onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
        )


@pytest.mark.parametrize(("option", "cuda"), [("cpu", False), ("auto", True), ("cuda", True)])
def test_every_policy_answer(cuda_machine: None, option: str, cuda: bool) -> None:
    assert device.use_cuda(option) is cuda
    assert device.torch_device(option) == ("cuda" if cuda else "cpu")
    assert device.modelscope_device(option) == ("gpu" if cuda else "cpu")
    if importlib.util.find_spec("onnxruntime") is not None:
        assert device.onnx_providers(option)[0] == (
            "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
        )


def test_without_cuda_nothing_asks_for_it() -> None:
    if device.cuda_available():
        pytest.skip("this machine has CUDA")
    for option in ("auto", "cuda", "cpu"):
        assert not device.use_cuda(option) and device.torch_device(option) == "cpu"


def test_frame_ops_follow_the_option(cuda_machine: None) -> None:
    from fusion.device import frame_ops
    from fusion.postprocess import CpuFrameOps

    assert isinstance(frame_ops("cpu"), CpuFrameOps)
    if importlib.util.find_spec("torch") is not None:
        assert not isinstance(frame_ops("auto"), CpuFrameOps)  # the torch backend


def test_upscaler_gets_the_request_device(
    monkeypatch: pytest.MonkeyPatch, group_path: Path, astronaut_path: Path
) -> None:
    import fusion.pipeline as pipeline

    seen: list[str] = []

    def record(source: np.ndarray, face: Any, faces: Any, method: str, device: str = "auto") -> Any:
        seen.append(device)
        return source, face

    monkeypatch.setattr(pipeline, "detailed_source", record)
    monkeypatch.setattr(pipeline, "require_upscaler", lambda method: None)
    fuse(group_path, astronaut_path, FusionOptions(upscaler="realesrgan", device="cpu", engine="classic"))
    assert seen == ["cpu"]


def test_modelscope_pipeline_is_built_for_the_request_device(
    cuda_machine: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    astronaut: np.ndarray,
    group: np.ndarray,
) -> None:
    """The ModelScope pipeline picks a GPU itself when not told: the adapter always tells it."""
    import sys
    import types

    import fusion.engines.modelscope as module

    built: list[str] = []

    def fake_pipeline(task: str, model: str, device: str) -> Any:
        built.append(device)
        assert Path(model).is_absolute()  # an absolute local folder: modelscope asks no hub
        return lambda inputs: {"output_img": np.asarray(inputs["template"])[:, :, ::-1] // 2}

    shells = {
        "modelscope": types.ModuleType("modelscope"),
        "modelscope.pipelines": types.SimpleNamespace(pipeline=fake_pipeline),
        "modelscope.utils": types.ModuleType("modelscope.utils"),
        "modelscope.utils.constant": types.SimpleNamespace(
            Tasks=types.SimpleNamespace(image_face_fusion="iff")
        ),
    }
    for name, shell in shells.items():
        monkeypatch.setitem(sys.modules, name, shell)
    monkeypatch.setattr(module, "_missing_packages", lambda: [])
    hub = tmp_path / "hub"
    (hub / module.MODEL_ID).mkdir(parents=True)
    (hub / module.MODEL_ID / "configuration.json").write_text("{}")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(hub))
    engine = module.ModelScopeEngine()
    source_face, target_face = detect_faces(group)[0], detect_faces(astronaut)[0]
    for option in ("cpu", "auto", "cpu"):
        engine.fuse_face(
            FaceRequest(group, source_face, astronaut, target_face, FusionOptions(device=option))
        )  # type: ignore[arg-type]
    assert built == ["cpu", "gpu"]  # one pipeline per device, reused
