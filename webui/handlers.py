"""What each UI action does: plain values in, FusionOptions -> fusion -> plain values out.

Library errors (FusionError) become gr.Error with the library's own message at this edge; anything
else becomes one generic line (the details go to the server log), never a stack trace in the page.
Per-request data travels in arguments and gr.State only; `Handlers` holds app-wide settings alone.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import gradio as gr

from fusion import (
    EXTENSIONS,
    EngineUnavailable,
    Face,
    FusionError,
    FusionOptions,
    InvalidImage,
    InvalidOptions,
    check_identity,
    decode_image,
    detect,
    encode_image,
    fuse,
    header_size,
    write_atomic,
)
from fusion.options import CONTROLS, DETECTORS, Detector
from webui import hints, memory
from webui.presets import preset_values
from webui.settings import Settings
from webui.views import (
    IDENTITY_PENDING,
    PREVIEW_SIDE,
    draw_faces,
    fit_longest_side,
    identity_markdown,
    identity_unavailable_markdown,
    info_markdown,
    write_preview,
)

log = logging.getLogger(__name__)


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


def detect_for_display(
    image_path: str | None, detector: str = "mediapipe", role: str = "target", output_dir: Path | None = None
) -> tuple[Any, Any]:
    """After an upload (or a change of face detector): the picture with numbered faces, and the
    face-index dropdown's new choices.

    With `output_dir` the picture comes back as a file there (see write_preview), else as an array."""
    allow_all = role == "target"
    if not image_path:
        choices = [("0", "0")] + ([("all", "all")] if allow_all else [])
        return None, gr.update(choices=choices, value="0")
    with user_errors():
        if detector not in DETECTORS:
            raise InvalidOptions(f"detector={detector!r} is not one of {', '.join(DETECTORS)}")
        found = detect(image_path, role, cast(Detector, detector))  # numbered as fuse() numbers them
    faces = found.faces
    if not faces:
        gr.Warning(f"No face found in the {role} photo. Use one where the face is clearly visible.")
    choices = [(f"{i}", str(i)) for i in range(max(1, len(faces)))]
    if allow_all and len(faces) > 1:
        choices.append((f"all ({len(faces)} faces)", "all"))
    preview: Any = draw_faces(found.image, faces)
    if output_dir is not None:
        with user_errors():
            preview = write_preview(output_dir / f"fusion-{uuid.uuid4().hex}-faces.jpg", preview)
    return preview, gr.update(choices=choices, value="0")


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
        engine: str = "auto",
        upscaler: str = "lanczos",
        detector: str = "mediapipe",
        mouth: str = "source",
        eyes: str = "auto",
        nose: str = "auto",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way of asking for a progress bar)
    ) -> tuple[str, tuple[str, str], str, str, IdentityJob | None]:
        """Fuse the source face into the target photo.

        The parameters are the `/fuse` API's; app.py binds the page's controls to them by name, and
        every one but the photos and output_format is a FusionOptions field (fusion.options.CONTROLS).
        Returns the full-resolution result file (in `output_format`), the before/after pair for the
        slider, the details as Markdown, the identity line's placeholder and the state for the
        identity check that follows (it runs after the result is shown).
        """
        values = {name: value for name, value in locals().items() if name in FUSE_OPTION_FIELDS}
        if not source or not target:
            missing = " and ".join(r for r, v in (("source face", source), ("target photo", target)) if not v)
            raise gr.Error(f"Add a {missing} first.", print_exception=False)
        with user_errors():
            if output_format not in EXTENSIONS:
                raise InvalidOptions(f"output_format={output_format!r} is not one of {', '.join(EXTENSIONS)}")
            options = FusionOptions.from_values({**values, "device": "cpu" if self.force_cpu else "auto"})
            self._check_pixels(source, "source")
            self._check_pixels(target, "target")
            self._check_capacity(options, target)
            progress(0.05, desc="Fusing")
            result = fuse(source, target, options)
            progress(0.9, desc="Saving")
            started = time.perf_counter()
            data = encode_image(result.image, output_format, {"Software": "face-fusion"})
            name = f"fusion-{uuid.uuid4().hex}"
            path = self.output_dir / f"{name}.{EXTENSIONS[output_format]}"
            write_atomic(path, data)
            # The slider's pictures: files of our own with unique names (see write_preview).
            after = fit_longest_side(result.image, PREVIEW_SIDE)
            before = result.before(decode_image(target, "target").pixels, (after.shape[1], after.shape[0]))
            previews = [
                write_preview(self.output_dir / f"{name}-{label}.jpg", image)
                for label, image in (("before", before), ("after", after))
            ]
            handler_seconds = time.perf_counter() - started
        for note in result.warnings:
            gr.Warning(note)
        self.prune_outputs()
        memory.release_free_memory()
        job = IdentityJob(
            source, target, str(path), result.source_face, result.target_faces[0], result.output_faces[0]
        )
        info = info_markdown(result.report(), output_format, handler_seconds)
        return str(path), (previews[0], previews[1]), info, IDENTITY_PENDING, job

    def identity(self, job: IdentityJob | None) -> str:
        if job is None:
            return ""
        with user_errors():
            try:
                check = check_identity(
                    job.source_path,
                    job.target_path,
                    job.result_path,
                    job.source_face,
                    job.target_face,
                    job.output_face,
                )
            except EngineUnavailable as missing:  # the judge is the optional dlib extra
                return identity_unavailable_markdown(missing)
        return identity_markdown(check)


# The `/fuse` API's parameters, in order: app.py binds a control of the same name to each. Those that
# are FusionOptions fields (all but the photos and output_format) become options by name.
FUSE_PARAMETERS: tuple[str, ...] = tuple(
    name for name in inspect.signature(Handlers.fuse).parameters if name not in ("self", "progress")
)
FUSE_OPTION_FIELDS = frozenset(FUSE_PARAMETERS) & {control.name for control in CONTROLS}


def preset_handler(name: str) -> Callable[[], tuple[object, ...]]:
    def apply_preset() -> tuple[object, ...]:
        return preset_values(name)

    apply_preset.__name__ = f"preset_{name}"
    return apply_preset
