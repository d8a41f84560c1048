"""The page: gr.Blocks layout and the wiring of every event to a handler with a named API endpoint."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from fusion import FusionError, sample_path
from fusion.options import EYES, FITS, MODES, MOUTHS, NOSES, OUTPUT_FORMATS, RESOLUTION_PRESETS
from webui.batch_tab import add_batch_tab
from webui.handlers import FUSE_PARAMETERS, Handlers, detect_for_display, preset_handler
from webui.i18n import I18N, t
from webui.presets import PRESET_FIELDS, PRESETS
from webui.settings import Settings
from webui.views import detector_choices, engine_choices, engine_notes, upscaler_choices

# Every event that does heavy work shares one pool of settings.concurrency slots (1 by default: on a
# 2-core CPU a second fusion at once only splits the cores; the library serialises its dlib calls,
# so more is safe where there are cores or a GPU to use).
FUSION_QUEUE = "fusion"
CSS = """
#fuse-button {min-height: 3em; font-size: 1.15em}
.face-preview img {object-fit: contain}
"""


def pass_upload_path(image: gr.Image) -> gr.Image:
    """Make a filepath gr.Image hand the uploaded file's path on without opening it.

    gr.Image opens every upload with Pillow before the handler runs, so a zero-byte, text or
    decompression-bomb upload failed inside gradio with a generic "upstream app raised an exception".
    The library decodes and validates the file itself and says exactly what is wrong with it.
    (A subclass would do the same, but gradio writes a .pyi file beside any module defining one.)
    """
    gradio_preprocess = image.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None and getattr(payload, "path", None):
            return str(payload.path)
        return gradio_preprocess(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


def default_data_dir() -> Path:
    """Where the app keeps its pid files and results: $FUSION_DATA_DIR or ~/.cache/face-fusion."""
    configured = os.environ.get("FUSION_DATA_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "face-fusion"


def example_pairs() -> list[list[str]]:
    """Source/target pairs made of photos that ship with installed packages (none in this repo)."""
    try:
        astronaut, group = str(sample_path("astronaut")), str(sample_path("group"))
    except FusionError:
        return []
    return [[astronaut, group], [group, astronaut]]


def _photo_column(role: str, face_choices: list[tuple[str, str]]) -> tuple[gr.Image, gr.Image, gr.Dropdown]:
    """One input photo: the upload, the numbered faces found in it, and the face to use."""
    with gr.Column(scale=1, min_width=280):
        image = gr.Image(
            label=t(role),
            type="filepath",
            image_mode=None,  # keep the uploaded file as it is: the library decodes it
            sources=["upload", "clipboard", "webcam"],
            height=260,
            elem_id=f"{role}-image",
        )
        faces = gr.Image(
            label=t(f"{role}_faces"),
            elem_id=f"{role}-faces",
            interactive=False,
            format="jpeg",
            height=180,
            elem_classes="face-preview",
        )
        face = gr.Dropdown(
            choices=face_choices,
            value="0",
            label=t(f"{role}_face"),
            info=t(f"{role}_face_info"),
            allow_custom_value=True,  # choices change per upload; the handler validates
        )
    return image, faces, face


def build_app(output_dir: Path, force_cpu: bool = False, settings: Settings | None = None) -> gr.Blocks:
    settings = settings or Settings()
    handlers = Handlers(output_dir, force_cpu=force_cpu, settings=settings)
    # Gradio's own copies of uploads and outputs go after the same retention time as our results.
    delete_cache = (settings.cache_check_seconds, settings.retention_seconds)
    # Two tabs: the single fusion below, and the Batch tab (webui/batch_tab.py) added after it.
    with (
        gr.Blocks(title="Face fusion", delete_cache=delete_cache) as demo,
        gr.Tabs() as tabs,
        gr.Tab(t("tab_fuse"), id="fuse"),
    ):
        gr.Markdown(t("intro"))
        with gr.Row(equal_height=False):
            source, source_faces, source_face = _photo_column("source", [("0", "0")])
            target, target_faces, target_face = _photo_column("target", [("0", "0"), ("all", "all")])
            with gr.Column(scale=1, min_width=300):
                with gr.Row():
                    preset_buttons = {
                        name: gr.Button(t(f"preset_{name}"), size="sm", variant="secondary")
                        for name in PRESETS
                    }
                blend_ratio = gr.Slider(
                    0, 1, value=1.0, step=0.05, label=t("blend_ratio"), info=t("blend_ratio_info")
                )
                mode = gr.Radio(list(MODES), value="normal", label=t("mode"), info=t("mode_info"))
                skin_smoothing = gr.Slider(
                    0, 1, value=0.0, step=0.05, label=t("skin_smoothing"), info=t("skin_smoothing_info")
                )
                resolution = gr.Dropdown(
                    list(RESOLUTION_PRESETS),
                    value="original",
                    label=t("resolution"),
                    info=t("resolution_info"),
                    allow_custom_value=True,
                )
                resolution_hint = gr.Markdown(
                    handlers.resolution_hint("original", None), elem_id="resolution-hint"
                )
                fit = gr.Radio(list(FITS), value="pad", label=t("fit"), info=t("fit_info"))
                output_format = gr.Radio(
                    list(OUTPUT_FORMATS), value="png", label=t("output_format"), info=t("output_format_info")
                )
                with gr.Accordion(t("advanced"), open=False):
                    brightness = gr.Slider(
                        -1, 1, value=0.0, step=0.05, label=t("brightness"), info=t("brightness_info")
                    )
                    contrast = gr.Slider(
                        -1, 1, value=0.0, step=0.05, label=t("contrast"), info=t("contrast_info")
                    )
                    saturation = gr.Slider(
                        -1, 1, value=0.0, step=0.05, label=t("saturation"), info=t("saturation_info")
                    )
                    sharpen = gr.Slider(
                        0, 1, value=0.0, step=0.05, label=t("sharpen"), info=t("sharpen_info")
                    )
                    engine = gr.Dropdown(
                        engine_choices(), value="auto", label=t("engine"), info=t("engine_info")
                    )
                    upscaler = gr.Dropdown(
                        upscaler_choices(), value="lanczos", label=t("upscaler"), info=t("upscaler_info")
                    )
                    detector = gr.Dropdown(
                        detector_choices(), value="mediapipe", label=t("detector"), info=t("detector_info")
                    )
                    mouth = gr.Radio(list(MOUTHS), value="source", label=t("mouth"), info=t("mouth_info"))
                    eyes = gr.Radio(list(EYES), value="auto", label=t("eyes"), info=t("eyes_info"))
                    nose = gr.Radio(list(NOSES), value="auto", label=t("nose"), info=t("nose_info"))
                    gr.Markdown(engine_notes())
                fuse_button = gr.Button(t("fuse"), variant="primary", elem_id="fuse-button")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                # ImageSlider's signature says str, but it takes gr.I18n labels as every component does.
                comparison = gr.ImageSlider(
                    label=t("result"),  # type: ignore[arg-type]
                    type="numpy",
                    format="jpeg",
                    height=520,
                    elem_id="result-slider",
                )
            with gr.Column(scale=2):
                download = gr.File(label=t("download"), interactive=False, elem_id="result-file")
                info = gr.Markdown(label=t("info"), elem_id="result-info")
                identity = gr.Markdown(elem_id="result-identity")
        identity_job = gr.State(None)
        pass_upload_path(source)
        pass_upload_path(target)

        examples = example_pairs()
        if examples:
            shown = gr.Examples(examples, inputs=[source, target], label=t("examples"))
            shown.dataset.headers = []  # column headers would show untranslated keys; the label says it

        # Wiring: every action has its own API name.
        for role, image, faces, face in (
            ("source", source, source_faces, source_face),
            ("target", target, target_faces, target_face),
        ):
            gr.on(
                [image.change, detector.change],
                partial(detect_for_display, role=role, output_dir=handlers.output_dir),
                inputs=[image, detector],
                outputs=[faces, face],
                api_name=f"detect_{role}_faces",
                concurrency_id=FUSION_QUEUE,
                concurrency_limit=settings.concurrency,
            )
        gr.on(
            [resolution.change, target.change],
            handlers.resolution_hint,
            inputs=[resolution, target],
            outputs=[resolution_hint],
            api_name="resolution_hint",
            show_progress="hidden",
            queue=False,
        )
        controls = {
            "resolution": resolution,
            "blend_ratio": blend_ratio,
            "mode": mode,
            "skin_smoothing": skin_smoothing,
            "brightness": brightness,
            "contrast": contrast,
            "saturation": saturation,
            "sharpen": sharpen,
        }
        for name, button in preset_buttons.items():
            button.click(
                preset_handler(name),
                outputs=[controls[f] for f in PRESET_FIELDS],
                api_name=f"preset_{name}",
                queue=False,
            )
        # Bound by name: each /fuse parameter gets the control of that name (KeyError if one is missing).
        fuse_controls = {
            **controls,
            "source": source,
            "target": target,
            "fit": fit,
            "output_format": output_format,
            "source_face": source_face,
            "target_face": target_face,
            "engine": engine,
            "upscaler": upscaler,
            "detector": detector,
            "mouth": mouth,
            "eyes": eyes,
            "nose": nose,
        }
        fuse_button.click(
            handlers.fuse,
            inputs=[fuse_controls[name] for name in FUSE_PARAMETERS],
            outputs=[download, comparison, info, identity, identity_job],
            api_name="fuse",
            concurrency_id=FUSION_QUEUE,
            concurrency_limit=settings.concurrency,
        ).success(
            handlers.identity,
            inputs=[identity_job],
            outputs=[identity],
            api_name="identity",
            api_visibility="undocumented",  # needs the state of a fusion made in this page
            concurrency_id=FUSION_QUEUE,
            concurrency_limit=settings.concurrency,
            show_progress="minimal",
        )
    with demo, tabs:
        add_batch_tab(handlers.output_dir, settings, force_cpu, FUSION_QUEUE, pass_upload_path)
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    return demo


def launch_kwargs(output_dir: Path, settings: Settings | None = None) -> dict[str, object]:
    """Security-relevant launch() settings: upload limit, and only our output folder served."""
    settings = settings or Settings()
    return {
        "max_file_size": settings.max_file_bytes,
        "allowed_paths": [str(output_dir.resolve())],
        "i18n": I18N,
        "css": CSS,
        "footer_links": ["api", "gradio"],
    }
