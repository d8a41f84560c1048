"""Hands over a face (fusion/hands.py): MediaPipe's palm and hand landmark models find them; the
target's own hand stays in front of the new face, and a hand over the source is not pasted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import FusionOptions, fuse, hands, litert, pipeline
from fusion.engines import classic
from fusion.engines.base import FaceRequest
from fusion.errors import Availability
from fusion.faces import Face, detect_faces
from fusion.geometry import apply_affine, similarity_transform
from fusion.hands import hand_silhouette, hands_near, over_face
from fusion.io import decode_image
from fusion.samples import draw_hand


@pytest.fixture(scope="module")
def hand_over_mouth(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut holding the group photo's hand over her mouth, and where the hand is (0..1)."""
    return draw_hand(astronaut, detect_faces(astronaut)[0].landmarks)


def _no_hands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fusion as it was before hands were looked for (the pipeline's and the classic engine's)."""
    monkeypatch.setattr(pipeline, "hands_near", lambda *_: [])
    monkeypatch.setattr(classic, "hands_near", lambda *_: [])


def _core(alpha: np.ndarray, inset: int) -> np.ndarray:
    """Where `alpha` is whole, `inset` pixels in from its edge."""
    shape = np.ones((2 * inset + 1, 2 * inset + 1), np.uint8)
    return cv2.erode((alpha > 0.99).astype(np.uint8), shape).astype(bool)


def _inner_face(face: Face, shape: tuple[int, ...]) -> np.ndarray:
    """The 68 points' hull shrunk by a quarter toward the nose: eyes, nose, mouth, inner cheeks."""
    centre = face.landmarks[30]
    inner = centre + (face.landmarks[:68] - centre) * 0.75
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(inner.astype(np.float32)).astype(np.int32), 1)
    return mask.astype(bool)


def test_the_hand_held_over_a_face_is_found(hand_over_mouth: tuple[np.ndarray, np.ndarray]) -> None:
    image, alpha = hand_over_mouth
    face = detect_faces(image)[0]
    hands = hands_near(image, face.landmarks, face.size)
    assert len(hands) == 1 and hands[0].score >= 0.6, [hand.score for hand in hands]
    assert over_face(hands[0].points, face.landmarks)
    found = hand_silhouette([hands[0].points], (image.shape[1], image.shape[0]))
    drawn = alpha > 0.5
    covered = (found & drawn).sum() / drawn.sum()
    overlap = (found & drawn).sum() / (found | drawn).sum()
    # Found afresh in a new setting, at another scale, its points move (0.64, 0.61 here: this pasted
    # fist is read a little turned).
    assert covered > 0.55 and overlap > 0.5, (covered, overlap)


