"""ModelScope engine: the adapter against a stand-in pipeline object, and the unavailable path for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion.engines import engine_availability
from fusion.engines.base import FaceRequest
from fusion.engines.modelscope import ModelScopeEngine
from fusion.errors import EngineUnavailable
from fusion.faces import detect_faces
from fusion.options import FusionOptions
from fusion.pipeline import fuse


class StandInPipeline:
    """Behaves like modelscope's image_face_fusion pipeline (checked against the real one in
    test_reference_modelscope.py): RGB PIL template + user in, BGR output_img out."""

    def __init__(self, scale: float = 1.0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.scale = scale

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(inputs)
        template = np.asarray(inputs["template"])
        out = np.full_like(template, (255, 0, 0))  # pure blue in BGR
        if self.scale != 1.0:  # the real UNet may answer at its own resolution
            import cv2

            size = (round(template.shape[1] * self.scale), round(template.shape[0] * self.scale))
            out = cv2.resize(out, size)
        return {"output_img": out}


@pytest.fixture(scope="module")
def faces(astronaut: np.ndarray, group: np.ndarray) -> tuple[Any, Any]:
    return detect_faces(group)[0], detect_faces(astronaut)[0]


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_adapter_blends_the_unet_output(
    astronaut: np.ndarray, group: np.ndarray, faces: tuple[Any, Any], scale: float
) -> None:
    stand_in = StandInPipeline(scale)
    engine = ModelScopeEngine(pipeline=stand_in)
    assert engine.availability().available
    source_face, target_face = faces
    patch = engine.fuse_face(
        FaceRequest(group, source_face, astronaut, target_face, FusionOptions(engine="modelscope"))
    )
    call = stand_in.calls[0]
    assert set(call) == {"template", "user"} and np.asarray(call["template"]).shape == patch.pixels.shape
    assert all(image.mode == "RGB" for image in call.values())  # PIL images, as the real pipeline needs
    x0, y0 = patch.origin
    height, width = patch.pixels.shape[:2]
    crop = astronaut[y0 : y0 + height, x0 : x0 + width]
    centre = tuple(int(v) for v in (target_face.landmarks[30] - np.array([x0, y0])))
    assert tuple(patch.pixels[centre[1], centre[0]]) == (0, 0, 255)  # the UNet's face (RGB blue) inside
    assert np.array_equal(patch.pixels[patch.face_mask == 0], crop[patch.face_mask == 0])  # target outside
    assert patch.landmarks.shape == (78, 2)


def test_adapter_blend_ratio(astronaut: np.ndarray, group: np.ndarray, faces: tuple[Any, Any]) -> None:
    engine = ModelScopeEngine(pipeline=StandInPipeline())
    source_face, target_face = faces
    zero = engine.fuse_face(
        FaceRequest(group, source_face, astronaut, target_face, FusionOptions(blend_ratio=0.0))
    )
    x0, y0 = zero.origin
    height, width = zero.pixels.shape[:2]
    assert np.array_equal(zero.pixels, astronaut[y0 : y0 + height, x0 : x0 + width])
    half = engine.fuse_face(
        FaceRequest(group, source_face, astronaut, target_face, FusionOptions(blend_ratio=0.5))
    )
    assert 0.45 < half.face_mask.max() <= 0.5  # the ratio is a feathered alpha against the target


def test_unavailable_says_so_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut_path: Path
) -> None:
    import fusion.engines.modelscope as module

    # tensorflow and a torchvision for this torch are never both installed here; make sure of it.
    monkeypatch.setattr(module, "REQUIRED_PACKAGES", (*module.REQUIRED_PACKAGES, "no_such_package_xyz"))
    monkeypatch.setenv("FUSION_MODELS_DIR", str(tmp_path))
    status = engine_availability("modelscope")
    assert not status.available and "no_such_package_xyz" in status.reason
    assert 'pip install "face-fusion[modelscope]"' in status.remedy
    # "At once": before anything is read (a missing photo would say so otherwise) or built.
    with pytest.raises(EngineUnavailable) as caught:
        fuse(tmp_path / "no-such-photo.jpg", astronaut_path, FusionOptions(engine="modelscope"))
    assert caught.value.engine == "modelscope"


def test_missing_weights_are_reported_before_any_hub_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fusion.engines.modelscope as module

    monkeypatch.setattr(module, "_missing_packages", lambda: [])  # as if modelscope were installed
    monkeypatch.setenv("FUSION_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "hub"))
    status = ModelScopeEngine().availability()
    assert not status.available and "not on this machine" in status.reason
    assert "models download modelscope_face_fusion" in status.remedy
    (tmp_path / "hub" / module.MODEL_ID).mkdir(parents=True)
    (tmp_path / "hub" / module.MODEL_ID / "configuration.json").write_text("{}")
    assert ModelScopeEngine().availability().available
