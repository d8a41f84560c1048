"""What each UI action does: plain values in, FusionOptions -> fusion -> plain values out.

Library errors (FusionError) become gr.Error with the library's own message at this edge; anything
else becomes one generic line (the details go to the server log), never a stack trace in the page.
Per-request data travels in arguments and gr.State only; `Handlers` holds app-wide settings alone.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from fusion import FusionError, FusionOptions, InvalidImage, InvalidOptions, fuse
from fusion.engines import AUTO, ENGINE_NAMES, engine_availability, resolve_engine
from fusion.errors import Availability
from fusion.faces import Face, detect_faces
from fusion.identity import SAME_PERSON_DISTANCE, face_descriptor, identity_distance, redetected_descriptor
from fusion.io import decode_image, encode_image, write_atomic
from fusion.options import UPSCALERS
from fusion.postprocess import place_on_canvas, plan_output, resize
from fusion.upscale import availability as upscaler_availability
from webui import hints, memory
from webui.presets import preset_values
from webui.settings import Settings

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1024  # the before/after slider shows at most this; the download is full size
FACES_PREVIEW_SIDE = 640
PREVIEW_QUALITY = 90
IDENTITY_PENDING = "**Identity distance:** measuring ..."
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_BOX_COLOURS = ((255, 64, 64), (64, 160, 255), (64, 200, 64), (255, 170, 0), (200, 80, 255), (0, 200, 200))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn library errors into a message in the page; log (never show) anything unexpected."""
    try:
        yield
    except gr.Error:
        raise
    except FusionError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except Exception as exc:
        log.exception("unexpected error")
        raise gr.Error(
            f"Something went wrong on the server ({type(exc).__name__}); the details are in its log. "
            "Try again, or with other photos or settings.",
            print_exception=False,
        ) from None


@dataclass(frozen=True)
class IdentityJob:
    """What the identity check after a fusion needs (kept in gr.State between the two steps)."""

    source_path: str
    target_path: str
    result_path: str
    source_face: Face
    target_face: Face
    output_face: Face


def parse_face_index(value: object, role: str, allow_all: bool) -> int | str:
    text = str(value).strip().lower() if value is not None else "0"
    if allow_all and text == "all":
        return "all"
    text = text.split()[0] if text else "0"  # "2 (left)" -> "2"
    if not text.isdigit():
        extra = ' or "all"' if allow_all else ""
        raise InvalidOptions(f"{role}_face={value!r} must be a face index 0, 1, 2, ...{extra}")
    return int(text)


def _choices(names: tuple[str, ...], check: Callable[[str], Availability]) -> list[tuple[str, str]]:
    """(label, value) pairs for a dropdown; what can't run here is labelled as such."""
    return [(name if check(name).available else f"{name} (unavailable)", name) for name in names]


def engine_choices() -> list[tuple[str, str]]:
    """auto first, labelled with what it picks here; then every engine."""
    picked = resolve_engine(AUTO)[0].name
    return [(f"auto ({picked})", AUTO)] + _choices(ENGINE_NAMES, engine_availability)


def upscaler_choices() -> list[tuple[str, str]]:
    return _choices(UPSCALERS, upscaler_availability)


def engine_notes() -> str:
    """Markdown lines for every engine or upscaler that cannot run here: why, and how to fix it."""
    lines = []
    for names, check in ((ENGINE_NAMES, engine_availability), (UPSCALERS, upscaler_availability)):
        for name in names:
            status = check(name)
            if not status.available:
                lines.append(f"- **{name}** is unavailable: {status.reason}. {status.remedy}")
    return "\n".join(lines)


def _fit_longest_side(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )


