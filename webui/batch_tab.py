"""The Batch tab: one source into many targets (several files or a ZIP) through fusion.batch, with a
progress bar, a gallery and a ZIP of the results and report.csv; API name `/batch`.

Uploads are unpacked into a private temporary folder, removed after the job; results go into a
folder of their own under the app's output folder (the only folder it serves) and are deleted after
the retention time like single results.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import gradio as gr

from fusion import EXTENSIONS, FusionOptions, InvalidImage, InvalidOptions, header_size, write_atomic
from fusion.batch import ERROR, BatchProgress, BatchReport, run
from fusion.options import EYES, FITS, MODES, MOUTHS, NOSES, OUTPUT_FORMATS, RESOLUTION_PRESETS
from webui.handlers import user_errors
from webui.i18n import t
from webui.settings import Settings

MAX_TARGETS = 100  # a web request holds a queue slot for the whole batch: keep it bounded
MAX_UNPACKED_BYTES = 500 * 1024 * 1024  # a ZIP may not unpack to more than this (zip bombs)
BATCH_PREFIX = "fusion-batch-"


def unpack_targets(uploads: list[str], folder: Path, max_file_bytes: int) -> int:
    """Copy the uploaded photos into `folder`, unpacking ZIPs (flat, safe names); return the count.
    Raises InvalidImage for a ZIP that is broken, too large or holds too many files."""
    count, unpacked = 0, 0
    for upload in uploads:
        path = Path(upload)
        if not zipfile.is_zipfile(path):
            count += 1
            shutil.copy(path, _free_name(folder, path.name))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    parts = PurePosixPath(member.filename).parts
                    # Folders, macOS resource forks, hidden files; "../" parts are dropped below.
                    if member.is_dir() or not parts or parts[-1].startswith(".") or "__MACOSX" in parts:
                        continue
                    unpacked += member.file_size
                    if member.file_size > max_file_bytes or unpacked > MAX_UNPACKED_BYTES:
                        raise InvalidImage(
                            "target",
                            f"'{member.filename}' in {path.name} unpacks to too many bytes",
                            "Send smaller photos, or fewer at a time",
                        )
                    count += 1
                    if count > MAX_TARGETS:
                        break
                    # Flat names: nothing in the archive chooses where a file lands.
                    with archive.open(member) as data, open(_free_name(folder, parts[-1]), "wb") as out:
                        shutil.copyfileobj(data, out)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InvalidImage(
                "target", f"the ZIP {path.name} cannot be read ({exc})", "Re-create it"
            ) from None
        if count > MAX_TARGETS:
            break
    if count > MAX_TARGETS:
        raise InvalidImage(
            "target", f"more than {MAX_TARGETS} photos", f"Send at most {MAX_TARGETS} at a time"
        )
    return count


def check_pixels(paths: list[Path], limit: int, role: str) -> None:
    """The app's pixel limit (it may be set below the library's) for every photo, before any work."""
    for path in paths:
        size = header_size(path)
        if size is not None and size[0] * size[1] > limit:
            raise InvalidImage(
                f"{role} '{path.name}'",
                f"{size[0]}x{size[1]} pixels is over this app's limit of {limit:,} pixels",
                "Downscale the photo first",
            )


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/2-name`, `3-name`, ... when two uploads share a name."""
    candidate, counter = folder / name, 1
    while candidate.exists():
        counter += 1
        candidate = folder / f"{counter}-{name}"
    return candidate


