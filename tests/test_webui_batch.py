"""The Batch tab through its `/batch` API (gradio_client against a really launched server)."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from webui_helpers import Server, running_server  # noqa: E402

from fusion import FusionOptions, decode_image, fuse  # noqa: E402

pytestmark = pytest.mark.slow


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_batch_of_files_and_a_zip_gives_a_gallery_and_a_zip(
    client: Client,
    tmp_path: Path,
    astronaut: np.ndarray,
    astronaut_path: Path,
    group_path: Path,
    server: Server,
) -> None:
    assert "/batch" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    single = tmp_path / "portrait.jpg"
    single.write_bytes(_jpeg(cv2.flip(astronaut, 1)))
    bundle = tmp_path / "more.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("trip/portrait.jpg", _jpeg(astronaut))  # same name as the single file
        archive.writestr("../../escape.jpg", _jpeg(np.roll(astronaut, 20, axis=1)))
        archive.writestr("broken.jpg", _jpeg(astronaut)[:300])
        archive.writestr("__MACOSX/._portrait.jpg", b"resource fork")
    gallery, archive_path, summary = client.predict(
        source=handle_file(str(group_path)),
        targets=[handle_file(str(single)), handle_file(str(bundle))],
        resolution="256",
        api_name="/batch",
    )
    assert len(gallery) == 3, summary
    captions = sorted(item["caption"] for item in gallery)
    assert captions == ["2-portrait.jpg", "escape.jpg", "portrait.jpg"]
    by_caption = {item["caption"]: item["image"] for item in gallery}
    expected = fuse(group_path, single, FusionOptions(resolution="256")).image
    assert np.array_equal(decode_image(by_caption["portrait.jpg"], "result").pixels, expected)
    assert "**3 fused**, 1 failed, of 4 photos" in summary
    assert "broken.jpg: target image: the file is truncated or corrupt" in summary
    with zipfile.ZipFile(archive_path) as results:
        names = sorted(results.namelist())
        assert names == ["2-portrait.png", "escape.png", "portrait.png", "report.csv"]
        report = results.read("report.csv").decode()
        assert report.count("\n") == 5 and ",error," in report
        fused = decode_image(results.read("portrait.png"), "result").pixels
        assert np.array_equal(fused, expected)
    assert not list(server.data_dir.rglob("escape.jpg"))  # nothing landed outside the inbox


def test_batch_takes_the_mode_mouth_and_eyes_options(
    client: Client, astronaut_path: Path, group_path: Path
) -> None:
    chosen = {"mode": "blend", "mouth": "target", "eyes": "target"}
    gallery, _, summary = client.predict(
        source=handle_file(str(group_path)),
        targets=[handle_file(str(astronaut_path))],
        resolution="256",
        api_name="/batch",
        **chosen,
    )
    assert len(gallery) == 1, summary
    expected = fuse(group_path, astronaut_path, FusionOptions(resolution="256", **chosen)).image  # type: ignore[arg-type]
    assert np.array_equal(decode_image(gallery[0]["image"], "result").pixels, expected)
    assert not np.array_equal(
        expected, fuse(group_path, astronaut_path, FusionOptions(resolution="256")).image
    )


def test_bad_batch_inputs_give_one_clear_message(
    client: Client, tmp_path: Path, astronaut_path: Path, server: Server
) -> None:
    with pytest.raises(AppError, match="Add a target photos first"):
        client.predict(source=handle_file(str(astronaut_path)), targets=None, api_name="/batch")
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(_jpeg(np.full((200, 200, 3), 90, np.uint8)))
    with pytest.raises(AppError, match="No face found in the source image"):
        client.predict(
            source=handle_file(str(blank)), targets=[handle_file(str(astronaut_path))], api_name="/batch"
        )
    with pytest.raises(AppError, match="resolution='huge' is not understood"):
        client.predict(
            source=handle_file(str(astronaut_path)),
            targets=[handle_file(str(astronaut_path))],
            resolution="huge",
            api_name="/batch",
        )
    assert "Traceback" not in server.log()


def test_the_apps_pixel_limit_applies_to_the_source_and_every_target(
    tmp_path: Path, astronaut_path: Path, group_path: Path
) -> None:
    with running_server(tmp_path / "data", env={"FUSION_MAX_PIXELS": "300000"}) as small:
        limited = Client(small.url, verbose=False)
        for source, target, refused in (
            (group_path, astronaut_path, "source 't1.jpg' image: 1280x886 pixels"),
            (astronaut_path, group_path, "target 't1.jpg' image: 1280x886 pixels"),
        ):
            with pytest.raises(AppError, match=f"{refused} is over this app's limit of 300,000"):
                limited.predict(
                    source=handle_file(str(source)), targets=[handle_file(str(target))], api_name="/batch"
                )


def test_batch_reports_progress_while_it_runs(client: Client, astronaut_path: Path, group_path: Path) -> None:
    job = client.submit(
        source=handle_file(str(group_path)),
        targets=[handle_file(str(astronaut_path))] * 4,
        resolution="2048",
        api_name="/batch",
    )
    seen: list[tuple[int | None, int | None, str | None]] = []
    while not job.done():
        status = job.status()
        seen += [(p.index, p.length, p.desc) for p in status.progress_data or []]
        time.sleep(0.02)
    gallery, _, summary = job.result()
    assert len(gallery) == 4 and "**4 fused**" in summary
    assert seen, "no progress reported"
    assert {length for _, length, _ in seen} == {4}
    assert any(desc and desc.startswith("Fused ") and " of 4" in desc for _, _, desc in seen)
