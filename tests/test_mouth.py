"""The mouth option: the source's mouth, the target's own (kept where it is), or auto."""

from __future__ import annotations

import numpy as np
import pytest

from fusion import FusionOptions, InvalidOptions, fuse
from fusion.engines.classic import MOUTH_GAP_DIFFERENCE, keeps_target_mouth, mouth_gap
from fusion.faces import detect_faces


def _lips(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    x0, y0 = landmarks[48:60].min(axis=0).astype(int)
    x1, y1 = landmarks[48:60].max(axis=0).astype(int)
    return image[y0:y1, x0:x1].astype(int)


def test_target_mouth_keeps_the_targets_lips_and_teeth(astronaut: np.ndarray, group: np.ndarray) -> None:
    landmarks = detect_faces(astronaut)[0].landmarks
    theirs = _lips(astronaut, landmarks)
    kept = fuse(group, astronaut, FusionOptions(blend_ratio=1.0, mouth="target")).image
    taken = fuse(group, astronaut, FusionOptions(blend_ratio=1.0, mouth="source")).image
    kept_difference = np.abs(_lips(kept, landmarks) - theirs).mean()
    taken_difference = np.abs(_lips(taken, landmarks) - theirs).mean()
    assert kept_difference < 8, (kept_difference, taken_difference)  # her own smile, unmoved
    assert taken_difference > 3 * kept_difference, (taken_difference, kept_difference)


def test_auto_keeps_the_target_mouth_only_when_one_is_open_and_the_other_closed(
    astronaut: np.ndarray,
) -> None:
    face = detect_faces(astronaut)[0]
    open_gap = mouth_gap(face.landmarks, face.size)
    assert open_gap > 0.04  # a smile with teeth
    closed = face.landmarks.copy()
    closed[[65, 66, 67]] = closed[[63, 62, 61]]  # inner lips together
    assert mouth_gap(closed, face.size) == pytest.approx(0.0, abs=1e-6)
    sizes = (face.size, face.size)
    assert keeps_target_mouth("auto", face.landmarks, closed, sizes) == (open_gap > MOUTH_GAP_DIFFERENCE)
    assert not keeps_target_mouth("auto", face.landmarks, face.landmarks, sizes)
    assert keeps_target_mouth("target", face.landmarks, face.landmarks, sizes)
    assert not keeps_target_mouth("source", face.landmarks, closed, sizes)


def test_a_wrong_mouth_choice_is_one_clear_message() -> None:
    with pytest.raises(InvalidOptions, match="mouth='teeth' is not one of auto, source, target"):
        FusionOptions(mouth="teeth")  # type: ignore[arg-type]
