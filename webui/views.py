"""What the page shows: face previews, the result's details and identity, and the engine choices.

Plain values in, pictures and Markdown out; everything comes from the library's public API.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion import (
    ENGINE_NAMES,
    SAME_PERSON_DISTANCE,
    Availability,
    EngineUnavailable,
    Face,
    IdentityCheck,
    auto_engine,
    detector_availability,
    encode_image,
    engine_availability,
    upscaler_availability,
    write_atomic,
)
from fusion.options import DETECTORS, UPSCALERS

PREVIEW_SIDE = 1024  # the before/after slider shows at most this; the download is full size
FACES_PREVIEW_SIDE = 640
PREVIEW_QUALITY = 90
IDENTITY_PENDING = "**Identity distance:** measuring ..."
_BOX_COLOURS = ((255, 64, 64), (64, 160, 255), (64, 200, 64), (255, 170, 0), (200, 80, 255), (0, 200, 200))


def _choices(names: tuple[str, ...], check: Callable[[str], Availability]) -> list[tuple[str, str]]:
    """(label, value) pairs for a dropdown; what can't run here is labelled as such."""
    return [(name if check(name).available else f"{name} (unavailable)", name) for name in names]


def engine_choices() -> list[tuple[str, str]]:
    """auto first, labelled with what it picks here; then every engine."""
    return [(f"auto ({auto_engine()})", "auto")] + _choices(ENGINE_NAMES, engine_availability)


def upscaler_choices() -> list[tuple[str, str]]:
    return _choices(UPSCALERS, upscaler_availability)


def detector_choices() -> list[tuple[str, str]]:
    return _choices(DETECTORS, detector_availability)


def engine_notes() -> str:
    """Markdown lines for every engine or upscaler that cannot run here: why, and how to fix it."""
    lines = []
    for names, check in (
        (ENGINE_NAMES, engine_availability),
        (UPSCALERS, upscaler_availability),
        (DETECTORS, detector_availability),
    ):
        for name in names:
            status = check(name)
            if not status.available:
                lines.append(f"- **{name}** is unavailable: {status.reason}. {status.remedy}")
    return "\n".join(lines)


def fit_longest_side(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )


def draw_faces(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A small copy of `image` with each face boxed and labelled with its index."""
    preview = fit_longest_side(image, FACES_PREVIEW_SIDE).copy()
    scale = preview.shape[1] / image.shape[1]
    thickness = max(2, round(preview.shape[1] / 300))
    for index, face in enumerate(faces):
        colour = _BOX_COLOURS[index % len(_BOX_COLOURS)]
        x0, y0, x1, y1 = (round(v * scale) for v in face.box)
        cv2.rectangle(preview, (x0, y0), (x1, y1), colour, thickness)
        label = str(index)
        font_scale = max(0.6, (x1 - x0) / 90)
        (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, y0 - text_h - 8)
        cv2.rectangle(preview, (x0, top), (x0 + text_w + 8, top + text_h + 8), colour, -1)
        cv2.putText(
            preview,
            label,
            (x0 + 4, top + text_h + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            thickness,
        )
    return preview


def write_preview(path: Path, image: np.ndarray) -> str:
    """Save a picture for the page as a JPEG file of our own (unique name) and return its path.

    Handed to gradio as an array instead, two identical pictures (two users, same photo, same moment)
    are written by gradio to one content-hashed cache path, and one user's download of it came back
    truncated while the other's was being written (found by benchmarks/load.py).
    """
    write_atomic(path, encode_image(image, "jpeg", quality=PREVIEW_QUALITY))
    return str(path)


def info_markdown(report: dict[str, Any], output_format: str, seconds_in_handler: float) -> str:
    width, height = report["size"]
    timings = dict(report["timings"])
    total = timings.pop("total")
    stages = " · ".join(
        f"{stage} {seconds * 1000:.0f}" for stage, seconds in timings.items() if seconds >= 0.0005
    )
    lines = [
        f"**Output:** {width} x {height} px, {output_format.upper()}, {report['engine']} engine",
        f"**Time:** {total:.2f} s in fuse() ({stages} ms), "
        f"then {seconds_in_handler * 1000:.0f} ms to encode and save",
    ]
    warnings = report["warnings"]
    if warnings:
        lines.append("**Warnings:**")
        lines += [f"- {note}" for note in warnings]
    else:
        lines.append("No warnings.")
    return "\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:])


def identity_unavailable_markdown(missing: EngineUnavailable) -> str:
    return (
        "**Identity:** not measured: the judge (dlib's face descriptor) is an optional extra. "
        f"{missing.remedy}"
    )


def identity_markdown(check: IdentityCheck | None) -> str:
    """Identity distance (dlib descriptor) of the fused face to the source and to the target."""
    if check is None:
        return "**Identity:** dlib did not find the faces again in the three photos, so no distance."
    return (
        f"**Identity distance** (dlib descriptor; below {SAME_PERSON_DISTANCE} usually means the same "
        f"person): to the source **{check.to_source:.3f}**, to the target **{check.to_target:.3f}**."
    )
