"""Sample photos that ship inside installed packages (used by tests, examples and the demo), and
a pair of glasses to draw on one (the occlusion tests and the quality benchmark).

Nothing here is committed to this repository: the files are found where pip put them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from fusion.errors import FusionError
from fusion.geometry import face_size

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
