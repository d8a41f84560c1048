"""Differential tests: our ModelScope adapter through ModelScope's REAL image_face_fusion pipeline.

Real code (modelscope 1.40.2, the `modelscope` test extra): `pipeline(Tasks.image_face_fusion,
model=<absolute local folder>)` through the registry to `ImageFaceFusionPipeline` and `ImageFaceFusion`;
`Pipeline.__call__`, `_check_input`, `preprocess` (`LoadImage.convert_to_ndarray`), `collate_fn`,
`forward`, `postprocess`, `_check_output`; the model's `inference`, `detect_face`, `extract_id`,
`image_transform`, `process_enhance`, and facelib's alignment and warps.

Stand-ins, where the real parts need weights (or TensorFlow / a torchvision built for this torch):
- `ImageFaceFusion.__init__` copies models/cv/image_face_fusion/image_face_fusion.py lines 46-52
  (device, num_kp, id_dim), 86-88 (the blend mask; alpha.jpg drawn as an ellipse), 99-109
  (mask_enhance, reference_5pts_1024) and 111-114 (ToTensor + Normalize(0.5, 0.5)), and loads no
  checkpoint;
- the face detector (FaceAna, TensorFlow graphs) reports one face with plausible 68 landmarks, or none;
- ArcFace gives zero embeddings; the generator `netG` returns the aligned template crop (so a correct
  round trip gives the template back); `compute_3d_params` (3DMM) returns placeholders; GPEN is identity;
- `torchvision` / `tensorflow` are put in sys.modules as empty shells only while these tests run and
  only when they cannot be imported (the model module imports them; the stand-ins never use them).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip(
    "modelscope", reason="the modelscope test extra is not installed (./run.sh test installs it)"
)
pytest.importorskip("torch")

import fusion.engines as engines  # noqa: E402
from fusion.engines.base import FaceRequest
from fusion.engines.modelscope import ModelScopeEngine  # noqa: E402
from fusion.errors import EngineFailed  # noqa: E402
from fusion.faces import detect_faces  # noqa: E402
from fusion.options import FusionOptions  # noqa: E402
from fusion.pipeline import fuse  # noqa: E402

SCENE = {"face": True}  # what the stand-in face detector reports


def _shell(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _landmarks_68(height: int, width: int) -> np.ndarray:
    points = np.tile([[0.5 * width, 0.5 * height]], (68, 1)).astype(np.float32)
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, (cx, cy) in ((36, (0.36, 0.42)), (42, (0.64, 0.42))):  # eye rings 36-41, 42-47
        points[first : first + 6] = np.stack(
            [cx * width + 0.05 * width * np.cos(angles), cy * height + 0.02 * height * np.sin(angles)], 1
        )
    points[30] = (0.5 * width, 0.58 * height)
    points[48], points[54] = (0.39 * width, 0.72 * height), (0.61 * width, 0.72 * height)
    return points


class _FaceDetector:  # FaceAna.run -> (boxes, landmarks, states)
    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        assert isinstance(image, np.ndarray)
        if not SCENE["face"]:
            return np.zeros((0, 4)), np.zeros((0, 68, 2)), None
        height, width = image.shape[:2]
        box = np.array([[0.2 * width, 0.2 * height, 0.8 * width, 0.9 * height]])
        return box, _landmarks_68(height, width)[None], None


@pytest.fixture(scope="module")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[object]]]:
    """The real pipeline built from a local model folder (configuration.json only), the stand-ins in
    place, and every network connection attempted while it was built and used."""
    import torch

    connects: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        connects.append(address)
        raise OSError(f"network refused in this test ({address})")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        import modelscope.utils.import_utils  # noqa: F401  (reads find_spec('tensorflow') first)

        if importlib.util.find_spec("torchvision") is None:
            identity = lambda *args, **kwargs: None  # noqa: E731
            transforms = _shell(
                "torchvision.transforms", Compose=identity, ToTensor=identity, Normalize=identity
            )
            patch.setitem(sys.modules, "torchvision", _shell("torchvision", transforms=transforms))
            patch.setitem(sys.modules, "torchvision.transforms", transforms)
        if importlib.util.find_spec("tensorflow") is None:
            tensorflow = _shell("tensorflow", __version__="2.99")
            tensorflow.compat = types.SimpleNamespace(v1=tensorflow)  # type: ignore[attr-defined]
            patch.setitem(sys.modules, "tensorflow", tensorflow)

        from modelscope.models.base import TorchModel
        from modelscope.models.cv.image_face_fusion import image_face_fusion as model_module
        from modelscope.models.cv.image_face_fusion.facelib.align_trans import get_reference_facial_points
        from modelscope.pipelines import pipeline
        from modelscope.utils.constant import Tasks

        def stand_in_init(self: Any, model_dir: str, *args: Any, **kwargs: Any) -> None:
            TorchModel.__init__(self, model_dir, *args, **kwargs)
            self.device = torch.device("cpu")
            self.num_kp, self.id_dim = 17, 512
            self.facer = _FaceDetector()
            self.arcface = lambda x: (torch.zeros(x.shape[0], 512), None)
            self.netG = lambda target, embeds, kp_fuse, kp_t: (target, None, None)
            alpha = np.zeros((256, 256, 3), np.uint8)
            cv2.ellipse(alpha, (128, 128), (90, 110), 0, 0, 360, (255, 255, 255), -1)
            self.mask_init = alpha
            self.mask = self.image_transform(alpha, is_norm=False)
            self.ganwrap_1024 = types.SimpleNamespace(
                process=lambda image: (np.clip(image, 0, 255).astype(np.uint8), [])
            )
            self.mask_enhance = np.zeros((512, 512), np.float32)
            cv2.rectangle(self.mask_enhance, (26, 26), (486, 486), (1, 1, 1), -1, cv2.LINE_AA)
            self.mask_enhance = cv2.GaussianBlur(self.mask_enhance, (101, 101), 11)
            self.mask_enhance = cv2.GaussianBlur(self.mask_enhance, (101, 101), 11)
            self.reference_5pts_1024 = get_reference_facial_points((1024, 1024), 0.25, (0, 0), True)
            self.test_transform = lambda image: (
                (torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1) - 0.5) / 0.5
            )

        patch.setattr(model_module.ImageFaceFusion, "__init__", stand_in_init)
        patch.setattr(
            model_module.ImageFaceFusion, "compute_3d_params", lambda self, xs, xt: ({"value": None},) * 2
        )
        folder = tmp_path_factory.mktemp("modelscope_model")
        configuration = {
            "framework": "pytorch",
            "task": "image-face-fusion",
            "model": {"type": "image-face-fusion"},
            "pipeline": {"type": "image-face-fusion"},
        }
        (folder / "configuration.json").write_text(json.dumps(configuration))
        built = pipeline(Tasks.image_face_fusion, model=str(folder.resolve()), device="cpu")
        assert type(built).__name__ == "ImageFaceFusionPipeline"
        yield built, connects


def _patch(real_pipeline: Any, target: np.ndarray, source: np.ndarray, **options: Any) -> Any:
    engine = ModelScopeEngine(pipeline=real_pipeline)
    request = FaceRequest(
        source, detect_faces(source)[0], target, detect_faces(target)[0], FusionOptions(**options)
    )
    return engine.fuse_face(request)


def test_numpy_inputs_fail_in_the_real_pipeline(
    real_pipeline: tuple[Any, list[object]], astronaut: np.ndarray
) -> None:
    """Why the adapter passes PIL images: the real input path breaks on any array, BGR or RGB."""
    pipeline, _ = real_pipeline
    SCENE["face"] = True
    crop = np.ascontiguousarray(astronaut[:200, 150:350])
    with pytest.raises(ValueError, match="negative"):
        pipeline({"template": crop[:, :, ::-1].copy(), "user": crop[:, :, ::-1].copy()})


def test_adapter_round_trip_keeps_colours(
    real_pipeline: tuple[Any, list[object]], astronaut: np.ndarray, group: np.ndarray
) -> None:
    """The stand-in generator hands the template back, so a right adapter returns the target's own
    colours; a red/blue swap anywhere on the way would show as a large difference."""
    pipeline, connects = real_pipeline
    SCENE["face"] = True
    patch = _patch(pipeline, astronaut, group)
    x0, y0 = patch.origin
    height, width = patch.pixels.shape[:2]
    crop = astronaut[y0 : y0 + height, x0 : x0 + width].astype(int)
    inside = patch.face_mask > 0.5
    difference = np.abs(patch.pixels.astype(int) - crop)[inside].mean()
    swapped = np.abs(patch.pixels[:, :, ::-1].astype(int) - crop)[inside].mean()
    # ~3.5 levels of resampling through the model's warps, against ~40 for swapped channels
    assert difference < 8.0 and swapped > 4 * difference, (difference, swapped)
    assert connects == []  # a local absolute folder: modelscope never asked its hub


def test_no_face_in_the_model_is_reported_not_recoloured(
    real_pipeline: tuple[Any, list[object]], astronaut: np.ndarray, group: np.ndarray
) -> None:
    pipeline, _ = real_pipeline
    SCENE["face"] = False
    try:
        output = ModelScopeEngine(pipeline=pipeline).run(astronaut[:200, 150:350], group[:150, :150])
        assert output is None
        with pytest.raises(EngineFailed, match="found no face"):
            _patch(pipeline, astronaut, group)
    finally:
        SCENE["face"] = True


def test_auto_falls_back_to_classic_when_the_model_refuses(
    real_pipeline: tuple[Any, list[object]],
    astronaut_path: Path,
    group_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, _ = real_pipeline
    ready = ModelScopeEngine(pipeline=pipeline)
    instances = {"modelscope": ready}
    real_instance = engines._engine_instance
    monkeypatch.setattr(engines, "_engine_instance", lambda name: instances.get(name) or real_instance(name))
    SCENE["face"] = True
    assert fuse(group_path, astronaut_path).engine == "modelscope"
    SCENE["face"] = False
    try:
        result = fuse(group_path, astronaut_path)
        assert result.engine == "classic"
        assert any("modelscope engine failed" in note and "no face" in note for note in result.warnings)
        with pytest.raises(EngineFailed):
            fuse(group_path, astronaut_path, FusionOptions(engine="modelscope"))
    finally:
        SCENE["face"] = True
