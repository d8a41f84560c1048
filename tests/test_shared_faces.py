"""Real photos from ../shared/faces (skipped when that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion import FusionOptions, fuse
from fusion.identity import face_descriptor, identity_distance, redetected_descriptor
from fusion.io import decode_image

pytestmark = pytest.mark.shared


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("obama.jpg", "biden.jpg"),
        ("biden.jpg", "obama-1080p.jpg"),
        ("lin-manuel-miranda.png", "alex-lacamoire.png"),
    ],
)
def test_result_is_the_source_person(shared_faces: Path, source: str, target: str) -> None:
    source_image = decode_image(shared_faces / source, "source").pixels
    target_image = decode_image(shared_faces / target, "target").pixels
    result = fuse(source_image, target_image)
    desc = redetected_descriptor(result.image, result.target_faces[0])
    assert desc is not None
    to_source = identity_distance(desc, face_descriptor(source_image, result.source_face))
    to_target = identity_distance(desc, face_descriptor(target_image, result.target_faces[0]))
    assert to_source < 0.6 < to_target


def test_exif_and_big_photo_to_4096(shared_faces: Path) -> None:
    result = fuse(
        shared_faces / "obama.jpg", shared_faces / "obama3.jpg", FusionOptions(resolution="4096", fit="pad")
    )
    assert result.image.shape == (4096, 4096, 3)


def test_two_people_all_faces(shared_faces: Path) -> None:
    target = decode_image(shared_faces / "two_people.jpg", "target").pixels
    result = fuse(shared_faces / "alex-lacamoire.png", target, FusionOptions(target_face="all"))
    assert len(result.target_faces) == 2
    for face in result.target_faces:
        x0, y0, x1, y1 = face.box
        assert np.abs(result.image[y0:y1, x0:x1].astype(int) - target[y0:y1, x0:x1]).mean() > 3


def test_small_and_partial_faces_warn_but_work(shared_faces: Path) -> None:
    result = fuse(shared_faces / "obama-240p.jpg", shared_faces / "biden.jpg")
    assert any("small" in note for note in result.warnings)
    result = fuse(shared_faces / "biden.jpg", shared_faces / "obama_partial_face.jpg")
    assert (
        result.image.shape[:2] == decode_image(shared_faces / "obama_partial_face.jpg", "t").pixels.shape[:2]
    )
