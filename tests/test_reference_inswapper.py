"""Differential tests: our inswapper engine against InsightFace's own code, on the same weights and photo.

Both sides run the same tiny ONNX models (tests/tiny_models.py, built to the real signatures) on the
same package-shipped photo; the reference is the `insightface` wheel's `utils/face_align.py`,
`model_zoo/inswapper.py`, `scrfd.py` and `arcface_onnx.py`, loaded alone (tests/insightface_reference.py).
The reference works in BGR (OpenCV), our library in RGB: inputs are flipped for it, outputs back.

Tolerances: alignment matrices 1e-3 (float32 vs float64 fits); crops 1 grey level (the same bilinear
warp, matrices a rounding apart); the embedding and latent cosine 0.9999; the swap output 1 level
(the reference truncates `255 * x`, we round); SCRFD boxes and points 0.01 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("skimage")  # the reference's face_align uses skimage's SimilarityTransform

import insightface_reference as reference  # noqa: E402
import tiny_models  # noqa: E402

from fusion import onnx_models  # noqa: E402
from fusion.engines import inswapper  # noqa: E402
from fusion.engines.base import FaceRequest
from fusion.faces import detect_faces  # noqa: E402
from fusion.geometry import five_points_from_68
from fusion.options import FusionOptions  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.place_inswapper_models(tmp_path_factory.mktemp("reference_models"))


@pytest.fixture(scope="module")
def target_points(astronaut: np.ndarray) -> np.ndarray:
    return five_points_from_68(detect_faces(astronaut)[0].landmarks)


def _framing(matrix: np.ndarray, reference_matrix: np.ndarray, size: int) -> tuple[float, float]:
    """(scale ratio, centre offset in crop pixels) of our crop against the reference's: how large the
    face is drawn in ours relative to the reference's crop, and how far the crop centres lie apart."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2])) / abs(np.linalg.det(reference_matrix[:, :2]))))
    centre = np.array([size / 2, size / 2])
    ours = np.linalg.solve(matrix[:, :2], centre - matrix[:, 2])  # photo point at our crop's centre
    offset = reference_matrix[:, :2] @ ours + reference_matrix[:, 2] - centre
    return scale, float(np.linalg.norm(offset))


@pytest.mark.parametrize("size", [112, 128, 256, 384, 512])
def test_alignment_matches_estimate_norm(astronaut: np.ndarray, target_points: np.ndarray, size: int) -> None:
    face_align = reference.module("utils.face_align")
    crop, matrix = onnx_models.align(astronaut, target_points, size)
    reference_crop, reference_matrix = face_align.norm_crop2(astronaut[:, :, ::-1], target_points, size)
    scale, offset = _framing(matrix, reference_matrix, size)
    assert abs(scale - 1) < 1e-3 and offset < 0.05 * size / 128, (
        f"crop framing at {size} px: face {scale:.3f}x the reference's size, centre {offset:.1f} px off"
    )
    assert np.abs(matrix - reference_matrix).max() < 1e-3
    difference = np.abs(crop.astype(int) - reference_crop[:, :, ::-1].astype(int))
    assert difference.max() <= 1


def test_alignment_uses_every_point(target_points: np.ndarray) -> None:
    """A least-squares fit (as skimage's SimilarityTransform): moving one point moves the fit.
    A robust fit (LMEDS) may drop an outlier of a 5-point fit and ignore it."""
    face_align = reference.module("utils.face_align")
    moved = target_points.copy()
    moved[2] += (9.0, -7.0)  # the nose tip off its place
    ours = onnx_models.alignment_matrix(moved, 128)
    assert np.abs(ours - face_align.estimate_norm(moved, 128)).max() < 1e-3
    assert np.abs(ours - onnx_models.alignment_matrix(target_points, 128)).max() > 1e-3


def test_arcface_embedding_matches(tiny: Path, group: np.ndarray) -> None:
    arcface_module = reference.module("model_zoo.arcface_onnx")
    source_face = detect_faces(group)[0]
    points = five_points_from_68(source_face.landmarks)
    model = arcface_module.ArcFaceONNX(model_file=str(tiny / "w600k_r50.onnx"))
    face = reference.face(kps=points)
    model.get(group[:, :, ::-1], face)  # sets face.embedding
    aligned, _ = onnx_models.align(group, points, 112)
    ours = onnx_models.arcface_embedding(tiny / "w600k_r50.onnx", aligned, "cpu")
    assert model.input_mean == 127.5 and model.input_std == 127.5  # the reference's normalisation choice
    cosine = float(ours @ face.normed_embedding)
    assert cosine > 0.9999, f"embedding cosine {cosine:.6f}"


