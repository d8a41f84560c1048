"""End to end through fuse() on package-shipped faces (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import FaceIndexOutOfRange, FusionOptions, InvalidImage, NoFaceFound, fuse
from fusion.engines.classic import MORPH_REACH
from fusion.faces import Face, detect_faces, detector_availability
from fusion.geometry import with_forehead
from fusion.identity import face_descriptor, identity_distance, redetected_descriptor


def _outside_faces(shape: tuple[int, ...], faces: list[Face], grow: float = 0.6) -> np.ndarray:
    """Mask of the pixels outside every face's landmark box grown by `grow` face sizes."""
    outside = np.ones(shape[:2], bool)
    for face in faces:
        x0, y0 = np.floor(face.landmarks.min(axis=0) - grow * face.size).astype(int)
        x1, y1 = np.ceil(face.landmarks.max(axis=0) + grow * face.size).astype(int)
        outside[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
    return outside


@pytest.fixture(scope="module")
def default_result(group_path: Path, astronaut_path: Path):  # type: ignore[no-untyped-def]
    return fuse(group_path, astronaut_path, FusionOptions())


def test_result_shape_timings_and_faces(default_result, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    result = default_result
    assert result.image.shape == astronaut.shape
    assert result.image.dtype == np.uint8
    for stage in ("decode", "detect", "resize", "fuse", "canvas", "total"):
        assert result.timings[stage] >= 0
    assert result.timings["total"] >= result.timings["fuse"]
    assert len(result.target_faces) == len(result.output_faces) == 1
    report = result.report()
    assert report["size"] == [512, 512]
    assert report["target_faces"][0]["box"] == list(result.target_faces[0].box)


def test_defaults_keep_everything_outside_the_face(default_result, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    result = default_result
    outside = _outside_faces(astronaut.shape, [*result.target_faces, *result.output_faces])
    assert outside.mean() > 0.3  # the check covers a real part of the image
    np.testing.assert_array_equal(result.image[outside], astronaut[outside])
    inside_changed = np.abs(result.image.astype(int) - astronaut.astype(int)).sum(axis=2) > 30
    assert inside_changed.sum() > 2000  # and the face really changed


def test_blend_zero_gives_the_target_back(
    group_path: Path, astronaut_path: Path, astronaut: np.ndarray
) -> None:
    result = fuse(group_path, astronaut_path, FusionOptions(blend_ratio=0.0))
    np.testing.assert_array_equal(result.image, astronaut)


def test_identity_moves_monotonically_toward_the_source(group: np.ndarray, astronaut: np.ndarray) -> None:
    first = fuse(group, astronaut, FusionOptions(blend_ratio=0.0))
    source_desc = face_descriptor(group, first.source_face)
    target_desc = face_descriptor(astronaut, first.target_faces[0])
    to_source, to_target = [], []
    for blend in (0.0, 0.25, 0.5, 0.75, 1.0):
        result = fuse(group, astronaut, FusionOptions(blend_ratio=blend))
        desc = redetected_descriptor(result.image, first.target_faces[0])
        assert desc is not None, f"no face found again at blend {blend}"
        to_source.append(identity_distance(desc, source_desc))
        to_target.append(identity_distance(desc, target_desc))
    assert to_source == sorted(to_source, reverse=True), to_source
    assert to_target == sorted(to_target), to_target
    assert to_source[-1] < 0.6 < to_source[0]  # same person as the source at 1, not at 0


@pytest.mark.parametrize("mode", ["normal", "blend", "overlay"])
def test_modes_differ_inside_and_agree_outside(mode: str, group: np.ndarray, astronaut: np.ndarray) -> None:
    result = fuse(group, astronaut, FusionOptions(mode=mode))
    outside = _outside_faces(astronaut.shape, [*result.target_faces, *result.output_faces])
    np.testing.assert_array_equal(result.image[outside], astronaut[outside])
    if mode != "normal":
        normal = fuse(group, astronaut, FusionOptions()).image
        assert np.abs(result.image.astype(int) - normal.astype(int)).mean() > 0.2


@pytest.mark.parametrize(
    ("resolution", "fit", "size"),
    [
        ("512", "pad", (512, 512)),
        ("1024", "crop", (1024, 1024)),
        ("2048", "stretch", (2048, 2048)),
        ("1024x1792", "pad", (1024, 1792)),
        ("1792x1024", "crop", (1792, 1024)),
        ("300x200", "stretch", (300, 200)),
        ("4096", "pad", (4096, 4096)),
    ],
)
def test_output_sizes(
    resolution: str, fit: str, size: tuple[int, int], group: np.ndarray, astronaut: np.ndarray
) -> None:
    result = fuse(group, astronaut, FusionOptions(resolution=resolution, fit=fit))
    assert (result.image.shape[1], result.image.shape[0]) == size
    x0, y0, x1, y1 = result.output_faces[0].box  # output coordinates: on the canvas (may be cut by crop)
    assert x0 < size[0] and x1 > 0 and y0 < size[1] and y1 > 0


def test_upscaled_output_renders_the_face_at_full_resolution(
    group: np.ndarray, astronaut: np.ndarray
) -> None:
    """Stage 2: the face at 2048 is drawn from the source, not enlarged from a 512 fusion."""
    big = fuse(group, astronaut, FusionOptions(resolution="2048")).image
    small = fuse(group, astronaut, FusionOptions()).image
    enlarged = cv2.resize(small, (2048, 2048), interpolation=cv2.INTER_LANCZOS4)
    face = fuse(group, astronaut, FusionOptions(resolution="2048")).output_faces[0]
    x0, y0, x1, y1 = face.box

    def detail(image: np.ndarray) -> float:
        crop = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        return float(cv2.Laplacian(crop, cv2.CV_32F).var())

    assert detail(big) > 1.2 * detail(enlarged)


def test_every_target_face(group: np.ndarray, astronaut: np.ndarray) -> None:
    result = fuse(astronaut, group, FusionOptions(target_face="all"))
    assert len(result.target_faces) == 6
    for face in result.target_faces:
        x0, y0, x1, y1 = face.box
        change = np.abs(result.image[y0:y1, x0:x1].astype(int) - group[y0:y1, x0:x1].astype(int)).mean()
        assert change > 3, f"face at {face.box} unchanged"


def test_choosing_faces_by_index(group: np.ndarray, astronaut: np.ndarray) -> None:
    second = fuse(astronaut, group, FusionOptions(target_face=1))
    first = fuse(astronaut, group, FusionOptions(target_face=0))
    assert second.target_faces[0].box != first.target_faces[0].box
    assert first.target_faces[0].size >= second.target_faces[0].size  # largest first
    with pytest.raises(FaceIndexOutOfRange, match="6 face"):
        fuse(astronaut, group, FusionOptions(target_face=6))
    with pytest.raises(FaceIndexOutOfRange, match="source face 2"):
        fuse(astronaut, group, FusionOptions(source_face=2))


def test_no_face_names_the_image(astronaut: np.ndarray) -> None:
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(NoFaceFound, match="target image"):
        fuse(astronaut, blank)
    with pytest.raises(NoFaceFound, match="source image"):
        fuse(blank, astronaut)


def test_bad_input_is_a_typed_error(astronaut: np.ndarray) -> None:
    with pytest.raises(InvalidImage, match="source image: the file is empty"):
        fuse(b"", astronaut)


def test_retouch_changes_what_it_should(group: np.ndarray, astronaut: np.ndarray) -> None:
    plain = fuse(group, astronaut, FusionOptions())
    smooth = fuse(group, astronaut, FusionOptions(skin_smoothing=1.0))
    outside = _outside_faces(astronaut.shape, list(plain.output_faces))
    np.testing.assert_array_equal(smooth.image[outside], plain.image[outside])  # skin only
    face = plain.output_faces[0]
    skin = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.fillConvexPoly(skin, cv2.convexHull(face.landmarks[:17].astype(np.int32)), 255)
    features = np.zeros_like(skin)
    for region in (range(17, 27), range(27, 36), range(36, 42), range(42, 48), range(48, 60)):
        cv2.fillConvexPoly(features, cv2.convexHull(face.landmarks[list(region)].astype(np.int32)), 255)
    grow = int(face.size * 0.08) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
    skin = cv2.erode(skin, kernel) & ~cv2.dilate(features, kernel)
    assert skin.sum() > 0

    def texture(image: np.ndarray) -> float:
        """High-frequency energy on the face's skin, away from brows, eyes, nose and mouth."""
        lap = cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
        return float(lap[skin > 0].var())

    assert texture(smooth.image) < 0.7 * texture(plain.image)  # skin texture really smoothed
    bright = fuse(group, astronaut, FusionOptions(brightness=0.3))
    assert bright.image[outside].mean() > plain.image[outside].mean() + 10  # global
    gray = fuse(group, astronaut, FusionOptions(saturation=-1.0)).image.astype(int)
    assert np.abs(gray[..., 0] - gray[..., 1]).max() <= 2


def test_small_source_is_warned_about(group: np.ndarray, astronaut: np.ndarray) -> None:
    result = fuse(group, astronaut, FusionOptions(source_face=5))
    assert any("small" in note for note in result.warnings)
    upscaled = fuse(group, astronaut, FusionOptions(resolution="4096"))
    assert any("larger than the source" in note for note in upscaled.warnings)


def test_very_different_poses_are_warned_about(group: np.ndarray, astronaut: np.ndarray) -> None:
    turned = fuse(group, astronaut, FusionOptions(source_face=4))  # a head turned about 40 degrees
    assert any("turned" in note and "mirror image" in note for note in turned.warnings)
    frontal = fuse(group, astronaut, FusionOptions(source_face=1))
    assert not any("mirror image" in note for note in frontal.warnings)


def test_blurry_source_is_warned_about(group: np.ndarray, astronaut: np.ndarray) -> None:
    sharp = fuse(astronaut, group)
    assert not any("blurry" in note for note in sharp.warnings)
    soft = cv2.GaussianBlur(astronaut, (0, 0), 2)
    assert any("source face looks blurry" in note for note in fuse(soft, group).warnings)


def test_the_shape_morph_fades_out_within_its_reach(group: np.ndarray, astronaut: np.ndarray) -> None:
    """Hair, ears and collar farther than MORPH_REACH from the face's points (both the target's and
    where they moved) stay exactly the target's: the morph fades out before them."""
    for source_face, target_face in ((0, 2), (4, 0)):
        target = group if target_face else astronaut
        result = fuse(
            astronaut if target_face else group,
            target,
            FusionOptions(source_face=source_face, target_face=target_face),
        )
        before, after = result.target_faces[0], result.output_faces[0]
        points = np.vstack([with_forehead(before.landmarks), with_forehead(after.landmarks)]).astype(
            np.float32
        )
        outside = np.ones(target.shape[:2], np.uint8)
        cv2.fillConvexPoly(outside, np.round(cv2.convexHull(points)).astype(np.int32), 0)
        beyond = cv2.distanceTransform(outside, cv2.DIST_L2, 5) / before.size
        changed = np.abs(result.image.astype(int) - target.astype(int)).max(axis=2) > 0
        assert (changed & (beyond > 0.1)).sum() > 100  # the morph does reach past the face
        assert beyond[changed].max() < MORPH_REACH + 0.05  # and stops there


def test_every_group_face_onto_the_astronaut_with_dlib_stays_a_face(
    group: np.ndarray, astronaut: np.ndarray
) -> None:
    """dlib's points (no mesh) put group face 3's closed lips on one spot: the morph's spline once
    blew up there and sent the astronaut's whole face region to the photo's edges."""
    if not detector_availability("dlib").available:
        pytest.skip("dlib (the optional extra) is not installed")
    for face in range(len(detect_faces(group, thorough=True, detector="dlib"))):
        image = fuse(group, astronaut, FusionOptions(source_face=face, detector="dlib")).image
        change = np.abs(image.astype(int) - astronaut.astype(int)).mean()
        assert change < 4.0, (face, change)  # 10.4 when it blew up; 2.2 now
