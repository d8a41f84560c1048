"""The default face finder: MediaPipe's BlazeFace detectors and 468-point mesh on LiteRT."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import EngineUnavailable, FusionOptions, blazeface, detector_availability, fuse, litert
from fusion import mediapipe_faces as mp
from fusion.faces import detect_faces

ROOT = Path(__file__).resolve().parent.parent


def test_anchor_layout_matches_mediapipe_graphs() -> None:
    # short range: 16x16 cells x 2 anchors (stride 8) + 8x8 cells x 6 (three stride-16 layers)
    short = blazeface.anchors(blazeface.SHORT_RANGE)
    assert short.shape == (896, 2)
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8]) and np.allclose(short[512:518], short[512])
    assert np.allclose(short[-1], [7.5 / 8, 7.5 / 8])
    # full range: one stride-4 layer, one anchor per cell of a 48x48 grid, row by row
    full = blazeface.anchors(blazeface.FULL_RANGE)
    assert full.shape == (2304, 2)
    assert np.allclose(full[1], [1.5 / 48, 0.5 / 48]) and np.allclose(full[48], [0.5 / 48, 1.5 / 48])


def test_finds_the_faces_dlib_finds_on_package_photos(astronaut: np.ndarray, group: np.ndarray) -> None:
    assert len(detect_faces(astronaut)) == 1
    faces = detect_faces(group, thorough=True)
    assert len(faces) == 6
    sizes = [f.size for f in faces]
    assert sizes == sorted(sizes, reverse=True)
    # the fast pass (index 0) finds the same largest face as the thorough one
    fast = detect_faces(group)
    difference = np.abs(fast[0].landmarks - faces[0].landmarks)
    assert difference.max() < 1.5 and difference.mean() < 0.5
    for face in faces:
        assert face.mesh is not None and face.mesh.shape == (468, 3)
        assert np.array_equal(face.landmarks[17:], face.mesh[mp.MESH_TO_68[17:], :2])


def test_landmarks_agree_with_dlib(astronaut: np.ndarray, group: np.ndarray) -> None:
    if not detector_availability("dlib").available:
        pytest.skip("dlib (the optional extra) is not installed")
    for image in (astronaut, group):
        ours = detect_faces(image, thorough=True)
        for theirs in detect_faces(image, thorough=True, detector="dlib"):
            match = min(ours, key=lambda f: float(np.linalg.norm(f.landmarks[30] - theirs.landmarks[30])))
            error = np.linalg.norm(match.landmarks - theirs.landmarks, axis=1) / theirs.size
            assert error[36:48].mean() < 0.04, error[36:48].mean()  # eyes
            assert error[27:36].mean() < 0.04, error[27:36].mean()  # nose
            assert error.mean() < 0.07, error.mean()  # all 68, jaw included


def test_no_faces_in_pictures_without_any() -> None:
    from skimage import data

    assert detect_faces(data.coffee(), thorough=True) == []
    assert detect_faces(data.rocket(), thorough=True) == []
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    assert detect_faces(noise, thorough=True) == []


def test_turned_photo_keeps_landmarks_on_the_face(astronaut: np.ndarray) -> None:
    """The mesh region turns with the eyes: a photo rotated 35 degrees gives the rotated landmarks."""
    base = detect_faces(astronaut)[0]
    centre = (256.0, 256.0)
    matrix = cv2.getRotationMatrix2D(centre, 35, 1.0)
    turned = cv2.warpAffine(astronaut, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT)
    faces = detect_faces(turned)
    assert faces
    expected = base.landmarks @ matrix[:, :2].T + matrix[:, 2]
    error = np.linalg.norm(faces[0].landmarks[27:48] - expected[27:48], axis=1).mean() / base.size
    assert error < 0.03, error


def test_mirrored_photo_mirrors_the_boxes(group: np.ndarray) -> None:
    width = group.shape[1]
    boxes = sorted(f.box[0] for f in detect_faces(group, thorough=True))
    mirrored = sorted(width - f.box[2] for f in detect_faces(group[:, ::-1].copy(), thorough=True))
    assert len(boxes) == len(mirrored)
    assert np.abs(np.array(boxes) - np.array(mirrored)).max() < 8


def test_large_photo_maps_back_to_full_resolution(astronaut: np.ndarray) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    small_face, big_face = detect_faces(astronaut)[0], detect_faces(big)[0]
    error = np.linalg.norm(big_face.landmarks[27:48] / 4 - small_face.landmarks[27:48], axis=1).mean()
    assert error < 0.03 * small_face.size


def test_threads_share_the_models_safely(group: np.ndarray) -> None:
    expected = [f.landmarks for f in detect_faces(group, thorough=True)]
    results: list[list[np.ndarray]] = []

    def work() -> None:
        results.append([f.landmarks for f in detect_faces(group, thorough=True)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for found in results:
        assert all(np.array_equal(a, b) for a, b in zip(found, expected, strict=True))


def test_missing_model_files_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray
) -> None:
    monkeypatch.setattr(litert.importlib.util, "find_spec", lambda name: None)
    litert.model.cache_clear()
    try:
        status = detector_availability("mediapipe")
        assert not status.available and "mediapipe==0.10.21" in status.remedy
        with pytest.raises(EngineUnavailable, match="mediapipe==0.10.21"):
            detect_faces(astronaut)
    finally:
        monkeypatch.undo()
        litert.model.cache_clear()


def test_default_fusion_never_imports_dlib(tmp_path: Path) -> None:
    """With dlib made unimportable, the default fusion works and nothing tried to load it."""
    script = textwrap.dedent(
        """
        import sys
        class NoDlib:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dlib", "_dlib_pybind11", "face_recognition_models"):
                    raise ImportError("dlib is hidden for this test")
                return None
        sys.meta_path.insert(0, NoDlib())
        from fusion import FusionOptions, fuse, sample_path, detector_availability
        result = fuse(sample_path("group"), sample_path("astronaut"), FusionOptions(resolution="512"))
        assert result.image.shape == (512, 512, 3)
        assert not any(name.split(".")[0] in ("dlib", "_dlib_pybind11") for name in sys.modules)
        print("ok", result.engine)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")