def test_latent_and_swap_output_match(tiny: Path, astronaut: np.ndarray, target_points: np.ndarray) -> None:
    inswapper_module = reference.module("model_zoo.inswapper")
    model = inswapper_module.INSwapper(model_file=str(tiny / "inswapper_128.onnx"))
    embedding = np.random.default_rng(3).standard_normal(512).astype(np.float32)
    source = reference.face(embedding=embedding)
    target = reference.face(kps=target_points)
    bgr_fake, reference_matrix = model.get(astronaut[:, :, ::-1], target, source, paste_back=False)

    swap = tiny / "inswapper_128.onnx"
    latent = onnx_models.inswapper_latent(swap, embedding / np.linalg.norm(embedding))
    reference_latent = source.normed_embedding.reshape(1, -1) @ model.emap
    reference_latent /= np.linalg.norm(reference_latent)
    assert float((latent @ reference_latent.T).item()) > 0.9999
    aligned, matrix = onnx_models.align(astronaut, target_points, 128)
    assert np.abs(matrix - reference_matrix).max() < 1e-3
    ours = onnx_models.inswapper_swap(swap, aligned, latent, "cpu")
    assert np.abs(ours.astype(int) - bgr_fake[:, :, ::-1].astype(int)).max() <= 1


def test_engine_feeds_the_model_the_reference_crop(
    tiny: Path, astronaut: np.ndarray, group: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the engine really hands inswapper_128 (spied on the session call) is the crop that
    InsightFace's norm_crop2 makes from the same 5 points."""
    monkeypatch.setenv("FUSION_MODELS_DIR", str(tiny))
    fed: list[np.ndarray] = []
    points_used: list[np.ndarray] = []
    real_swap, real_points = onnx_models.inswapper_swap, inswapper.five_points

    def spy_swap(path: Path, aligned: np.ndarray, latent: np.ndarray, device: str = "auto") -> np.ndarray:
        fed.append(aligned.copy())
        return real_swap(path, aligned, latent, device)

    def spy_points(image: np.ndarray, *args: Any) -> np.ndarray:
        points = real_points(image, *args)
        if image is astronaut:
            points_used.append(points)
        return points

    monkeypatch.setattr(onnx_models, "inswapper_swap", spy_swap)
    monkeypatch.setattr(inswapper, "five_points", spy_points)
    engine = inswapper.InswapperEngine()
    engine.fuse_face(
        FaceRequest(group, detect_faces(group)[0], astronaut, detect_faces(astronaut)[0], FusionOptions())
    )
    assert len(points_used) == 1 and fed
    boost = inswapper.pixel_boost(points_used[0])
    size = 128 * boost
    reference_crop, _ = reference.module("utils.face_align").norm_crop2(
        astronaut[:, :, ::-1], points_used[0], size
    )
    expected = reference_crop[:, :, ::-1]
    assert len(fed) == boost * boost
    first = expected[0::boost, 0::boost]
    assert np.abs(fed[0].astype(int) - first.astype(int)).max() <= 1


def _scrfd_scene() -> np.ndarray:
    """Bright squares of several sizes on a dark, non-square photo (the tiny SCRFD fires on brightness)."""
    image = np.full((703, 1000, 3), 20, np.uint8)  # 703: a size scaled to 449.92 px
    for x, y, side in ((100, 120, 64), (420, 300, 128), (780, 80, 40), (700, 480, 96)):
        image[y : y + side, x : x + side] = 235
    return image


@pytest.mark.parametrize("scene", ["squares", "photo"])
def test_scrfd_matches(tiny: Path, group: np.ndarray, scene: str) -> None:
    scrfd_module = reference.module("model_zoo.scrfd")
    image = _scrfd_scene() if scene == "squares" else group
    detector = scrfd_module.SCRFD(model_file=str(tiny / "det_10g.onnx"), static_shape_sessions=False)
    boxes, points = detector.detect(image[:, :, ::-1], input_size=(640, 640))
    ours = onnx_models.scrfd_detect(tiny / "det_10g.onnx", image, "cpu")
    assert len(ours) == len(boxes) > 0
    order = np.argsort(-boxes[:, 4], kind="stable")
    for detection, index in zip(ours, order, strict=True):
        assert np.abs(np.array(detection.box) - boxes[index, :4]).max() < 0.01
        assert abs(detection.score - boxes[index, 4]) < 1e-5
        assert np.abs(detection.points_5 - points[index]).max() < 0.01