def draw_faces(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A small copy of `image` with each face boxed and labelled with its index."""
    preview = _fit_longest_side(image, FACES_PREVIEW_SIDE).copy()
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


def detect_for_display(image_path: str | None, role: str, output_dir: Path | None = None) -> tuple[Any, Any]:
    """After an upload: the picture with numbered faces, and the face-index dropdown's new choices.

    With `output_dir` the picture comes back as a file there (see write_preview), else as an array."""
    allow_all = role == "target"
    if not image_path:
        choices = [("0", "0")] + ([("all", "all")] if allow_all else [])
        return None, gr.update(choices=choices, value="0")
    with user_errors():
        decoded = decode_image(image_path, role)
        # Indices refer to a thorough detection (every face, largest first), as in fuse().
        faces = detect_faces(decoded.pixels, thorough=True)
    if not faces:
        gr.Warning(f"No face found in the {role} photo. Use one where the face is clearly visible.")
    choices = [(f"{i}", str(i)) for i in range(max(1, len(faces)))]
    if allow_all and len(faces) > 1:
        choices.append((f"all ({len(faces)} faces)", "all"))
    preview: Any = draw_faces(decoded.pixels, faces)
    if output_dir is not None:
        with user_errors():
            preview = write_preview(output_dir / f"fusion-{uuid.uuid4().hex}-faces.jpg", preview)
    return preview, gr.update(choices=choices, value="0")


def before_after(
    target_path: str, result: np.ndarray, options: FusionOptions
) -> tuple[np.ndarray, np.ndarray]:
    """The target laid out on the result's canvas (same fit) and the result, both at preview size."""
    after = _fit_longest_side(result, PREVIEW_SIDE)
    preview_size = (after.shape[1], after.shape[0])
    target = decode_image(target_path, "target").pixels
    plan = plan_output((target.shape[1], target.shape[0]), preview_size, options.fit)
    if options.output_size is None:
        plan = plan_output((target.shape[1], target.shape[0]), preview_size, "stretch")
    before = place_on_canvas(resize(target, plan.content_size), plan)
    return before, after


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


def identity_markdown(job: IdentityJob | None) -> str:
    """Identity distance (dlib descriptor) of the fused face to the source and to the target."""
    if job is None:
        return ""
    with user_errors():
        source = decode_image(job.source_path, "source").pixels
        target = decode_image(job.target_path, "target").pixels
        result = decode_image(job.result_path, "result").pixels
        fused = redetected_descriptor(result, job.output_face)
        if fused is None:
            return "**Identity:** the fused face was not found again in the result, so no distance."
        to_source = identity_distance(fused, face_descriptor(source, job.source_face))
        to_target = identity_distance(fused, face_descriptor(target, job.target_face))
    return (
        f"**Identity distance** (dlib descriptor; below {SAME_PERSON_DISTANCE} usually means the same "
        f"person): to the source **{to_source:.3f}**, to the target **{to_target:.3f}**."
    )


def header_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when it can't be read (the library then
    decodes it and says precisely what is wrong)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


