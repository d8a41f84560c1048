"""Faults: an engine failing mid-request (in the running server), a corrupt model shown in the page
with its fix, an output folder that can't be written or a full disk, and a server killed mid-request
and started again on the same port."""

from __future__ import annotations

import errno
import hashlib
import json
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from webui_helpers import Server, answers, free_port, running_server, start_server, stop_server  # noqa: E402

from fusion import io as fusion_io  # noqa: E402
from fusion.samples import sample_path  # noqa: E402
from webui import instance  # noqa: E402
from webui.handlers import Handlers  # noqa: E402
from webui.views import engine_choices, engine_notes  # noqa: E402

# Loaded by the server's Python at start-up (PYTHONPATH): the classic engine raises on its first call.
FAILING_ENGINE = textwrap.dedent(
    """
    from fusion.engines import classic

    _fuse_face = classic.ClassicEngine.fuse_face
    _calls = []

    def fuse_face(self, *args, **kwargs):
        _calls.append(1)
        if len(_calls) == 1:
            raise RuntimeError("injected engine failure")
        return _fuse_face(self, *args, **kwargs)

    classic.ClassicEngine.fuse_face = fuse_face
    """
)


@pytest.fixture(scope="module")
def face() -> str:
    return str(sample_path("astronaut"))


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text(FAILING_ENGINE)
    with running_server(tmp_path_factory.mktemp("webui-faults"), env={"PYTHONPATH": str(hooks)}) as launched:
        yield launched


@pytest.mark.slow
def test_engine_failing_mid_request_then_the_next_request_works(failing_server: Server, face: str) -> None:
    client = Client(failing_server.url, verbose=False)
    with pytest.raises(AppError) as caught:
        client.predict(source=handle_file(face), target=handle_file(face), api_name="/fuse")
    message = str(caught.value)
    assert "Something went wrong on the server (RuntimeError)" in message
    assert "Try again" in message
    assert "Traceback" not in message and "injected" not in message  # details stay in the log
    assert "injected engine failure" in failing_server.log()
    result = client.predict(source=handle_file(face), target=handle_file(face), api_name="/fuse")[0]
    with Image.open(result) as image:
        assert image.size == (512, 512)
    outputs = failing_server.data_dir / "outputs"
    assert not list(outputs.glob(".fusion-*"))  # the failed request left nothing behind


# --- a corrupt model: shown in the page as unavailable, with the fix; other engines still work ---


@pytest.fixture()
def corrupt_inswapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import tiny_models

    from fusion.models import store

    folder = tiny_models.place_inswapper_models(tmp_path / "models")
    model = folder / "inswapper_128.onnx"
    manifest = json.loads(Path(store.__file__).with_name("manifest.json").read_text())
    manifest["models"]["inswapper_128"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (tmp_path / "pinned.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FUSION_MODELS_DIR", str(folder))
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(tmp_path / "pinned.json"))
    model.write_bytes(model.read_bytes()[:5000])  # truncated after it was pinned
    return model


def test_corrupt_model_is_shown_unavailable_with_the_fix(
    corrupt_inswapper: Path, tmp_path: Path, face: str
) -> None:
    assert ("inswapper (unavailable)", "inswapper") in engine_choices()
    note = next(line for line in engine_notes().splitlines() if "**inswapper**" in line)
    assert "corrupt" in note and "models download inswapper_128" in note
    handlers = Handlers(tmp_path / "outputs")
    with pytest.raises(gr.Error, match="Engine 'inswapper' is not available: .*corrupt"):
        handlers.fuse(face, face, engine="inswapper")
    result = handlers.fuse(face, face, engine="classic")[0]
    with Image.open(result) as image:
        assert image.size == (512, 512)


# --- output folder not writable, disk full: a clear error and no file left behind ---


def test_output_folder_not_writable(tmp_path: Path, face: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = Handlers(tmp_path / "outputs")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    # The tests may run as root, which chmod can't stop: refuse at the point write_atomic creates files.
    monkeypatch.setattr(fusion_io.tempfile, "mkstemp", refuse)
    with pytest.raises(gr.Error) as caught:
        handlers.fuse(face, face)
    assert f"Cannot write to '{tmp_path / 'outputs'}': Permission denied" in str(caught.value)
    assert not list((tmp_path / "outputs").iterdir())


class _FullDisk:
    """A file handle whose writes fail as on a full disk."""

    def __init__(self, fd: int, *_args: object) -> None:
        self.fd = fd

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *_exc: object) -> None:
        import os

        os.close(self.fd)

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full(tmp_path: Path, face: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = Handlers(tmp_path / "outputs")
    monkeypatch.setattr(fusion_io.os, "fdopen", _FullDisk)
    with pytest.raises(gr.Error) as caught:
        handlers.fuse(face, face)
    message = str(caught.value)
    assert "No space left on device" in message and "Free some space" in message
    assert not list((tmp_path / "outputs").iterdir())  # no result, no temporary file
    monkeypatch.undo()
    result = handlers.fuse(face, face)[0]  # space again: it works
    assert Path(result).is_file()


# --- the server killed mid-request comes back cleanly on the same port ---


@pytest.mark.slow
def test_killed_mid_request_then_started_again(tmp_path: Path, face: str) -> None:
    port = free_port()
    first = start_server(tmp_path, port)
    second = None
    try:
        client = Client(first.url, verbose=False)
        job = client.submit(
            source=handle_file(face), target=handle_file(face), resolution="4096", api_name="/fuse"
        )
        deadline = time.monotonic() + 60
        while job.status().code.name not in ("PROCESSING", "PROGRESS"):  # in flight in the server
            assert time.monotonic() < deadline and not job.done(), job.status()
            time.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        pid_path = instance.pid_file(tmp_path, port)
        assert int(pid_path.read_text()) == first.process.pid  # stale: nobody cleaned up
        with pytest.raises(Exception):  # noqa: B017, PT011 (the client loses its server)
            job.result(timeout=60)

        second = start_server(tmp_path, port)  # the same launcher, the same port
        assert int(pid_path.read_text()) == second.process.pid
        assert "Stopped the previous instance" not in second.log()  # it was dead: nothing to stop
        assert answers(second.url)
        result = Client(second.url, verbose=False).predict(
            source=handle_file(face), target=handle_file(face), resolution="256", api_name="/fuse"
        )[0]
        with Image.open(result) as image:
            assert image.size == (256, 256)
    finally:
        stop_server(first)
        if second is not None:
            stop_server(second)
    assert not instance.pid_file(tmp_path, port).exists()
