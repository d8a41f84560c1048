"""Security of the running web app: the login guards every page and API route, only the app's own
result files are downloadable, results carry no metadata from the uploads, old results are deleted,
and --share is refused without --auth."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from webui_helpers import ROOT, Server, running_server  # noqa: E402

from fusion.samples import sample_path  # noqa: E402
from webui.settings import Settings, SettingsError, settings_table  # noqa: E402

USER, PASSWORD = "fuser", "s3cret-pass"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("webui-auth"), "--auth", f"{USER}:{PASSWORD}") as launched:
        yield launched


@pytest.fixture(scope="module")
def logged_in(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post("login", data={"username": USER, "password": PASSWORD})
        assert response.status_code == 200
        yield http


@pytest.fixture(scope="module")
def client(server: Server) -> Client:
    return Client(server.url, auth=(USER, PASSWORD), verbose=False)


@pytest.fixture(scope="module")
def result_file(client: Client, server: Server) -> Path:
    """One real result, made through the API with the login, as it lies in the output folder."""
    face = str(sample_path("astronaut"))
    path = client.predict(
        source=handle_file(face), target=handle_file(face), resolution="256", api_name="/fuse"
    )[0]
    name = Path(path).name
    assert (server.data_dir / "outputs" / name).is_file()
    return server.data_dir / "outputs" / name


# --- the login ---

PROTECTED_GETS = [
    "config",
    "gradio_api/info",
    "gradio_api/info?all_endpoints=true",
    "gradio_api/queue/status",
    "monitoring",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_routes_need_the_login(server: Server, path: str) -> None:
    response = httpx.get(server.url + path, timeout=30)
    assert response.status_code == 401
    assert "Not authenticated" in response.text


@pytest.mark.slow
def test_the_page_without_login_is_the_login_form(server: Server, logged_in: httpx.Client) -> None:
    anonymous = httpx.get(server.url, timeout=30)
    assert anonymous.status_code == 200
    assert "source-image" not in anonymous.text  # no part of the app itself
    assert "source-image" in logged_in.get("config").text


@pytest.mark.slow
def test_api_calls_and_uploads_need_the_login(server: Server) -> None:
    call = httpx.post(server.url + "gradio_api/call/fuse", json={"data": [None] * 16}, timeout=30)
    upload = httpx.post(server.url + "gradio_api/upload", files={"files": ("a.png", b"x")}, timeout=30)
    assert call.status_code == upload.status_code == 401
    with pytest.raises(Exception):  # noqa: B017, PT011 (gradio_client can't even read the API)
        Client(server.url, verbose=False)


@pytest.mark.slow
def test_wrong_password_is_refused(server: Server) -> None:
    response = httpx.post(server.url + "login", data={"username": USER, "password": "guess"}, timeout=30)
    assert response.status_code >= 400
    assert "Incorrect credentials" in response.text
    assert "access-token" not in str(response.cookies)


@pytest.mark.slow
def test_result_download_needs_the_login(server: Server, result_file: Path, logged_in: httpx.Client) -> None:
    route = f"gradio_api/file={result_file}"
    assert httpx.get(server.url + route, timeout=30).status_code == 401
    response = logged_in.get(route)
    assert response.status_code == 200
    assert response.content == result_file.read_bytes()


# --- only our own result files ---


@pytest.mark.slow
def test_other_paths_are_refused(server: Server, result_file: Path, logged_in: httpx.Client) -> None:
    outputs = server.data_dir / "outputs"
    secret = server.data_dir / "not-for-download.txt"
    secret.write_text("private")
    (outputs / "fusion-link.png").symlink_to(secret)
    (outputs / "fusion-etc.png").symlink_to("/etc/passwd")
    refused = [
        "/etc/passwd",
        f"{outputs}/../not-for-download.txt",
        f"{outputs}/..%2fnot-for-download.txt",
        f"{outputs}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"{outputs}/../../../../../../etc/passwd",
        f"{secret}",
        f"{server.data_dir}/webui-{server.port}.pid",
        f"{outputs}/fusion-link.png",  # a symlink inside the folder pointing out of it
        f"{outputs}/fusion-etc.png",
        f"{outputs}/fusion-{'0' * 32}.png",  # another user's result, guessed
        f"{outputs}/fusion-{result_file.stem[7:][::-1]}.png",
        str(Path(__file__).resolve()),
    ]
    for path in refused:
        response = logged_in.get(f"gradio_api/file={path}")
        assert response.status_code >= 400, path
        assert "private" not in response.text and "root:" not in response.text, path


def test_result_names_are_unguessable(tmp_path: Path) -> None:
    from webui.handlers import Handlers

    handlers = Handlers(tmp_path)
    face = str(sample_path("astronaut"))
    names = {Path(handlers.fuse(face, face)[0]).stem for _ in range(2)}
    assert len(names) == 2
    for name in names:  # fusion-<uuid4 hex>: 122 random bits
        assert len(name) == len("fusion-") + 32 and int(name[7:], 16) >= 0


# --- no metadata from the uploads ---


def jpeg_with_gps(pixels: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0131] = "secret-editor 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", exif=exif.tobytes(), quality=92)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
def test_results_carry_no_metadata_from_the_uploads(
    client: Client, astronaut: np.ndarray, tmp_path: Path, output_format: str
) -> None:
    upload = tmp_path / "with-gps.jpg"
    upload.write_bytes(jpeg_with_gps(astronaut))
    with Image.open(upload) as original:
        assert original.getexif().get_ifd(0x8825)  # the upload really has GPS
    path = client.predict(
        source=handle_file(str(upload)),
        target=handle_file(str(upload)),
        output_format=output_format,
        api_name="/fuse",
    )[0]
    data = Path(path).read_bytes()
    with Image.open(path) as result:
        assert not result.getexif()
        assert "exif" not in result.info and "icc_profile" not in result.info
        decoder_notes = {"Software", "dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "loop"}
        assert set(result.info) <= decoder_notes | {"background"}
    for leaked in (b"Exif", b"SpyCam", b"secret-editor", b"GPS"):
        assert leaked not in data


# --- retention ---


def test_results_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    from webui.handlers import Handlers

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    old, fresh = outputs / "fusion-old.png", outputs / "fusion-fresh.png"
    partial, other = outputs / ".fusion-cut.tmp", outputs / "notes.txt"
    for path in (old, fresh, partial, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in (old, partial, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    handlers = Handlers(outputs, settings=Settings(retention_seconds=60))  # prunes at start
    assert not old.exists() and not partial.exists()
    assert fresh.exists() and other.exists()  # young, or not ours
    face = str(sample_path("astronaut"))
    result = Path(handlers.fuse(face, face)[0])
    os.utime(result, (an_hour_ago, an_hour_ago))
    handlers.prune_outputs()
    assert not result.exists()


def test_gradio_upload_cache_follows_the_retention(tmp_path: Path) -> None:
    from webui.app import build_app, launch_kwargs

    demo = build_app(tmp_path / "outputs", settings=Settings(retention_seconds=120, max_queue=3))
    assert demo.delete_cache == (120, 120)
    assert demo._queue.max_size == 3
    assert launch_kwargs(tmp_path, Settings(max_file_mb=2))["max_file_size"] == 2 * 1024 * 1024


# --- settings ---


def test_settings_from_the_environment() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env(
        {
            "FUSION_MAX_FILE_MB": "2.5",
            "FUSION_MAX_PIXELS": "1000000",
            "FUSION_CONCURRENCY": "2",
            "FUSION_MAX_QUEUE": "8",
            "FUSION_RETENTION_SECONDS": "600",
        }
    )
    assert settings == Settings(2.5, 1_000_000, 2, 8, 600)
    assert settings.max_file_bytes == int(2.5 * 1024 * 1024)
    assert "FUSION_RETENTION_SECONDS" in settings_table()


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"FUSION_MAX_QUEUE": "lots"}, "FUSION_MAX_QUEUE='lots' is not a number"),
        ({"FUSION_MAX_FILE_MB": "50"}, "FUSION_MAX_FILE_MB='50' is outside 0.1..10"),  # can only lower
        ({"FUSION_RETENTION_SECONDS": "0"}, "FUSION_RETENTION_SECONDS='0' is outside"),
        ({"FUSION_CONCURRENCY": "nan"}, "FUSION_CONCURRENCY='nan' is outside"),
        ({"FUSION_MAX_PIXELS": "-1"}, "FUSION_MAX_PIXELS='-1' is outside"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert needle in str(caught.value)


def test_the_pixel_limit_setting_is_enforced(tmp_path: Path) -> None:
    import gradio as gr

    from webui.handlers import Handlers

    handlers = Handlers(tmp_path, settings=Settings(max_pixels=100_000))
    face = str(sample_path("astronaut"))  # 512 x 512 = 262,144 pixels
    with pytest.raises(gr.Error, match="512x512 pixels is over this app's limit of 100,000 pixels"):
        handlers.fuse(face, face)
    assert not list(tmp_path.iterdir())


def test_the_launcher_refuses_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "FUSION_MAX_QUEUE": "0", "FUSION_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "webui", "--host", "127.0.0.1", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Invalid setting: FUSION_MAX_QUEUE='0' is outside 1..10000" in done.stderr
    assert "Traceback" not in done.stderr


# --- a public link ---


def test_share_without_auth_is_refused_loudly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webui", "--share", "--host", "127.0.0.1"],
        cwd=ROOT,
        env={**os.environ, "FUSION_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--share publishes this app on a public link" in done.stderr
    assert "add --auth user:password" in done.stderr
    assert not list(tmp_path.glob("webui-*.pid"))  # nothing started


# --- model files are never unpickled ---

UNPICKLERS = {"pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def _unsafe_loads(source: str) -> list[str]:
    """Calls and imports in `source` that could run code hidden in a model file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [module or "", *names]:
                if name.split(".")[0] in UNPICKLERS:
                    found.append(f"import {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if node.func.attr == "load" and owner == "torch" and keywords.get("weights_only") != "True":
                found.append("torch.load without weights_only=True")
            if (
                node.func.attr == "load"
                and owner in ("np", "numpy")
                and keywords.get("allow_pickle") == "True"
            ):
                found.append("np.load(allow_pickle=True)")
    return found


def test_no_model_file_is_ever_unpickled() -> None:
    assert _unsafe_loads("import pickle\nimport torch\ntorch.load(p)\nnp.load(p, allow_pickle=True)") == [
        "import pickle",
        "torch.load without weights_only=True",
        "np.load(allow_pickle=True)",
    ]
    assert _unsafe_loads("torch.load(p, weights_only=True)") == []
    for package in ("fusion", "webui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert _unsafe_loads(path.read_text()) == [], path


@pytest.mark.slow
def test_uploads_are_deleted_after_the_retention(tmp_path: Path, astronaut: np.ndarray) -> None:
    face = tmp_path / "my-face.jpg"  # not the example photo, which gradio rightly keeps cached
    Image.fromarray(astronaut).save(face, quality=90)
    cache = tmp_path / "gradio-cache"  # the server's own upload cache, apart from the client's
    env = {"FUSION_RETENTION_SECONDS": "2", "GRADIO_TEMP_DIR": str(cache)}
    with running_server(tmp_path / "data", env=env) as server:
        client = Client(server.url, verbose=False)
        client.predict(source=handle_file(str(face)), target=handle_file(str(face)), api_name="/fuse")
        uploads = [p for p in cache.rglob("my-face.jpg") if p.is_file()]
        assert uploads  # gradio's copy of the upload
        deadline = time.monotonic() + 60  # checked every 2 s by gradio: gone within a few checks
        while any(p.exists() for p in uploads) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(p.exists() for p in uploads)
        assert server.process.poll() is None