class Handlers:
    """The UI's actions. Holds only app-wide, read-only settings (where results go, the machine)."""

    def __init__(self, output_dir: Path, force_cpu: bool = False, settings: Settings | None = None) -> None:
        self.output_dir = output_dir
        self.force_cpu = force_cpu
        self.settings = settings or Settings()
        output_dir.mkdir(parents=True, exist_ok=True)
        self.prune_outputs()  # results left from an earlier run that are past the retention time

    def capacity(self) -> hints.Capacity:
        return hints.machine_capacity(self.force_cpu)

    def resolution_hint(self, resolution: str = "original", target: str | None = None) -> str:
        """Markdown under the resolution control: expected time (CPU) or free memory (GPU)."""
        try:
            target_size = header_size(target) if target else None
            return hints.hint_text(resolution, target_size, self.capacity())
        except FusionError as exc:
            return f"⚠️ {exc}"

    def _check_capacity(self, options: FusionOptions, target_path: str) -> None:
        """Refuse, before any work, an output size this machine cannot hold."""
        size = options.output_size or header_size(target_path)
        if size is None:
            return  # not readable as an image: decoding reports why
        capacity = self.capacity()
        pixels = size[0] * size[1]
        if not hints.fits_in_memory(pixels, capacity):
            largest = hints.largest_preset_that_fits(capacity.free_bytes) or "a smaller size"
            raise gr.Error(
                f"{size[0]}x{size[1]} needs about {pixels * hints.BYTES_PER_OUTPUT_PIXEL / 1024**3:.1f} GiB "
                f"but this machine ({capacity.device}) has {capacity.free_bytes / 1024**3:.1f} GiB free. "
                f"Choose {largest} or less.",
                print_exception=False,
            )

    def _check_pixels(self, path: str, role: str) -> None:
        """The app's pixel limit (it can be set lower than the library's, which decoding enforces)."""
        size = header_size(path)
        limit = self.settings.max_pixels
        if size is not None and size[0] * size[1] > limit:
            raise InvalidImage(
                role,
                f"{size[0]}x{size[1]} pixels is over this app's limit of {limit:,} pixels",
                "Downscale the photo first",
            )

    def prune_outputs(self) -> None:
        """Delete results older than the retention time (bounded: at most 10,000 files looked at)."""
        cutoff = time.time() - self.settings.retention_seconds
        # ".fusion-*.tmp": a write cut short by a killed server (write_atomic's temporary file).
        candidates = itertools.chain(self.output_dir.glob("fusion-*"), self.output_dir.glob(".fusion-*.tmp"))
        for count, path in enumerate(candidates):
            if count > 10_000:
                break
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    def fuse(
        self,
        source: str | None,
        target: str | None,
        blend_ratio: float = 1.0,
        mode: str = "normal",
        skin_smoothing: float = 0.0,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        sharpen: float = 0.0,
        resolution: str = "original",
        fit: str = "pad",
        output_format: str = "png",
        source_face: str = "0",
        target_face: str = "0",
        engine: str = AUTO,
        upscaler: str = "lanczos",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way of asking for a progress bar)
    ) -> tuple[str, tuple[str, str], str, str, IdentityJob | None]:
        """Fuse the source face into the target photo.

        Returns the full-resolution result file (in `output_format`), the before/after pair for the
        slider, the details as Markdown, the identity line's placeholder and the state for the
        identity check that follows (it runs after the result is shown).
        """
        if not source or not target:
            missing = " and ".join(r for r, v in (("source face", source), ("target photo", target)) if not v)
            raise gr.Error(f"Add a {missing} first.", print_exception=False)
        with user_errors():
            if output_format not in _EXTENSIONS:
                raise InvalidOptions(
                    f"output_format={output_format!r} is not one of {', '.join(_EXTENSIONS)}"
                )
            options = FusionOptions(
                blend_ratio=blend_ratio,
                mode=mode,  # type: ignore[arg-type]
                skin_smoothing=skin_smoothing,
                brightness=brightness,
                contrast=contrast,
                saturation=saturation,
                sharpen=sharpen,
                resolution=str(resolution),
                fit=fit,  # type: ignore[arg-type]
                source_face=parse_face_index(source_face, "source", allow_all=False),  # type: ignore[arg-type]
                target_face=parse_face_index(target_face, "target", allow_all=True),
                engine=engine,
                upscaler=upscaler,  # type: ignore[arg-type]
                device="cpu" if self.force_cpu else "auto",
            )
            self._check_pixels(source, "source")
            self._check_pixels(target, "target")
            self._check_capacity(options, target)
            progress(0.05, desc="Fusing")
            result = fuse(source, target, options)
            progress(0.9, desc="Saving")
            started = time.perf_counter()
            data = encode_image(result.image, output_format, {"Software": "face-fusion"})
            name = f"fusion-{uuid.uuid4().hex}"
            path = self.output_dir / f"{name}.{_EXTENSIONS[output_format]}"
            write_atomic(path, data)
            # The slider's pictures: files of our own with unique names (see write_preview).
            previews = [
                write_preview(self.output_dir / f"{name}-{label}.jpg", image)
                for label, image in zip(
                    ("before", "after"), before_after(target, result.image, options), strict=True
                )
            ]
            handler_seconds = time.perf_counter() - started
        for note in result.warnings:
            gr.Warning(note)
        self.prune_outputs()
        memory.release_free_memory()
        job = IdentityJob(
            source, target, str(path), result.source_face, result.target_faces[0], result.output_faces[0]
        )
        report = result.report()
        info = info_markdown(report, output_format, handler_seconds)
        return str(path), (previews[0], previews[1]), info, IDENTITY_PENDING, job

    def identity(self, job: IdentityJob | None) -> str:
        return identity_markdown(job)


def preset_handler(name: str) -> Callable[[], tuple[object, ...]]:
    def apply_preset() -> tuple[object, ...]:
        return preset_values(name)

    apply_preset.__name__ = f"preset_{name}"
    return apply_preset
