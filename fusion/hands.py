"""Hands in front of a face, found with MediaPipe's palm detector and hand landmark model (both ship
in the mediapipe wheel, run on LiteRT like the face models).

As MediaPipe's hand graphs run them (palm_detection_cpu, here with the lite palm model: twice as
fast as the full one, and it finds more of the benchmark photos' hands; palm_detection_detection_to_roi;
hand_landmark_cpu with the full landmark model): the palm detector sees the image letterboxed into
192 x 192, RGB in [0, 1]; SSD anchors of fixed size on strides 8, 16, 16, 16; seven palm keypoints;
weighted suppression. Each palm becomes a square region 2.6 times its box, pushed half a box toward
the fingers and turned so the wrist-to-middle-finger line points up; the landmark model reads that
region at 224 x 224 and gives 21 points and a hand-presence score; the region is then framed again
by those points (hand_landmark_landmarks_to_roi) and read a second time. A hand's silhouette is
drawn from its points: the palm's polygon and each finger as a thick line.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fusion import litert
from fusion.blazeface import Detection, DetectorSpec, decode

# MediaPipe keeps palms and hands over 0.5. On the benchmark photos real hands (holding chips,
# cards, a microphone) score 0.70 .. 0.73 for presence, an ear, a mouth, a forehead or a curtain
# 0.50 .. 0.52 at the first reading and up to 0.57 at the second (both must pass).
PALM_SPEC = DetectorSpec("palm_detection/palm_detection_lite.tflite", 192, (8, 16, 16, 16), 0.6)
HAND_SCORE = 0.6
LANDMARK_FILE = "hand_landmark/hand_landmark_full.tflite"
FILES = (PALM_SPEC.path, LANDMARK_FILE)
ROI_SCALE, ROI_SHIFT = 2.6, -0.5
LANDMARK_SIZE = 224
LOOK_SIZE = 512  # px: the longest side a crop is shrunk to before the models see it
PALM = [0, 1, 5, 9, 13, 17]  # wrist, thumb's base and the four knuckles
FINGERS = ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20])
FINGER_WIDTH = 0.9  # a finger's width over the mean distance between neighbouring knuckles


@dataclass(frozen=True)
class Hand:
    points: np.ndarray  # (21, 2) image pixels: wrist, thumb 1-4, index 5-8, middle 9-12, ring, little
    score: float  # the landmark model's hand presence, 0..1


def _tensor(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The image through `matrix` (image -> input) into size x size, black outside, RGB in [0, 1]."""
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return warped.astype(np.float32) / 255.0


def _palms(image: np.ndarray) -> list[Detection]:
    """The palms in an RGB image (box and seven keypoints each), in its pixels."""
    size = PALM_SPEC.size
    height, width = image.shape[:2]
    scale = size / max(height, width)
    left, top = (size - width * scale) / 2, (size - height * scale) / 2
    matrix = np.array([[scale, 0, left], [0, scale, top]], np.float32)
    outputs = litert.model(PALM_SPEC.path)(_tensor(image, matrix, size))
    return decode(PALM_SPEC, outputs, (scale, left, top))


def _rotation(start: np.ndarray, end: np.ndarray) -> float:
    """The turn that makes the start -> end line point up (MediaPipe's target angle of 90 degrees)."""
    dx, dy = end - start
    return math.pi / 2 - math.atan2(-dy, dx)


def _hand_region(box: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """2 x 3 matrix from the image to the landmark model's input for one palm (its region turned
    so that the wrist (keypoint 0) to middle finger (keypoint 2) line points up)."""
    side = float(max(box[2] - box[0], box[3] - box[1]))
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)
    return _region(centre, side, _rotation(keypoints[0], keypoints[2]), ROI_SHIFT, ROI_SCALE)


PALM_AND_BASES = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]  # hand_landmark_landmarks_to_roi's points


def _landmark_region(points: np.ndarray) -> np.ndarray:
    """The landmark model's region framed again by its own first answer, as MediaPipe's tracking
    does (hand_landmark_landmarks_to_roi): turned by the wrist and the middle of the index, middle
    and ring knuckles, around the palm's and the fingers' bases, 2x, pushed a tenth toward the
    fingers."""
    knuckles = ((points[5] + points[13]) / 2 + points[9]) / 2
    rotation = _rotation(points[0], knuckles)
    cos, sin = math.cos(rotation), math.sin(rotation)
    base = points[PALM_AND_BASES].astype(np.float64)
    turned = base @ np.array([[cos, -sin], [sin, cos]])  # into the region's own axes
    low, high = turned.min(axis=0), turned.max(axis=0)
    centre = np.array([[cos, sin], [-sin, cos]]).T @ ((low + high) / 2)
    side = float(max(high - low))
    return _region(centre, side, rotation, -0.1, 2.0)


def _region(centre: np.ndarray, side: float, rotation: float, shift: float, scale: float) -> np.ndarray:
    """2 x 3 matrix from the image to the landmark model's input: a square of `side` * `scale` around
    `centre`, pushed `shift` sides along its turned y axis, turned by `rotation`."""
    cos, sin = math.cos(rotation), math.sin(rotation)
    centre = centre + np.array([-sin * shift * side, cos * shift * side])
    side *= scale
    axes = np.array([[cos, -sin], [sin, cos]]) * side  # columns: the region's x and y in the image
    corners = np.array([centre + axes @ (np.array(uv) - 0.5) for uv in ((0, 0), (1, 0), (0, 1))], np.float32)
    target = np.array([[0, 0], [LANDMARK_SIZE, 0], [0, LANDMARK_SIZE]], np.float32)
    return cv2.getAffineTransform(corners, target)


