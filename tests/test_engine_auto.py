"""engine="auto" (the default): the best engine whose models are here, reported everywhere, and a
missing or corrupt model never fails the request."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fusion import FusionOptions, fuse
from fusion.engines import AUTO_ORDER, engine_availability, resolve_engine
from fusion.errors import EngineUnavailable

needs_onnx = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("onnx", "onnxruntime")),
    reason="onnx/onnxruntime (the neural extra) are not installed",
)


def test_default_is_auto_and_a_plain_install_runs_classic_quietly(
    group_path: Path, astronaut_path: Path
) -> None:
    assert FusionOptions().engine == "auto" and AUTO_ORDER[-1] == "classic"
    result = fuse(group_path, astronaut_path)
    assert result.engine == "classic" and result.report()["engine"] == "classic"
    assert not any("engine" in note for note in result.warnings)  # nothing set up: nothing to say
    assert engine_availability("auto").available


@needs_onnx
def test_auto_takes_inswapper_when_its_models_are_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_path: Path, astronaut_path: Path
) -> None:
    import tiny_models

    monkeypatch.setenv("FUSION_MODELS_DIR", str(tiny_models.place_inswapper_models(tmp_path / "m")))
    assert resolve_engine("auto")[0].name == "inswapper"
    assert fuse(group_path, astronaut_path).engine == "inswapper"
    assert fuse(group_path, astronaut_path, FusionOptions(engine="classic")).engine == "classic"


@needs_onnx
def test_corrupt_model_falls_back_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_path: Path, astronaut_path: Path
) -> None:
    import tiny_models

    from fusion.models import store

    folder = tiny_models.place_inswapper_models(tmp_path / "m")
    model = folder / "inswapper_128.onnx"
    manifest = json.loads(Path(store.__file__).with_name("manifest.json").read_text())
    manifest["models"]["inswapper_128"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest["models"]["inswapper_128"]["size"] = model.stat().st_size
    (tmp_path / "pinned.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FUSION_MODELS_DIR", str(folder))
    monkeypatch.setenv("FUSION_MODELS_MANIFEST", str(tmp_path / "pinned.json"))
    model.write_bytes(model.read_bytes()[:-100] + b"\0" * 100)  # same size, other bytes
    result = fuse(group_path, astronaut_path)
    assert result.engine == "classic"
    assert any("inswapper engine was not used" in n and "corrupt" in n for n in result.warnings)


@needs_onnx
def test_model_that_fails_to_load_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_path: Path, astronaut_path: Path
) -> None:
    """A broken file with no published hash passes the store's check; it shows only when onnxruntime
    reads it. auto still answers, with the classic engine and a note; asking for inswapper fails."""
    import tiny_models

    folder = tiny_models.place_inswapper_models(tmp_path / "m")
    (folder / "inswapper_128.onnx").write_bytes(b"not an onnx model" * 100)
    monkeypatch.setenv("FUSION_MODELS_DIR", str(folder))
    result = fuse(group_path, astronaut_path)
    assert result.engine == "classic"
    assert any("inswapper engine failed" in note for note in result.warnings)
    with pytest.raises(EngineUnavailable, match="inswapper_128.onnx could not be loaded"):
        fuse(group_path, astronaut_path, FusionOptions(engine="inswapper"))


def test_cli_reports_the_engine(tmp_path: Path, group_path: Path, astronaut_path: Path) -> None:
    out = tmp_path / "r.png"
    command = [sys.executable, "-m", "fusion", "fuse", "--source", str(group_path), "--target"]
    done = subprocess.run(
        [*command, str(astronaut_path), "--out", str(out), "--json", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine"] == "classic"
    with Image.open(out) as image:
        assert image.text["fusion-engine"] == "classic"
        assert json.loads(image.text["fusion-options"])["engine"] == "auto"
    plain = subprocess.run(
        [*command, str(astronaut_path), "--out", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0 and "with the classic engine" in plain.stdout


def test_page_offers_auto_and_shows_the_engine_that_ran(tmp_path: Path, astronaut_path: Path) -> None:
    from webui.handlers import Handlers
    from webui.views import engine_choices

    assert engine_choices()[0] == ("auto (classic)", "auto")
    info = Handlers(tmp_path / "out").fuse(str(astronaut_path), str(astronaut_path), resolution="512")[2]
    assert "classic engine" in info
