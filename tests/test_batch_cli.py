"""`python -m fusion batch` run as a user would: exit codes, --json lines, the progress bar, a job
killed part-way and resumed, and Ray never imported unless asked for."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import decode_image

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _batch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fusion", "batch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


@pytest.fixture()
def targets(tmp_path: Path, astronaut: np.ndarray) -> Path:
    """Eight targets: the astronaut shifted and mirrored, as JPEGs."""
    folder = tmp_path / "targets"
    folder.mkdir()
    for index in range(8):
        picture = np.roll(astronaut, index * 7, axis=1)
        picture = cv2.flip(picture, 1) if index % 2 else picture
        cv2.imwrite(str(folder / f"t{index}.jpg"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return folder


def test_json_lines_parse_and_exit_codes_say_whether_any_failed(
    targets: Path, group_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    common = ("--source", str(group_path), "--targets", str(targets), "--out", str(out))
    done = _batch(*common, "--resolution", "256", "--workers", "1", "--no-identity", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    progress, summary = lines[:-1], lines[-1]
    assert [line["done"] for line in progress] == list(range(1, 9))
    assert all(line["event"] == "progress" and line["status"] == "ok" for line in progress)
    assert progress[-1]["images_per_second"] > 0 and progress[-1]["eta_seconds"] == 0
    assert summary == {**summary, "event": "done", "total": 8, "ok": 8, "failed": 0, "skipped": 0}
    assert "img/s" not in done.stderr  # no bar with --json

    (targets / "broken.jpg").write_bytes((targets / "t0.jpg").read_bytes()[:500])
    done = _batch(*common, "--resolution", "256", "--workers", "1", "--no-identity")
    assert done.returncode == 6, done.stderr
    assert "img/s" in done.stderr and "fusing (8 skipped)" in done.stderr  # the bar, on stderr
    assert "failed: " in done.stderr and "truncated or corrupt" in done.stderr
    assert "0 fused, 8 skipped (already there), 1 failed of 9" in done.stdout
    with open(out / "report.csv", newline="") as handle:
        rows = {row["target"]: row for row in csv.DictReader(handle)}
    assert rows[str(targets / "broken.jpg")]["status"] == "error"

    # The job cannot start: one line on stderr and the fuse command's exit codes.
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    done = _batch("--source", str(blank), "--targets", str(targets), "--out", str(out))
    assert done.returncode == 3 and done.stderr.startswith("error: No face found in the source")
    done = _batch("--source", str(group_path), "--targets", str(tmp_path / "none*.jpg"), "--out", str(out))
    assert done.returncode == 2 and "no photos found" in done.stderr
    done = _batch(*common, "--blend", "2")
    assert done.returncode == 2 and "blend_ratio=2.0 is out of range" in done.stderr


def test_a_killed_job_resumes_without_partial_files(targets: Path, group_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--source", str(group_path), "--targets", str(targets), "--out", str(out), "--workers", "1"]
    args += ["--resolution", "1024", "--no-identity"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fusion", "batch", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*.png")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    first = {path.name: path.stat().st_mtime_ns for path in out.glob("*.png")}
    assert 1 <= len(first) < 8, "the job was not caught part-way"
    for name in first:  # whatever a kill leaves behind is complete
        assert decode_image(out / name, "result").pixels.shape == (1024, 1024, 3)
    assert not (out / "report.csv").exists()

    done = _batch(*args, "--json")
    assert done.returncode == 0, done.stderr
    statuses = {
        Path(line["output"]).name: line["status"] for line in map(json.loads, done.stdout.splitlines()[:-1])
    }
    assert {name for name, status in statuses.items() if status == "skipped"} == set(first)
    assert sorted(statuses) == [f"t{index}.png" for index in range(8)]
    assert all(statuses[name] == "ok" for name in statuses if name not in first)
    for name, stamp in first.items():
        assert (out / name).stat().st_mtime_ns == stamp  # not fused again
    assert not list(out.glob(".fusion-*")) and len(list(out.glob("*.png"))) == 8


def test_ray_is_never_imported_on_the_default_path(targets: Path, group_path: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom fusion.cli import main\n"
        f"code = main(['batch', '--source', {str(group_path)!r}, '--targets', {str(targets / 't0.jpg')!r}, "
        f"'--out', {str(tmp_path / 'out')!r}, '--resolution', '256', '--no-identity'])\n"
        "assert code == 0, code\n"
        "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_ray_missing_is_one_line_and_exit_4(targets: Path, group_path: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['ray'] = None  # as if ray were not installed\n"
        "from fusion.cli import main\n"
        f"sys.exit(main(['batch', '--source', {str(group_path)!r}, '--targets', {str(targets)!r}, "
        f"'--out', {str(tmp_path / 'out')!r}, '--ray']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 4
    assert len(done.stderr.strip().splitlines()) == 1
    assert "error: Ray is not available: Ray Data is not installed" in done.stderr
    assert 'pip install "face-fusion[cluster]"' in done.stderr
    assert not list((tmp_path / "out").glob("*.png"))
