"""Side light the source brings along (a lit nose bridge) is dimmed to the target's; nothing is brightened."""

from __future__ import annotations

import numpy as np

from fusion.colour import HIGHLIGHT_KEEP, highlight_offset
from fusion.faces import detect_faces


def test_a_highlight_the_target_lacks_is_dimmed_and_nothing_else_moves(astronaut: np.ndarray) -> None:
    face = detect_faces(astronaut)[0]
    points = face.landmarks
    lit = astronaut.astype(np.float32)
    # A pale stripe down the nose bridge, as a source lit from the side brings it.
    x = int(points[27:31, 0].mean())
    top, bottom = int(points[27, 1]), int(points[30, 1])
    half = max(2, round(0.05 * face.size))  # a tenth of a face wide, like a lit nose bridge
    lit[top:bottom, x - half : x + half] += 50.0
    offset = highlight_offset(astronaut, lit, points, face.size)
    assert offset.shape == (*astronaut.shape[:2], 1)
    assert offset.max() <= 0.0  # it only dims
    middle = (top + bottom) // 2
    dimmed = -float(offset[middle, x, 0])
    assert dimmed > 0.4 * (1.0 - HIGHLIGHT_KEEP) * 50.0, dimmed  # a good part of the stripe
    # The cheeks, away from the stripe, are left as they are.
    for index in (2, 14):
        cx, cy = np.round((points[index] + points[30]) / 2).astype(int)
        assert abs(float(offset[cy, cx, 0])) < 1.0, index
    # The target itself has nothing to dim.
    assert float(highlight_offset(astronaut, astronaut.astype(np.float32), points, face.size).min()) > -1.0
