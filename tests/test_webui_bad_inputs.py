"""The bad-input corpus of tests/test_bad_inputs.py, this time through the running web app's /fuse API:
each case ends in a correct result or one specific message (never a stack trace), and the server
still serves a normal request after the whole corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from test_bad_inputs import CASES, Case  # noqa: E402
from webui_helpers import Server  # noqa: E402

from fusion.samples import sample_path  # noqa: E402

pytestmark = pytest.mark.slow

# What the web app says where it differs from fuse(): gradio refuses an oversized upload itself.
WEB_NEEDLES = {"12 MB file": r"(?i)exceeds|too large|413|size"}
# A float array has no file form: an upload is always bytes.
NOT_UPLOADABLE = {"float array"}
WEB_CASES = [case for case in CASES if case.name not in NOT_UPLOADABLE]


@pytest.fixture(scope="module")
def face_path() -> str:
    return str(sample_path("astronaut"))  # 512 x 512, one face


def write_input(case: Case, astronaut: np.ndarray, folder: Path) -> str:
    """The case as an upload: bytes as they are (named .jpg, whatever they hold), arrays as PNG."""
    bad = case.make(astronaut)
    if isinstance(bad, np.ndarray):
        path = folder / f"{case.name.replace(' ', '_')}.png"
        Image.fromarray(bad).save(path)
    else:
        path = folder / f"{re.sub(r'[^a-z0-9]+', '_', case.name.lower())}.jpg"
        path.write_bytes(bad)
    return str(path)


def call_fuse(client: Client, source: str, target: str, **options: object) -> tuple:
    return client.predict(source=handle_file(source), target=handle_file(target), api_name="/fuse", **options)


def assert_clear_error(error: BaseException, needle: str) -> None:
    text = str(error)
    assert re.search(needle, text) if needle.startswith("(?i)") else needle in text, text
    print(text)
    assert "Traceback" not in text
    assert "Something went wrong on the server" not in text  # an unexpected exception, not a message


@pytest.mark.parametrize("case", WEB_CASES, ids=[c.name for c in WEB_CASES])
def test_bad_source_through_the_api(
    case: Case, client: Client, face_path: str, astronaut: np.ndarray, tmp_path: Path
) -> None:
    source = write_input(case, astronaut, tmp_path)
    needle = WEB_NEEDLES.get(case.name, case.needle)
    if case.expect is None:
        result_file, _comparison, info, *_rest = call_fuse(client, source, face_path)
        with Image.open(result_file) as image:
            assert image.size == (512, 512)
        assert needle in info  # a warning (e.g. "first frame") is listed with the result
        return
    with pytest.raises(Exception) as caught:  # noqa: PT011 (AppError, or the upload's own refusal)
        call_fuse(client, source, face_path)
    assert_clear_error(caught.value, needle)


ERROR_CASES = [case for case in WEB_CASES if case.expect is not None]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.name for c in ERROR_CASES])
def test_bad_target_through_the_api(
    case: Case, client: Client, face_path: str, astronaut: np.ndarray, tmp_path: Path
) -> None:
    target = write_input(case, astronaut, tmp_path)
    needle = WEB_NEEDLES.get(case.name, case.needle.replace("source", "target"))
    with pytest.raises(Exception) as caught:  # noqa: PT011
        call_fuse(client, face_path, target)
    assert_clear_error(caught.value, needle)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"resolution": "0x0"}, "resolution='0x0'"),
        ({"resolution": "-5x100"}, "resolution='-5x100'"),
        ({"resolution": "100000x100000"}, "resolution='100000x100000'"),
        ({"resolution": "abc"}, "resolution='abc'"),
        ({"resolution": ""}, "resolution=''"),
        ({"blend_ratio": -0.5}, "less than minimum value 0"),
        ({"blend_ratio": 1.5}, "greater than maximum value 1"),
        ({"skin_smoothing": 2}, "greater than maximum value 1"),
        ({"brightness": -3}, "less than minimum value -1"),
        ({"source_face": "-1"}, "source_face='-1'"),
        ({"target_face": "x"}, "target_face='x'"),
        ({"target_face": "99"}, "target face 99 does not exist"),
        ({"fit": "zoom"}, "not in the list of choices"),
    ],
)
def test_bad_settings_through_the_api(
    client: Client, face_path: str, options: dict[str, object], needle: str
) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011
        call_fuse(client, face_path, face_path, **options)
    assert_clear_error(caught.value, needle)


def raw_fuse_error(server: Server, face_path: str, slider: int, value_json: str) -> str:
    """Call /fuse over plain HTTP with a JSON number gradio_client can't send (NaN, Infinity);
    returns the error event's text."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        with open(face_path, "rb") as handle:
            uploaded = http.post("gradio_api/upload", files={"files": ("face.png", handle)}).json()[0]
        image = json.dumps({"path": uploaded, "meta": {"_type": "gradio.FileData"}})
        defaults = ["1.0", '"normal"', "0", "0", "0", "0", "0", '"original"', '"pad"', '"png"', '"0"', '"0"']
        defaults += ['"classic"', '"lanczos"', '"mediapipe"', '"source"', '"auto"', '"auto"']
        defaults[slider] = value_json
        body = '{"data": [' + ", ".join([image, image, *defaults]) + "]}"
        started = http.post(
            "gradio_api/call/fuse", content=body, headers={"Content-Type": "application/json"}
        )
        started.raise_for_status()
        stream = http.get(f"gradio_api/call/fuse/{started.json()['event_id']}")
    assert "event: error" in stream.text, stream.text
    return stream.text


@pytest.mark.parametrize(
    ("position", "value", "needle"),
    [
        (0, "NaN", "blend_ratio=nan is out of range: use 0.0 to 1.0"),
        (4, "NaN", "contrast=nan is out of range: use -1.0 to 1.0"),
        (6, "Infinity", "Value inf is greater than maximum value 1."),
        (1, "NaN", "is not in the list of choices: ['normal'"),
    ],
)
def test_nan_and_infinity_through_plain_http(
    server: Server, face_path: str, position: int, value: str, needle: str
) -> None:
    text = raw_fuse_error(server, face_path, position, value)
    assert needle in text
    assert "Traceback" not in text


def test_server_still_serves_after_the_corpus(client: Client, face_path: str, server: Server) -> None:
    # Runs last in this module (pytest keeps file order): the corpus above left the server working.
    result_file, _comparison, info, *_rest = call_fuse(client, face_path, face_path, resolution="256")
    with Image.open(result_file) as image:
        assert image.size == (256, 256)
    assert "256 x 256" in info
    assert server.process.poll() is None
    # Gradio logs its own refusals (slider range, choices) with a traceback; the handler logs
    # "unexpected error" for anything that is not a FusionError: there must be none.
    assert "unexpected error" not in server.log()