def find_hands(image: np.ndarray) -> list[Hand]:
    """Hands in an RGB image (a crop around a face), with their 21 points in its pixels; none
    when MediaPipe's hand models are not installed (they come with the face models' wheel)."""
    if not litert.availability(FILES).available:
        return []
    shrink = min(1.0, LOOK_SIZE / max(image.shape[:2]))
    if shrink < 1.0:  # area averaging first: the models' own resampling would alias
        size = (max(1, round(image.shape[1] * shrink)), max(1, round(image.shape[0] * shrink)))
        found = find_hands(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        return [Hand(hand.points / shrink, hand.score) for hand in found]
    hands = []
    for palm in _palms(image):
        first, score = _landmarks(image, _hand_region(palm.box, palm.keypoints))
        if score < HAND_SCORE:
            continue
        # Framed again by its own points: the palm's box and keypoints only roughly place a fist.
        points, score = _landmarks(image, _landmark_region(first))
        if score >= HAND_SCORE:
            hands.append(Hand(points, score))
    return hands


def _landmarks(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """The landmark model on the region `matrix` frames: 21 points in image pixels, presence 0..1."""
    landmarks, _, presence, _ = litert.model(LANDMARK_FILE)(_tensor(image, matrix, LANDMARK_SIZE))
    inverse = cv2.invertAffineTransform(matrix)
    local = landmarks.reshape(21, 3)[:, :2]
    points = (local @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
    return points, float(litert.sigmoid(presence.reshape(-1)[:1])[0])


def hand_silhouette(
    hands: Sequence[np.ndarray],
    size: tuple[int, int],
    origin: tuple[int, int] = (0, 0),
    factor: float = 1.0,
) -> np.ndarray:
    """(h, w) bool of `size` (w, h): the hands (Hand.points, (21, 2) each) drawn into the rectangle
    at `origin` of their image, at 1/`factor` of its scale."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    for hand in hands:
        points = (hand - np.array(origin, np.float32)) / factor
        knuckles = points[[5, 9, 13, 17]]
        spacing = float(np.linalg.norm(np.diff(knuckles, axis=0), axis=1).mean())
        thickness = max(1, round(FINGER_WIDTH * spacing))
        cv2.fillConvexPoly(mask, cv2.convexHull(points[PALM]).astype(np.int32), 1)
        for finger in FINGERS:
            line = np.round(points[finger]).astype(np.int32)
            cv2.polylines(mask, [line], False, 1, thickness, lineType=cv2.LINE_8)
            for joint in line:  # round ends and joints
                cv2.circle(mask, (int(joint[0]), int(joint[1])), thickness // 2, 1, -1)
    return mask.astype(bool)


REGION = 1.3  # face sizes either side of a face's centre searched for hands


# The last read-only photo searched and its answers: one source fused into many targets (a batch,
# every face of a group photo) is searched once. Held weakly: the photo is not kept alive by it.
_last: tuple[weakref.ref[np.ndarray], dict[bytes, list[Hand]]] | None = None


def hands_near(image: np.ndarray, landmarks: np.ndarray, face_size: float) -> list[Hand]:
    """Hands in the square around a face (its 68 points' centre, REGION face sizes either side),
    in `image`'s pixels: a crop with room for a whole hand that lies over the face. Remembered for
    the last read-only image (the pipeline's source: PreparedSource pixels cannot change)."""
    global _last
    if image.flags.writeable:
        return _search(image, landmarks, face_size)
    key = landmarks[:68].astype(np.float32).tobytes() + np.float32(face_size).tobytes()
    last = _last
    if last is None or last[0]() is not image:
        last = (weakref.ref(image), {})
    if key not in last[1]:
        last[1][key] = _search(image, landmarks, face_size)
    _last = last
    return last[1][key]


def over_face(hand: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether a hand's points (Hand.points) lie over the face of these 68 points (three or more
    inside their hull), not just near it (a hand on a microphone under the chin)."""
    hull = cv2.convexHull(landmarks[:68].astype(np.float32))
    inside = [cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in hand]
    return sum(inside) >= 3


def _search(image: np.ndarray, landmarks: np.ndarray, face_size: float) -> list[Hand]:
    centre = landmarks[:68].mean(axis=0)
    height, width = image.shape[:2]
    reach = REGION * face_size
    x0, y0 = max(0, int(centre[0] - reach)), max(0, int(centre[1] - reach))
    x1, y1 = min(width, int(centre[0] + reach) + 1), min(height, int(centre[1] + reach) + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return []
    offset = np.array([x0, y0], np.float32)
    return [Hand(hand.points + offset, hand.score) for hand in find_hands(image[y0:y1, x0:x1])]


def keep_in_front(
    pixels: np.ndarray,
    target: np.ndarray,
    hands: Sequence[np.ndarray],
    origin: tuple[int, int],
    face_size: float,
) -> np.ndarray:
    """`pixels` (a fused crop at `origin`) with the target's own hands (`target`: the unmorphed
    crop) back in front, feathered over a hundredth of a face: neither the new face nor the shape
    morph may draw over them."""
    if not hands:
        return pixels
    height, width = pixels.shape[:2]
    alpha = hand_silhouette(hands, (width, height), origin).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.01 * face_size))[:, :, None]
    return (pixels * (1.0 - alpha) + target * alpha + 0.5).astype(np.uint8)
