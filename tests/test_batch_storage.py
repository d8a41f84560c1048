"""Batches whose photos and results are fsspec URLs: file:// across worker processes, and memory://,
an object store's stand-in (written in one upload, listed by extension), in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import fsspec
import numpy as np
import pytest

from fusion import FusionOptions, InvalidOptions, decode_image, fuse
from fusion.batch import find_targets, run

OPTIONS = FusionOptions(resolution="256")


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_file_urls_across_processes_match_local_paths(
    tmp_path: Path, astronaut: np.ndarray, group_path: Path
) -> None:
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "a" / "x.jpg").write_bytes(_jpeg(astronaut))
    (tmp_path / "in" / "y.jpg").write_bytes(_jpeg(cv2.flip(astronaut, 1)))
    by_url = run(
        group_path, f"file://{tmp_path}/in", f"file://{tmp_path}/out", OPTIONS, workers=2, identity=False
    )
    assert [(o.output, o.status) for o in by_url.outcomes] == [("a/x.png", "ok"), ("y.png", "ok")]
    assert (
        by_url.report_path == f"file://{tmp_path}/out/report.csv"
        and (tmp_path / "out" / "report.csv").is_file()
    )
    expected = fuse(group_path, tmp_path / "in" / "a" / "x.jpg", OPTIONS).image
    assert np.array_equal(decode_image(tmp_path / "out" / "a" / "x.png", "result").pixels, expected)
    again = run(group_path, f"file://{tmp_path}/in", f"file://{tmp_path}/out", OPTIONS, workers=2)
    assert again.skipped == 2 and again.runner == "nothing to fuse"  # no processes started


@pytest.fixture()
def bucket() -> Iterator[str]:
    memory = fsspec.filesystem("memory")
    root = "memory://batch-test-bucket"
    yield root
    if memory.exists("/batch-test-bucket"):
        memory.rm("/batch-test-bucket", recursive=True)


def test_object_store_targets_csv_and_results(bucket: str, astronaut: np.ndarray, group_path: Path) -> None:
    memory = fsspec.filesystem("memory")
    memory.pipe(f"{bucket}/in/trip/x.jpg", _jpeg(astronaut))
    memory.pipe(f"{bucket}/in/x.jpg", _jpeg(cv2.flip(astronaut, 1)))
    memory.pipe(f"{bucket}/in/broken.jpg", _jpeg(astronaut)[:300])
    memory.pipe(f"{bucket}/in/readme.txt", b"not a photo")
    memory.pipe(f"{bucket}/in/.hidden.jpg", _jpeg(astronaut))
    assert [t.name for t in find_targets(f"{bucket}/in")] == ["broken", "trip/x", "x"]
    assert [t.name for t in find_targets(f"{bucket}/in/**/*.jpg")] == ["broken", "trip/x", "x"]
    with pytest.raises(InvalidOptions, match="Invalid pattern"):
        find_targets(f"{bucket}/in/**.jpg")
    memory.pipe(f"{bucket}/list.csv", b"target,blend_ratio\nin/trip/x.jpg,0.5\nin/broken.jpg,\n")

    report = run(group_path, f"{bucket}/list.csv", f"{bucket}/out", OPTIONS, workers=1, identity=False)
    assert [(o.output, o.status) for o in report.outcomes] == [
        ("in/trip/x.png", "ok"),
        ("in/broken.png", "error"),
    ]
    fused = decode_image(memory.cat(f"{bucket}/out/in/trip/x.png"), "result").pixels
    expected = fuse(group_path, _jpeg(astronaut), FusionOptions(resolution="256", blend_ratio=0.5)).image
    assert np.array_equal(fused, expected)
    report_text = memory.cat(f"{bucket}/out/report.csv").decode()
    assert "truncated or corrupt" in report_text and report_text.count("\n") == 3
    assert not [p for p in memory.find(f"{bucket}/out") if ".tmp" in p]
    again = run(group_path, f"{bucket}/list.csv", f"{bucket}/out", OPTIONS, workers=1, identity=False)
    assert [o.status for o in again.outcomes] == ["skipped", "error"]
