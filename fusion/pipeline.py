"""The one place that knows the order of the stages: decode, faces, resize, fuse, retouch, canvas."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from fusion.colour import prepare_lab_in_background
from fusion.device import frame_ops
from fusion.engines import AUTO, get_engine, resolve_engine
from fusion.engines.base import Engine, FacePatch, FaceRequest
from fusion.errors import FusionError
from fusion.faces import Face, choose_faces, detect_faces, pose_warnings, quality_warnings
from fusion.hands import hands_near, keep_in_front, over_face
from fusion.io import ImageInput, decode_image
from fusion.options import FusionOptions
from fusion.postprocess import OutputPlan, lay_out, plan_output
from fusion.prepared import PreparedSource, prepare_source
from fusion.retouch import smooth_skin
from fusion.upscale import detailed_source
from fusion.upscale import require as require_upscaler

log = logging.getLogger(__name__)

DETAIL_WARN_RATIO = 2.0  # warn when a face is drawn this many times larger than the source has it


@dataclass(frozen=True)
class FusionResult:
    image: np.ndarray  # (H, W, 3) RGB uint8
    timings: dict[str, float]  # seconds per stage, in order, plus "total"
    warnings: tuple[str, ...]
    source_face: Face  # in source-image coordinates
    target_faces: tuple[Face, ...]  # in target-image coordinates (before resizing)
    output_faces: tuple[Face, ...]  # where the fused faces are in the output image
    options: FusionOptions = field(default_factory=FusionOptions)
    engine: str = "classic"  # the engine that ran (what "auto" chose)

    def before(self, target: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The target photo laid out as this result is (same canvas and fit), at `size` (width, height):
        the "before" picture for a side-by-side view."""
        return lay_out(target, size, self.options.fit, self.options.output_size is not None)

    def report(self) -> dict[str, object]:
        """JSON-friendly summary for the CLI and the UI."""
        return {
            "engine": self.engine,
            "size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
            "source_face": self.source_face.as_dict(),
            "target_faces": [f.as_dict() for f in self.target_faces],
            "output_faces": [f.as_dict() for f in self.output_faces],
        }


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - begin

    def finish(self) -> dict[str, float]:
        self.timings["total"] = time.perf_counter() - self._start
        return self.timings


def _detail_warnings(
    source_face: Face, output_faces: list[Face], plan: OutputPlan, target_w: int
) -> list[str]:
    notes = []
    largest = max(face.size for face in output_faces)
    if largest > DETAIL_WARN_RATIO * source_face.size:
        notes.append(
            f"The face is drawn {largest / source_face.size:.1f}x larger than the source photo has it; "
            "fine detail is limited by the source. A larger source photo gives a sharper face."
        )
    enlarge = plan.content_size[0] / target_w
    if enlarge > DETAIL_WARN_RATIO:
        notes.append(
            f"The target photo was enlarged {enlarge:.1f}x to reach the output size; areas away from "
            "the face can look soft."
        )
    return notes


