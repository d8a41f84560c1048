"""The web UI's handlers, presets, hints and launch flags, called directly (no server)."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from fusion.options import parse_face_index  # noqa: E402
from fusion.samples import sample_path  # noqa: E402
from webui import hints  # noqa: E402
from webui.__main__ import parse_args  # noqa: E402
from webui.handlers import Handlers, detect_for_display, user_errors  # noqa: E402
from webui.i18n import EN, ZH  # noqa: E402
from webui.presets import PRESET_FIELDS, preset_values  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> Handlers:
    return Handlers(tmp_path_factory.mktemp("outputs"), force_cpu=True)


def test_only_webui_imports_gradio() -> None:
    for path in (ROOT / "fusion").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(name.split(".")[0].startswith("gradio") for name in names), path


def test_presets_match_the_original_recommendations() -> None:
    social = dict(zip(PRESET_FIELDS, preset_values("social"), strict=True))
    assert social == {
        "resolution": "512",
        "blend_ratio": 0.5,
        "mode": "normal",
        "skin_smoothing": 0.4,
        "brightness": 0.1,
        "contrast": 0.05,
        "saturation": 0.0,
        "sharpen": 0.0,
    }
    art = dict(zip(PRESET_FIELDS, preset_values("art"), strict=True))
    assert (art["resolution"], art["blend_ratio"], art["mode"], art["skin_smoothing"], art["saturation"]) == (
        "1024",
        0.7,
        "blend",
        0.3,
        0.2,
    )
    restore = dict(zip(PRESET_FIELDS, preset_values("restore"), strict=True))
    assert (restore["resolution"], restore["blend_ratio"], restore["skin_smoothing"]) == ("2048", 0.6, 0.6)
    assert (restore["brightness"], restore["contrast"]) == (0.15, 0.1)
    with pytest.raises(KeyError, match="unknown preset"):
        preset_values("nope")


def test_every_label_has_english_and_chinese() -> None:
    assert EN.keys() == ZH.keys()
    assert ZH["blend_ratio"] == "融合比例" and ZH["skin_smoothing"] == "皮肤平滑"
    assert all(EN[key] and ZH[key] and EN[key] != ZH[key] for key in EN)


@pytest.mark.parametrize(
    ("value", "allow_all", "expected"),
    [("0", False, 0), (3, False, 3), ("all", True, "all"), (None, True, 0)],
)
def test_parse_face_index(value: object, allow_all: bool, expected: object) -> None:
    assert parse_face_index(value, "target", allow_all) == expected


@pytest.mark.parametrize(("value", "allow_all"), [("all", False), ("-1", True), ("x", True)])
def test_parse_face_index_rejects(value: object, allow_all: bool) -> None:
    from fusion import InvalidOptions

    with pytest.raises(InvalidOptions, match="must be a face index"):
        parse_face_index(value, "source", allow_all)


def test_cpu_hint_gives_expected_time_and_warns_past_memory() -> None:
    roomy = hints.Capacity("cpu", 16 * 1024**3)
    assert "Expected time" in hints.hint_text("1024", None, roomy)
    assert "target photo's own size" in hints.hint_text("original", None, roomy)
    # With the target's size known, "original" gets a time for that size.
    assert "Expected time" in hints.hint_text("original", (640, 480), roomy)
    tight = hints.Capacity("cpu", 100 * 1024**2)
    assert "choose a smaller resolution" in hints.hint_text("4096", None, tight)
    assert hints.expected_cpu_seconds(4096**2) >= hints.expected_cpu_seconds(512**2)


def test_gpu_hint_names_the_largest_size_that_fits() -> None:
    gpu = hints.Capacity("cuda:0 (test)", 300 * 1024**2)
    assert hints.largest_preset_that_fits(gpu.free_bytes) == "2048"
    assert "largest square output about 2048" in hints.hint_text("1024", None, gpu)


def test_detect_for_display_numbers_faces(handlers: Handlers) -> None:
    preview, update = detect_for_display(str(sample_path("group")), role="target")
    assert preview.shape[1] == 640 and preview.dtype == np.uint8
    assert [value for _label, value in update["choices"]] == ["0", "1", "2", "3", "4", "5", "all"]
    preview, update = detect_for_display(str(sample_path("astronaut")), role="source")
    assert [value for _label, value in update["choices"]] == ["0"]
    assert detect_for_display(None, role="source")[0] is None
    # In the app the picture is a file of its own in the output folder (pruned with the results).
    saved, _update = detect_for_display(
        str(sample_path("astronaut")), role="source", output_dir=handlers.output_dir
    )
    assert Path(saved).parent == handlers.output_dir and Path(saved).name.startswith("fusion-")
    with Image.open(saved) as image:
        assert image.format == "JPEG" and image.size == (512, 512)


def test_fuse_handler_writes_the_file_and_the_preview_pair(handlers: Handlers) -> None:
    path, (before, after), info, pending, job = handlers.fuse(
        str(sample_path("group")),
        str(sample_path("astronaut")),
        resolution="1024x512",
        fit="pad",
        source_face="1",
        output_format="jpeg",
    )
    assert Path(path).parent == handlers.output_dir and path.endswith(".jpg")
    with Image.open(path) as image:
        assert image.size == (1024, 512)
    for preview in (before, after):  # the slider's pair: JPEG files of our own, unique names
        assert Path(preview).parent == handlers.output_dir and Path(preview).name.startswith(Path(path).stem)
        with Image.open(preview) as image:
            assert image.format == "JPEG" and image.size == (1024, 512)
    assert "1024 x 512" in info and "s in fuse()" in info
    identity = handlers.identity(job)
    assert "to the source" in identity and "to the target" in identity


def test_fuse_handler_turns_library_errors_into_messages(handlers: Handlers, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(gr.Error, match="No face found in the target image"):
        handlers.fuse(str(sample_path("astronaut")), str(blank))
    with pytest.raises(gr.Error, match="mode='screen' is not one of"):
        handlers.fuse(str(sample_path("astronaut")), str(sample_path("astronaut")), mode="screen")
    with pytest.raises(gr.Error, match="Add a source face and target photo first"):
        handlers.fuse(None, None)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    with pytest.raises(gr.Error, match="source image: the file is not an image"):
        handlers.fuse(str(not_an_image), str(sample_path("astronaut")))


def test_unexpected_errors_are_one_line_without_details() -> None:
    with pytest.raises(gr.Error) as caught, user_errors():
        raise ZeroDivisionError("secret internals")
    assert "ZeroDivisionError" in caught.value.message and "secret internals" not in caught.value.message


def test_capacity_check_refuses_before_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = Handlers(tmp_path, force_cpu=True)
    monkeypatch.setattr(hints, "cpu_memory_available", lambda: 50 * 1024**2)
    with pytest.raises(gr.Error, match="4096x4096 needs about .* Choose 512 or less"):
        small.fuse(str(sample_path("astronaut")), str(sample_path("astronaut")), resolution="4096")
    assert not list(tmp_path.glob("fusion-*"))


def test_share_needs_auth_and_auth_needs_both_parts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--share"])
    assert "--auth" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--auth", "useronly"])
    args = parse_args(["--share", "--auth", "me:pa:ss", "--port", "7000", "--cpu"])
    assert args.auth == ("me", "pa:ss") and args.port == 7000 and args.cpu and args.host == "0.0.0.0"


def test_identity_line_without_dlib_says_how_to_add_it(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identity judge is the optional dlib extra: without it the line explains, nothing fails."""
    from fusion import EngineUnavailable, detect
    from webui import handlers as handlers_module
    from webui.handlers import IdentityJob

    def missing(*_args: object) -> None:
        raise EngineUnavailable("dlib", "dlib is not installed", 'pip install "face-fusion[dlib]"')

    monkeypatch.setattr(handlers_module, "check_identity", missing)
    path = str(sample_path("astronaut"))
    face = detect(path).faces[0]
    text = handlers.identity(IdentityJob(path, path, path, face, face, face))
    assert "not measured" in text and 'pip install "face-fusion[dlib]"' in text


@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="this machine has an NVIDIA driver")
def test_capacity_check_does_not_import_torch_without_a_gpu_driver() -> None:
    """The resolution hint asks fusion.device, which never imports torch (seconds) without a driver."""
    import subprocess
    import sys

    code = "import sys, webui.hints as h; c = h.machine_capacity(); print(c.device, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu", "False"]
