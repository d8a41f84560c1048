"""Sample photos that ship inside installed packages (used by tests, examples and the demo), a
pair of glasses to draw on one and a real hand to hold over it (the occlusion tests and the
quality benchmark).

Nothing here is committed to this repository: the files are found where pip put them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from fusion.errors import FusionError
from fusion.geometry import face_size
from fusion.hands import PALM, find_hands, hand_silhouette

# package -> file inside it, and what the photo holds
_SAMPLES = {
    "astronaut": ("skimage", "data/astronaut.png"),  # 512x512, one face (Eileen Collins, NASA)
    "group": ("insightface", "data/images/t1.jpg"),  # 1280x886, six faces
}


def sample_path(name: str) -> Path:
    """Path to a package-shipped sample photo; raises FusionError naming the package to install."""
    package, relative = _SAMPLES[name]
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    hint = "pip install scikit-image" if package == "skimage" else "pip install --no-deps insightface"
    raise FusionError(f"Sample photo '{name}' needs the {package} package: {hint}")


def draw_glasses(image: np.ndarray, landmarks: np.ndarray, thickness: float = 0.03) -> np.ndarray:
    """A copy of `image` (RGB) with a dark glasses frame drawn on the face of these 68 landmarks:
    an oval rim round each eye (0.95 x 0.7 eye widths across), `thickness` face sizes thick."""
    out = image.copy()
    width = max(1, round(thickness * face_size(landmarks)))
    for eye in (landmarks[36:42], landmarks[42:48]):
        across = float(np.linalg.norm(eye[3] - eye[0]))
        centre = tuple(int(v) for v in np.round(eye.mean(axis=0)))
        axes = (round(0.95 * across), round(0.7 * across))
        cv2.ellipse(out, centre, axes, 0, 0, 360, (20, 20, 20), width, cv2.LINE_AA)
    return out


HAND_IN_GROUP = (650, 400, 900, 650)  # x0, y0, x1, y1 of a hand holding poker chips in the group photo


def draw_hand(image: np.ndarray, landmarks: np.ndarray, span: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """(a copy of `image` with a real hand held over the mouth of the face of these 68 landmarks,
    the hand's coverage 0..1): the group photo's hand holding poker chips, cut out along its
    silhouette (hands.hand_silhouette), its palm centred on the mouth and its knuckles `span`
    face sizes across."""
    x0, y0, x1, y1 = HAND_IN_GROUP
    group = cv2.cvtColor(cv2.imread(str(sample_path("group"))), cv2.COLOR_BGR2RGB)[y0:y1, x0:x1]
    found = find_hands(group)
    if not found:
        raise FusionError("The group photo's hand was not found: are MediaPipe's hand models installed?")
    points = found[0].points
    scale = span * face_size(landmarks) / float(np.linalg.norm(points[17] - points[5]))
    shift = landmarks[48:68].mean(axis=0) - scale * points[PALM].mean(axis=0)
    matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]], np.float32)
    size = (image.shape[1], image.shape[0])
    hand = cv2.warpAffine(group, matrix, size, flags=cv2.INTER_CUBIC)
    silhouette = hand_silhouette([points], (group.shape[1], group.shape[0])).astype(np.float32)
    alpha = cv2.GaussianBlur(cv2.warpAffine(silhouette, matrix, size), (0, 0), max(0.7, scale))
    out = image * (1.0 - alpha[:, :, None]) + hand * alpha[:, :, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha
