"""The same batch on Ray Data (a local Ray cluster started by the job) gives the same pixels and the
same report as local processes. Ray is the optional `cluster` extra: installed here when missing."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import FusionOptions, decode_image
from fusion.batch import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ray_installed() -> None:
    """Ray Data in the running interpreter: installed from the package registry when missing; the
    tests skip (saying why) only when it cannot be installed."""
    try:
        importlib.import_module("ray.data")
        return
    except ImportError:
        pass
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "ray[data]"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    importlib.invalidate_caches()
    try:
        importlib.import_module("ray.data")
    except ImportError as exc:
        pytest.skip(f"ray[data] could not be installed ({exc}): {done.stderr.strip()[-300:]}")


def test_ray_gives_the_same_pixels_and_report_as_local_processes(
    ray_installed: None, tmp_path: Path, astronaut: np.ndarray, group_path: Path
) -> None:
    targets = tmp_path / "targets"
    (targets / "a").mkdir(parents=True)
    (targets / "b").mkdir()
    for index, name in enumerate(("a/x.jpg", "b/x.jpg", "a/x.png")):  # a/x.png: a name collision
        picture = cv2.flip(np.roll(astronaut, 11 * index, axis=0), 1) if index else astronaut
        cv2.imwrite(str(targets / name), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    (targets / "broken.jpg").write_bytes((targets / "a" / "x.jpg").read_bytes()[:400])
    (targets / "targets.csv").write_text("not read: a folder's CSV is not a photo")
    options = FusionOptions(resolution="384", blend_ratio=0.8)
    local = run(group_path, targets, tmp_path / "local", options, workers=2, identity=False)
    on_ray = run(group_path, targets, tmp_path / "ray", options, workers=2, ray=True, identity=False)
    assert on_ray.runner == "ray (local)"
    assert [(o.target, o.output, o.status, o.message) for o in on_ray.outcomes] == [
        (o.target, o.output, o.status, o.message) for o in local.outcomes
    ]
    assert (on_ray.ok, on_ray.failed) == (3, 1)
    assert sorted(o.output for o in on_ray.outcomes) == ["a/x-2.png", "a/x.png", "b/x.png", "broken.png"]
    for path in map(Path, local.outputs()):
        twin = tmp_path / "ray" / path.relative_to(tmp_path / "local")
        assert np.array_equal(decode_image(path, "local").pixels, decode_image(twin, "ray").pixels)
    rows = (tmp_path / "ray" / "report.csv").read_text().splitlines()
    assert len(rows) == 5 and "truncated or corrupt" in rows[4]
    # Resumed on Ray: nothing left to fuse, nothing fused again.
    again = run(group_path, targets, tmp_path / "ray", options, workers=2, ray=True, identity=False)
    assert (again.skipped, again.failed) == (3, 1)


def test_the_cli_runs_on_ray(
    ray_installed: None, tmp_path: Path, astronaut: np.ndarray, group_path: Path
) -> None:
    cv2.imwrite(str(tmp_path / "t.jpg"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fusion",
            "batch",
            "--source",
            str(group_path),
            "--targets",
            str(tmp_path / "t.jpg"),
        ]
        + ["--out", str(out), "--ray", "--workers", "1", "--resolution", "256", "--no-identity", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"runner": "ray (local)"' in done.stdout.splitlines()[-1]
    assert decode_image(out / "t.png", "result").pixels.shape == (256, 256, 3)


def test_no_cluster_at_the_address_is_one_line_and_exit_4(
    ray_installed: None, tmp_path: Path, astronaut_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "fusion", "batch", "--source", str(astronaut_path), "--targets"]
        + [str(astronaut_path), "--out", str(tmp_path / "out"), "--ray", "auto"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert done.returncode == 4, done.stderr
    assert "error: Ray is not available: could not start or reach Ray at 'auto'" in done.stderr