def zip_results(report: BatchReport, destination: Path) -> None:
    """Every result and report.csv in one ZIP (stored: the images are compressed already)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in map(Path, [*report.outputs(), report.report_path]):
            archive.write(path, path.relative_to(report.out_dir).as_posix())
    write_atomic(destination, buffer.getvalue())


def summary_markdown(report: BatchReport) -> str:
    lines = [
        f"**{report.ok} fused**, {report.failed} failed, of {len(report.outcomes)} photos "
        f"in {report.seconds:.1f} s."
    ]
    for outcome in report.outcomes:
        if outcome.status == ERROR:
            lines.append(f"- {Path(outcome.target).name}: {outcome.message}")
    return "\n".join(lines)


def prune_batches(output_dir: Path, retention_seconds: int) -> None:
    """Delete batch folders and ZIPs older than the retention time."""
    cutoff = time.time() - retention_seconds
    for path in list(output_dir.glob(f"{BATCH_PREFIX}*"))[:10_000]:
        try:
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            pass


class BatchHandler:
    """The `/batch` action. Holds only app-wide, read-only settings."""

    def __init__(self, output_dir: Path, settings: Settings, force_cpu: bool = False) -> None:
        self.output_dir = output_dir
        self.settings = settings
        self.force_cpu = force_cpu

    def batch(
        self,
        source: str | None,
        targets: list[str] | None,
        blend_ratio: float = 1.0,
        resolution: str = "original",
        fit: str = "pad",
        target_face: str = "0",
        output_format: str = "png",
        mode: str = "normal",
        mouth: str = "source",
        eyes: str = "auto",
        nose: str = "auto",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way of asking for a progress bar)
    ) -> tuple[list[tuple[str, str]], str, str]:
        """Fuse the source face into every target photo (files, or ZIPs of photos). Returns the
        gallery's (result, caption) pairs, the ZIP of every result plus report.csv, and a summary
        naming each photo that failed and why."""
        if not source or not targets:
            missing = " and ".join(
                r for r, v in (("source face", source), ("target photos", targets)) if not v
            )
            raise gr.Error(f"Add a {missing} first.", print_exception=False)
        prune_batches(self.output_dir, self.settings.retention_seconds)
        name = f"{BATCH_PREFIX}{uuid.uuid4().hex}"
        with user_errors(), tempfile.TemporaryDirectory(prefix="fusion-batch-in-") as inbox:
            if output_format not in EXTENSIONS:
                raise InvalidOptions(f"output_format={output_format!r} is not one of {', '.join(EXTENSIONS)}")
            options = FusionOptions.from_values(
                {
                    "blend_ratio": blend_ratio,
                    "resolution": resolution,
                    "fit": fit,
                    "target_face": target_face,
                    "mode": mode,
                    "mouth": mouth,
                    "eyes": eyes,
                    "nose": nose,
                    "device": "cpu" if self.force_cpu else "auto",
                }
            )
            count = unpack_targets(list(targets), Path(inbox), self.settings.max_file_bytes)
            check_pixels([Path(source)], self.settings.max_pixels, "source")
            check_pixels(sorted(Path(inbox).iterdir()), self.settings.max_pixels, "target")
            progress((0, count), desc="Fusing", unit="photos")

            def tell(event: BatchProgress) -> None:
                rate = f", {event.images_per_second:.1f} photos/s" if event.images_per_second else ""
                progress((event.done, event.total), desc=f"Fused {event.done} of {event.total}{rate}")

            # One worker, in this process: the page runs one heavy job at a time (its queue), and
            # a request should not start processes of its own.
            report = run(
                source,
                Path(inbox),
                self.output_dir / name,
                options,
                workers=1,
                fmt=output_format,
                identity=False,  # seconds per photo with dlib; the Fuse tab measures it for one
                progress=tell,
            )
            zip_path = self.output_dir / f"{name}.zip"
            zip_results(report, zip_path)
        gallery = [
            (str(Path(report.out_dir) / outcome.output), Path(outcome.target).name)
            for outcome in report.outcomes
            if outcome.status != ERROR
        ]
        return gallery, str(zip_path), summary_markdown(report)


def add_batch_tab(
    output_dir: Path,
    settings: Settings,
    force_cpu: bool,
    queue: str,
    prepare_upload: Callable[[gr.Image], gr.Image],
) -> None:
    """The tab's components and its `/batch` event (inside the page's gr.Tabs); `queue` is the
    concurrency group of the page's other heavy events, `prepare_upload` app.pass_upload_path."""
    handler = BatchHandler(output_dir, settings, force_cpu)
    with gr.Tab(t("tab_batch"), id="batch"):
        gr.Markdown(t("batch_intro"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=280):
                source = gr.Image(label=t("source"), type="filepath", image_mode=None, height=240)
                targets = gr.File(label=t("batch_targets"), file_count="multiple", type="filepath")
            with gr.Column(scale=1, min_width=280):
                blend_ratio = gr.Slider(0, 1, value=1.0, step=0.05, label=t("blend_ratio"))
                resolution = gr.Dropdown(
                    list(RESOLUTION_PRESETS), value="original", label=t("resolution"), allow_custom_value=True
                )
                fit = gr.Radio(list(FITS), value="pad", label=t("fit"))
                target_face = gr.Dropdown(
                    ["0", "all"], value="0", label=t("target_face"), allow_custom_value=True
                )
                output_format = gr.Radio(list(OUTPUT_FORMATS), value="png", label=t("output_format"))
                with gr.Accordion(t("advanced"), open=False):
                    mode = gr.Radio(list(MODES), value="normal", label=t("mode"), info=t("mode_info"))
                    mouth = gr.Radio(list(MOUTHS), value="source", label=t("mouth"), info=t("mouth_info"))
                    eyes = gr.Radio(list(EYES), value="auto", label=t("eyes"), info=t("eyes_info"))
                    nose = gr.Radio(list(NOSES), value="auto", label=t("nose"), info=t("nose_info"))
                button = gr.Button(t("batch_run"), variant="primary", elem_id="batch-button")
        gallery = gr.Gallery(label=t("batch_gallery"), columns=4, height=420, elem_id="batch-gallery")
        with gr.Row():
            archive = gr.File(label=t("batch_zip"), interactive=False, elem_id="batch-zip")
            summary = gr.Markdown(elem_id="batch-summary")
    prepare_upload(source)
    button.click(
        handler.batch,
        inputs=[
            source,
            targets,
            blend_ratio,
            resolution,
            fit,
            target_face,
            output_format,
            mode,
            mouth,
            eyes,
            nose,
        ],
        outputs=[gallery, archive, summary],
        api_name="batch",
        concurrency_id=queue,
        concurrency_limit=settings.concurrency,
    )
