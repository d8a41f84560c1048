"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fusion", "fuse", *args], capture_output=True, text=True, timeout=120
    )


def test_fuse_writes_the_file_and_reports_json(
    tmp_path: Path, group_path: Path, astronaut_path: Path
) -> None:
    out = tmp_path / "result.png"
    done = _run(
        "--source",
        str(group_path),
        "--target",
        str(astronaut_path),
        "--out",
        str(out),
        "--resolution",
        "1024x768",
        "--fit",
        "crop",
        "--blend",
        "0.8",
        "--sharpen",
        "0.3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["size"] == [1024, 768]
    assert report["timings"]["total"] > 0
    assert len(report["target_faces"]) == 1
    with Image.open(out) as image:
        assert image.size == (1024, 768)
        options = json.loads(image.text["fusion-options"])
        assert options["blend_ratio"] == 0.8 and options["fit"] == "crop"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_a_reader_that_stops_early_ends_the_run_quietly(
    tmp_path: Path, group_path: Path, astronaut_path: Path
) -> None:
    """`face-fusion fuse ... --json | head -c 10`: the reader is gone before the report is printed."""
    out = tmp_path / "result.png"
    args = ["--source", str(group_path), "--target", str(astronaut_path), "--out", str(out), "--json"]
    # Buffered, as a pipe's stdout is by default: the write that fails is the final flush.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    child = subprocess.Popen(
        [sys.executable, "-m", "fusion", "fuse", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reading end closes before anything is written
    stderr = child.stderr.read()
    assert child.wait(timeout=120) == 141
    assert "error" not in stderr and "Traceback" not in stderr, stderr
    with Image.open(out) as image:  # the result was written before the report
        assert image.size[0] > 0


def test_jpeg_output_by_extension(tmp_path: Path, group_path: Path, astronaut_path: Path) -> None:
    out = tmp_path / "result.jpg"
    done = _run(
        "--source",
        str(group_path),
        "--target",
        str(astronaut_path),
        "--out",
        str(out),
        "--target-face",
        "all",
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    with Image.open(out) as image:
        assert image.format == "JPEG"


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        (["--blend", "2"], 2, "blend_ratio=2.0 is out of range"),
        (["--resolution", "abc"], 2, "resolution='abc'"),
        (["--target-face", "9"], 2, "face 9 does not exist"),
    ],
)
def test_bad_options_fail_with_one_line(
    extra: list[str], code: int, needle: str, tmp_path: Path, group_path: Path, astronaut_path: Path
) -> None:
    out = tmp_path / "x.png"
    done = _run("--source", str(astronaut_path), "--target", str(group_path), "--out", str(out), *extra)
    assert done.returncode == code
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_no_face_and_bad_file(tmp_path: Path, astronaut_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(blank)
    done = _run("--source", str(astronaut_path), "--target", str(blank), "--out", str(tmp_path / "o.png"))
    assert done.returncode == 3
    assert "No face found in the target image" in done.stderr
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    done = _run("--source", str(text), "--target", str(astronaut_path), "--out", str(tmp_path / "o.png"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: source image: the file is not an image")


def test_unwritable_output_folder(tmp_path: Path, group_path: Path, astronaut_path: Path) -> None:
    done = _run(
        "--source", str(group_path), "--target", str(astronaut_path), "--out", str(tmp_path / "no" / "o.png")
    )
    assert done.returncode == 5
    assert "does not exist" in done.stderr


def test_cli_does_not_import_torch_gradio_or_scipy(
    tmp_path: Path, group_path: Path, astronaut_path: Path
) -> None:
    """None of them is needed to fuse; scipy is not even installed by default (its import would
    also cost a cold run ~0.35 s)."""
    args = [
        "fuse",
        "--source",
        str(group_path),
        "--target",
        str(astronaut_path),
        "--out",
        str(tmp_path / "o.png"),
    ]
    code = (
        f"import sys; from fusion.cli import main; main({args!r}); "
        "print('torch' in sys.modules, 'gradio' in sys.modules, 'scipy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False False False"