def fuse(
    source: ImageInput | PreparedSource, target: ImageInput, options: FusionOptions | None = None
) -> FusionResult:
    """Fuse the source's face into the target photo. Raises a FusionError subclass on bad input.

    `source` may be a PreparedSource (fusion.prepare_source): decoded once, its faces found once, for
    fusing one source into many targets; the result is the same as from the photo itself."""
    options = options or FusionOptions()
    prepare_lab_in_background()
    watch = _Stopwatch()
    engine, engine_notes = resolve_engine(options.engine)
    require_upscaler(options.upscaler)
    with watch.stage("decode"):
        prepared = source if isinstance(source, PreparedSource) else prepare_source(source)
        target_decoded = decode_image(target, "target")
    source_image, target_image = prepared.pixels, target_decoded.pixels
    notes = list(engine_notes + prepared.warnings + target_decoded.warnings)

    with watch.stage("detect"):
        # Face indices refer to a thorough detection (every face, largest first); the largest face
        # alone is found by the fast pass, so index 0 skips the slow one.
        source_faces = prepared.faces(options.working_limit, options.source_face != 0, options.detector)
        source_face = choose_faces(source_faces, options.source_face, "source")[0]
        target_faces = choose_faces(
            detect_faces(target_image, options.working_limit, options.target_face != 0, options.detector),
            options.target_face,
            "target",
        )
    notes += quality_warnings(source_image, source_face, "source")
    for face in target_faces:
        notes += quality_warnings(target_image, face, "target")
        notes += pose_warnings(source_face, face)

    target_h, target_w = target_image.shape[:2]
    plan = plan_output((target_w, target_h), options.output_size, options.fit)
    ops = frame_ops(options.device)
    with watch.stage("resize"):
        frame = ops.resize(target_image, plan.content_size)
        if frame is target_image:
            frame = target_image.copy()
        scale_x, scale_y = plan.content_size[0] / target_w, plan.content_size[1] / target_h
        frame_faces = [face.scaled(scale_x, scale_y) for face in target_faces]

    fuse_source, fuse_source_face = source_image, source_face
    if options.upscaler != "lanczos":
        with watch.stage("upscale"):
            fuse_source, fuse_source_face = _engine_source(
                engine, source_image, source_face, frame_faces, options
            )

    output_faces = []
    for face in frame_faces:
        with watch.stage("fuse"):
            found = hands_near(frame, face.landmarks, face.size) if options.blend_ratio > 0 else []
            hands = tuple(hand.points for hand in found)
            if any(over_face(hand, face.landmarks) for hand in hands):
                notes.append("A hand over the target's face was kept in front of the new face.")
            request = FaceRequest(fuse_source, fuse_source_face, frame, face, options, hands)
            engine, request, patch = _fuse_face(
                engine, request, notes, source_image, source_face, frame_faces
            )
            fuse_source, fuse_source_face = request.source, request.source_face
        with watch.stage("retouch"):
            pixels = patch.pixels
            if options.skin_smoothing > 0:
                local = patch.landmarks - np.array(patch.origin, np.float32)
                pixels = smooth_skin(pixels, patch.face_mask, local, face.size, options.skin_smoothing)
            x0, y0 = patch.origin
            box = (slice(y0, y0 + pixels.shape[0]), slice(x0, x0 + pixels.shape[1]))
            # A hand over the target face stays in front of the new one, whatever the engine drew.
            frame[box] = keep_in_front(pixels, frame[box], hands, patch.origin, face.size)
        output_faces.append(Face(face.box, patch.landmarks[:68].copy()))
    notes += _detail_warnings(source_face, output_faces, plan, target_w)

    image, finish_timings = ops.finish(frame, plan, options)
    for stage, seconds in finish_timings.items():
        watch.timings[stage] = watch.timings.get(stage, 0.0) + seconds
    notes += ops.notes
    offset_x, offset_y = plan.content_offset
    output_faces = [face.shifted(offset_x, offset_y) for face in output_faces]
    return FusionResult(
        image=image,
        timings=watch.finish(),
        warnings=tuple(dict.fromkeys(notes)),
        source_face=source_face,
        target_faces=tuple(target_faces),
        output_faces=tuple(output_faces),
        options=options,
        engine=engine.name,
    )


def _fuse_face(
    engine: Engine,
    request: FaceRequest,
    notes: list[str],
    source: np.ndarray,
    source_face: Face,
    frame_faces: list[Face],
) -> tuple[Engine, FaceRequest, FacePatch]:
    """One face through the engine (blend ratio 0 keeps the target). Under "auto" an engine that fails
    (a corrupt model without a published hash only shows when the runtime reads it; a model refusing
    a face) is replaced by classic for this face and the rest, and the result says so."""
    options = request.options
    if options.blend_ratio == 0.0:
        return engine, request, request.unchanged()
    try:
        return engine, request, engine.fuse_face(request)
    except Exception as exc:
        if options.engine != AUTO or engine.name == "classic":
            raise
        log.warning("the %s engine failed; auto falls back to classic", engine.name, exc_info=True)
        why = str(exc) if isinstance(exc, FusionError) else f"{type(exc).__name__}: {exc}"
        notes.append(f"The {engine.name} engine failed ({why[:200]}); the classic engine was used.")
    classic = get_engine("classic")
    classic_source, classic_face = _engine_source(classic, source, source_face, frame_faces, options)
    request = replace(request, source=classic_source, source_face=classic_face)
    return classic, request, classic.fuse_face(request)


def _engine_source(
    engine: Engine, source: np.ndarray, source_face: Face, frame_faces: list[Face], options: FusionOptions
) -> tuple[np.ndarray, Face]:
    """Stage 2 with a learned upscaler: engines that draw the source's own pixels get its face region
    enlarged to the size it will have; engines with a model output of their own upscale that inside."""
    if options.upscaler == "lanczos" or engine.upscales_itself:
        return source, source_face
    return detailed_source(source, source_face, frame_faces, options.upscaler, options.device)