def test_dlib_choice_without_dlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from fusion import dlib_faces

    monkeypatch.setattr(dlib_faces.importlib.util, "find_spec", lambda name: None)
    status = detector_availability("dlib")
    assert not status.available and "face-fusion[dlib]" in status.remedy


def test_fuse_with_each_detector(astronaut_path: Path, group_path: Path) -> None:
    for detector in ("mediapipe", "dlib"):
        if not detector_availability(detector).available:
            continue
        result = fuse(group_path, astronaut_path, FusionOptions(detector=detector, resolution="512"))
        assert result.image.shape == (512, 512, 3)
        assert result.options.detector == detector


def test_mirrored_mesh_is_the_same_for_a_photo_and_its_mirror_image(astronaut: np.ndarray) -> None:
    table = mp.MESH_MIRROR
    assert sorted(table) == list(range(468)) and np.array_equal(table[table], np.arange(468))
    assert table[33] == 263 and table[61] == 291 and table[1] == 1  # eye corners, mouth corners, nose tip
    mesh = detect_faces(astronaut)[0].mesh
    assert mesh is not None
    region = mp.region_from_mesh(mesh)
    width = astronaut.shape[1]
    # The same region in the mirror image: centre mirrored (pixel centres: x -> width - 1 - x), angle negated.
    flipped_region = mp.Region(width - 1 - region.cx, region.cy, region.side, -region.angle)
    flipped = np.ascontiguousarray(astronaut[:, ::-1])

    def disagreement(mirrored: bool) -> float:
        ours, _ = mp.run_mesh(astronaut, region, mirrored=mirrored)
        theirs, _ = mp.run_mesh(flipped, flipped_region, mirrored=mirrored)
        theirs = theirs[mp.MESH_MIRROR]
        theirs[:, 0] = width - 1 - theirs[:, 0]
        return float(np.abs(ours[:, :2] - theirs[:, :2]).mean())

    # One pass: the model's own left-right jitter; averaged with the flip, a few tenths of it remain
    # (resampling differs between the two crops). A wrong mirror table would make it far worse.
    single, averaged = disagreement(False), disagreement(True)
    assert averaged < 0.4 * single and averaged < 0.25, (single, averaged)
