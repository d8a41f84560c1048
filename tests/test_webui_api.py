"""The web UI's API, called with gradio_client against a really launched server on 127.0.0.1."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from webui_helpers import Server  # noqa: E402

from fusion.samples import sample_path  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faces() -> dict[str, str]:
    return {"astronaut": str(sample_path("astronaut")), "group": str(sample_path("group"))}


def fuse(client: Client, source: str, target: str, **options: object) -> tuple:
    """(result file, before/after preview files, details) from /fuse."""
    result = client.predict(
        source=handle_file(source), target=handle_file(target), api_name="/fuse", **options
    )
    assert "Identity distance" in result[3]  # placeholder until the page's identity step fills it
    return result[:3]


def test_api_lists_named_endpoints_with_optional_options(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in (
        "/fuse",
        "/detect_source_faces",
        "/detect_target_faces",
        "/resolution_hint",
        "/preset_social",
    ):
        assert name in api
    params = {p["parameter_name"]: p["parameter_has_default"] for p in api["/fuse"]["parameters"]}
    assert list(params)[:11] == [
        "source",
        "target",
        "blend_ratio",
        "mode",
        "skin_smoothing",
        "brightness",
        "contrast",
        "saturation",
        "sharpen",
        "resolution",
        "fit",
    ]
    assert params["source"] is False and params["target"] is False
    assert all(has_default for name, has_default in params.items() if name not in ("source", "target"))


def test_fuse_with_defaults_keeps_the_target_size(
    client: Client, faces: dict[str, str], server: Server
) -> None:
    result_file, comparison, info = fuse(client, faces["group"], faces["astronaut"])
    with Image.open(result_file) as image:
        assert image.format == "PNG"
        assert image.size == (512, 512)
    before, after = (Image.open(path) for path in comparison)
    assert before.size == after.size == (512, 512)
    assert "512 x 512" in info
    # The result was written to the app's own output folder with an unguessable name.
    written = list((server.data_dir / "outputs").glob("fusion-*.png"))
    assert any(Path(result_file).name == path.name for path in written)
    assert all(len(path.stem) == len("fusion-") + 32 for path in written)


# Expected (width, height) of the output for a 1280x886 target ("group").
SIZE_CASES = [
    ("512", "pad", (512, 512)),
    ("512", "crop", (512, 512)),
    ("512", "stretch", (512, 512)),
    ("1024", "pad", (1024, 1024)),
    ("1024", "crop", (1024, 1024)),
    ("800x600", "stretch", (800, 600)),
    ("1024x1792", "pad", (1024, 1792)),
    ("1024x1792", "crop", (1024, 1792)),
    ("2048", "crop", (2048, 2048)),
    ("4096", "pad", (4096, 4096)),
]


@pytest.mark.parametrize(("resolution", "fit", "size"), SIZE_CASES)
def test_fuse_output_size_for_each_resolution_and_fit(
    client: Client, faces: dict[str, str], resolution: str, fit: str, size: tuple[int, int]
) -> None:
    result_file, comparison, _info = fuse(
        client, faces["astronaut"], faces["group"], resolution=resolution, fit=fit, output_format="jpeg"
    )
    with Image.open(result_file) as image:
        assert image.format == "JPEG"
        assert image.size == size
    # The slider preview keeps the output's aspect ratio (at most 1024 px on its long side).
    with Image.open(comparison[1]) as preview:
        assert max(preview.size) == min(1024, max(size))
        assert abs(preview.size[0] / preview.size[1] - size[0] / size[1]) < 0.01


def test_fuse_all_target_faces_and_webp(client: Client, faces: dict[str, str]) -> None:
    result_file, _comparison, info = fuse(
        client, faces["astronaut"], faces["group"], target_face="all", output_format="webp", blend_ratio=0.5
    )
    with Image.open(result_file) as image:
        assert image.format == "WEBP"
        assert image.size == (1280, 886)
    assert "1280 x 886" in info


def test_detect_endpoint_numbers_every_face(client: Client, faces: dict[str, str]) -> None:
    preview, dropdown = client.predict(
        image_path=handle_file(faces["group"]), api_name="/detect_target_faces"
    )
    values = [value for _label, value in dropdown["choices"]]
    assert values == ["0", "1", "2", "3", "4", "5", "all"]
    with Image.open(preview) as image:
        assert max(image.size) == 640


def test_preset_endpoint_sets_the_documented_values(client: Client) -> None:
    values = client.predict(api_name="/preset_art")
    assert values[0] == "1024"
    assert values[1:4] == (0.7, "blend", 0.3)


def blank_image(tmp_path: Path) -> str:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((300, 300, 3), 200, np.uint8))
    return str(path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resolution": "99999"}, "resolution='99999'"),
        ({"resolution": "big"}, "is not understood"),
        ({"blend_ratio": 1.5}, "1.5 is greater than maximum value 1"),  # gradio's slider check
        ({"mode": "screen"}, "'screen' (type: <class 'str'>) is not in the list of choices: ['normal'"),
        ({"source_face": "7"}, "source face 7 does not exist"),
        ({"output_format": "gif"}, "not in the list of choices: ['png', 'jpeg', 'webp']"),
        ({"engine": "faceswap9000"}, "is not in the list of choices: ['auto', 'classic'"),
        ({"upscaler": "bicubic"}, "is not in the list of choices: ['lanczos', 'realesrgan']"),
    ],
)
def test_bad_options_come_back_as_errors_with_the_message(
    client: Client, faces: dict[str, str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(AppError) as caught:
        fuse(client, faces["astronaut"], faces["astronaut"], **options)
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_no_face_is_an_error_and_the_app_keeps_working(
    client: Client, faces: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(AppError) as caught:
        fuse(client, blank_image(tmp_path), faces["astronaut"])
    assert "No face found in the source image" in str(caught.value)
    result_file, _comparison, _info = fuse(client, faces["group"], faces["astronaut"], resolution="512")
    with Image.open(result_file) as image:
        assert image.size == (512, 512)


def test_missing_target_is_an_error(client: Client, faces: dict[str, str]) -> None:
    with pytest.raises(AppError) as caught:
        client.predict(source=handle_file(faces["astronaut"]), target=None, api_name="/fuse")
    assert "Add a target photo first" in str(caught.value)


def test_upload_over_10_mb_is_refused(client: Client, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * 1024 * 1024))
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict(image_path=handle_file(str(big)), api_name="/detect_source_faces")


def test_files_outside_the_app_folders_are_not_served(server: Server) -> None:
    for path in ("/etc/passwd", str(Path(__file__).resolve())):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.url}gradio_api/file={path}", timeout=10)
        assert caught.value.code in (403, 404)


def test_concurrent_requests_are_served_one_after_another(client: Client, faces: dict[str, str]) -> None:
    # dlib's shared detector is not thread-safe: overlapping detections must not crash the server.
    jobs = [
        client.submit(image_path=handle_file(faces["group"]), api_name="/detect_source_faces"),
        client.submit(image_path=handle_file(faces["astronaut"]), api_name="/detect_target_faces"),
        client.submit(
            source=handle_file(faces["group"]), target=handle_file(faces["astronaut"]), api_name="/fuse"
        ),
    ]
    results = [job.result(timeout=120) for job in jobs]
    assert len(results[0][1]["choices"]) == 6
    assert len(results[1][1]["choices"]) == 1
    with Image.open(results[2][0]) as image:
        assert image.size == (512, 512)