def test_a_hand_over_the_target_face_stays_in_front(
    hand_over_mouth: tuple[np.ndarray, np.ndarray], group: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    covered, alpha = hand_over_mouth
    core = _core(alpha, 2)
    fused = fuse(group, covered, FusionOptions(blend_ratio=1.0))
    assert "A hand over the target's face was kept in front of the new face." in fused.warnings
    result = fused.image
    kept = np.abs(result.astype(np.int16) - covered)[core].mean()
    assert kept < 6, kept  # the hand's own pixels, bar the feathered rim
    _no_hands(monkeypatch)
    pasted = fuse(group, covered, FusionOptions(blend_ratio=1.0)).image
    drawn_over = np.abs(pasted.astype(np.int16) - covered)[core].mean()
    assert drawn_over > 3 * kept and drawn_over > 12, (kept, drawn_over)  # the source's mouth on it


def test_a_hand_over_the_source_face_is_not_pasted(
    hand_over_mouth: tuple[np.ndarray, np.ndarray], group: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    covered, _ = hand_over_mouth
    source_face, target_face = detect_faces(covered)[0], detect_faces(group)[0]
    hands = hands_near(covered, source_face.landmarks, source_face.size)
    to_target = similarity_transform(source_face.landmarks, target_face.landmarks)
    mapped = hand_silhouette([apply_affine(to_target, hands[0].points)], (group.shape[1], group.shape[0]))
    under = _core(mapped.astype(np.float32), 4) & _inner_face(target_face, group.shape)
    assert under.sum() > 500  # the hand lies over the middle of the target's face

    def mask_there() -> float:
        request = FaceRequest(covered, source_face, group, target_face, FusionOptions(blend_ratio=1.0))
        patch = classic.ClassicEngine().fuse_face(request)
        (x0, y0), (height, width) = patch.origin, patch.face_mask.shape
        mask = np.zeros(group.shape[:2], np.float32)
        mask[y0 : y0 + height, x0 : x0 + width] = patch.face_mask
        return float(mask[under].mean())

    left_out = mask_there()
    monkeypatch.setattr(classic, "hands_near", lambda *_: [])
    pasted = mask_there()
    assert left_out < 0.05 and pasted > 0.5, (left_out, pasted)  # the target's own face shows there


def test_no_hand_is_found_over_the_sample_faces(astronaut: np.ndarray, group: np.ndarray) -> None:
    """An ear, an eye or a mouth is not a hand (MediaPipe's own 0.5 presence threshold takes some
    of them: 0.50 .. 0.57 here); real hands near the group photo's faces are, but not over them."""
    for image in (astronaut, group):
        for face in detect_faces(image):
            inner = _inner_face(face, image.shape)
            for hand in hands_near(image, face.landmarks, face.size):
                silhouette = hand_silhouette([hand.points], (image.shape[1], image.shape[0]))
                assert (silhouette & inner).sum() < 0.05 * inner.sum(), (face.box, hand.score)


@pytest.mark.shared
def test_a_hand_holding_a_microphone_is_found_and_the_faces_are_not(shared_faces: Path) -> None:
    for name in ("obama.jpg", "biden.jpg", "alex-lacamoire.png", "lin-manuel-miranda.png", "two_people.jpg"):
        image = decode_image(shared_faces / name, "target").pixels
        for face in detect_faces(image):
            hands = hands_near(image, face.landmarks, face.size)
            inner = _inner_face(face, image.shape)
            for hand in hands:
                silhouette = hand_silhouette([hand.points], (image.shape[1], image.shape[0]))
                assert (silhouette & inner).sum() < 0.05 * inner.sum(), (name, hand.score)
            if name == "lin-manuel-miranda.png":  # his hand holds the microphone under his chin
                assert len(hands) == 1, [hand.score for hand in hands]
                assert hands[0].points[:, 1].mean() > face.landmarks[8, 1]  # below the chin
                assert not over_face(hands[0].points, face.landmarks)  # so the page says nothing


def test_without_the_hand_models_fusion_goes_on(
    hand_over_mouth: tuple[np.ndarray, np.ndarray], group: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    covered, _ = hand_over_mouth
    monkeypatch.setattr(litert, "availability", lambda files: Availability(False, "missing", "install"))
    face = detect_faces(covered)[0]
    assert hands_near(covered, face.landmarks, face.size) == []
    monkeypatch.undo()
    _no_hands(monkeypatch)
    without = fuse(group, covered, FusionOptions(blend_ratio=1.0)).image
    monkeypatch.setattr(litert, "availability", lambda files: Availability(False, "missing", "install"))
    assert np.array_equal(fuse(group, covered, FusionOptions(blend_ratio=1.0)).image, without)


def test_a_silhouette_scales_with_its_grid() -> None:
    """hand_silhouette at 1/factor of the image's scale and at an origin is the full-scale one
    shrunk and shifted: what the engine draws on its small grid is where the hand is."""
    palm = np.array([[100, 200], [70, 170], [80, 120], [100, 115], [120, 118], [140, 125]], np.float32)
    points = np.zeros((21, 2), np.float32)
    points[[0, 1, 5, 9, 13, 17]] = palm
    for finger, base in zip(
        ([2, 3, 4], [6, 7, 8], [10, 11, 12], [14, 15, 16], [18, 19, 20]), [1, 5, 9, 13, 17], strict=True
    ):
        for step, index in enumerate(finger, start=1):
            points[index] = points[base] + [0, -18 * step]
    full = hand_silhouette([points], (300, 300))
    assert full[160, 100] and full[64, 100] and not full[250, 250]  # palm, middle fingertip, away
    small = hand_silhouette([points], (100, 100), origin=(40, 20), factor=2.0)
    shrunk = cv2.resize(full[20:220, 40:240].astype(np.uint8), (100, 100), interpolation=cv2.INTER_AREA)
    agreement = ((shrunk > 0) == small).mean()
    assert agreement > 0.97, agreement


def test_a_read_only_source_is_searched_once(
    hand_over_mouth: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source into many targets (a batch, every face of a group photo): its hands are looked
    for once; a writable image (the frame being drawn on) every time."""
    covered = hand_over_mouth[0].copy()
    face = detect_faces(covered)[0]
    calls = []
    real = hands.find_hands
    monkeypatch.setattr(hands, "find_hands", lambda image: calls.append(1) or real(image))
    first = hands_near(covered, face.landmarks, face.size)
    assert len(hands_near(covered, face.landmarks, face.size)) == 1 and len(calls) == 2
    covered.flags.writeable = False
    assert hands_near(covered, face.landmarks, face.size)[0].points.tolist() == first[0].points.tolist()
    assert hands_near(covered, face.landmarks, face.size) and len(calls) == 3
    moved = face.landmarks + 1.0  # another face of the same photo: searched anew
    hands_near(covered, moved, face.size)
    assert len(calls) == 4


def test_a_prepared_source_stays_read_only_in_a_worker_process(astronaut: np.ndarray) -> None:
    import pickle

    from fusion import prepare_source

    copied = pickle.loads(pickle.dumps(prepare_source(astronaut)))
    assert not copied.pixels.flags.writeable
