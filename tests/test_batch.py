"""Batch fusion through the Python API: targets from a folder, a glob, a CSV or a list; names; the
report; resume; bad files as rows; worker processes giving the same pixels as one process."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion import FusionOptions, InvalidOptions, NoFaceFound, decode_image, fuse, prepare_source
from fusion.batch import REPORT_COLUMNS, find_targets, run

OPTIONS = FusionOptions(resolution="256")


def _save_jpeg(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


@pytest.fixture()
def photos(tmp_path: Path, astronaut: np.ndarray, group: np.ndarray, group_path: Path) -> Path:
    """A folder of targets: two x.jpg in different folders, an x.png beside one of them (same name
    once fused), a photo without a face, a truncated JPEG, a file over the size limit, a non-image."""
    root = tmp_path / "photos"
    _save_jpeg(root / "a" / "x.jpg", astronaut)
    shutil.copy(group_path, root / "b" / "x.jpg") if (root / "b").mkdir() is None else None
    cv2.imwrite(str(root / "a" / "x.png"), cv2.cvtColor(cv2.flip(astronaut, 1), cv2.COLOR_RGB2BGR))
    _save_jpeg(root / "noface.jpg", np.full((300, 300, 3), 128, np.uint8))
    full = (root / "b" / "x.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(full[: len(full) // 3])
    (root / "huge.jpg").write_bytes(full[:2] + b"\0" * (11 * 1024 * 1024))
    (root / "notes.txt").write_text("not a photo")
    # An image whose name says nothing: recognised by its content.
    shutil.copy(root / "a" / "x.jpg", root / "a" / "photo-without-extension")
    return root


def _report(out: Path) -> list[dict[str, str]]:
    with open(out / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == list(REPORT_COLUMNS)
    return rows


def _pixels(path: Path) -> np.ndarray:
    return decode_image(path, "result").pixels


def test_folder_results_named_after_targets_with_a_report(
    photos: Path, astronaut_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = run(astronaut_path, photos, out, OPTIONS, workers=1, identity=False)
    rows = {row["target"]: row for row in _report(out)}
    names = {Path(target).relative_to(photos).as_posix(): row for target, row in rows.items()}
    assert set(names) == {
        "a/x.jpg",
        "a/x.png",
        "a/photo-without-extension",
        "b/x.jpg",
        "noface.jpg",
        "broken.jpg",
        "huge.jpg",
    }  # notes.txt is not a photo
    assert names["a/x.jpg"]["output"] == "a/x.png"
    assert names["a/x.png"]["output"] == "a/x-2.png"  # the same name once fused: resolved
    assert names["b/x.jpg"]["output"] == "b/x.png"
    assert names["a/photo-without-extension"]["output"] == "a/photo-without-extension.png"
    for name in ("a/x.jpg", "a/x.png", "b/x.jpg", "a/photo-without-extension"):
        row = names[name]
        assert row["status"] == "ok" and row["engine"] == "classic"
        assert float(row["fuse_seconds"]) > 0 and float(row["total_seconds"]) >= float(row["fuse_seconds"])
        assert row["identity_to_source"] == ""
        # The same pixels as a single fuse() call.
        expected = fuse(astronaut_path, photos / name, OPTIONS).image
        assert np.array_equal(_pixels(out / row["output"]), expected)
    # Bad files are rows carrying the library's own message; the job went on.
    for name, kind in (("noface.jpg", NoFaceFound), ("broken.jpg", Exception), ("huge.jpg", Exception)):
        row = names[name]
        assert row["status"] == "error" and row["output"] and not (out / row["output"]).exists()
        with pytest.raises(kind) as raised:
            fuse(astronaut_path, photos / name, OPTIONS)
        assert row["message"] == str(raised.value)
    assert "No face found in the target" in names["noface.jpg"]["message"]
    assert "truncated or corrupt" in names["broken.jpg"]["message"]
    assert "over the 10 MB limit" in names["huge.jpg"]["message"]
    assert (report.ok, report.failed, report.skipped) == (4, 3, 0)


def test_glob_and_list_targets(photos: Path, tmp_path: Path) -> None:
    from_glob = find_targets(str(photos / "**" / "*.jpg"))
    assert sorted(t.name for t in from_glob) == ["a/x", "b/x", "broken", "huge", "noface"]
    from_list = find_targets([photos / "a" / "x.jpg", photos / "b" / "x.jpg", photos / "a" / "x.png"])
    assert [t.name for t in from_list] == ["x", "x-2", "x-3"]
    with pytest.raises(InvalidOptions, match="no photos found"):
        find_targets(str(tmp_path / "nothing-*.jpg"))
    # The output folder inside the target folder is never read as targets.
    assert all("out" not in t.path for t in find_targets(photos, exclude=photos / "a"))
    assert all(not t.path.startswith(str(photos / "a")) for t in find_targets(photos, exclude=photos / "a"))


def test_csv_rows_override_the_job_options(
    tmp_path: Path, astronaut_path: Path, astronaut: np.ndarray, group_path: Path
) -> None:
    target = _save_jpeg(tmp_path / "in" / "astro.jpg", astronaut)
    listing = tmp_path / "in" / "list.csv"
    listing.write_text(
        "target,blend_ratio,resolution,target_face\n"
        "astro.jpg,,,\n"  # the job's options
        f"{group_path},0.5,128x96,2\n"  # absolute path, three options of its own
        "astro.jpg,abc,,\n"  # a bad value: this row fails, the others run
    )
    out = tmp_path / "out"
    report = run(astronaut_path, listing, out, OPTIONS, workers=1, identity=False)
    rows = _report(out)
    assert [row["status"] for row in rows] == ["ok", "ok", "error"]
    assert [row["output"] for row in rows] == ["astro.png", "t1.png", "astro-2.png"]
    assert np.array_equal(_pixels(out / "astro.png"), fuse(astronaut_path, target, OPTIONS).image)
    row_options = FusionOptions(resolution="128x96", blend_ratio=0.5, target_face=2)
    fused = _pixels(out / "t1.png")
    assert fused.shape == (96, 128, 3)
    assert np.array_equal(fused, fuse(astronaut_path, group_path, row_options).image)
    assert "blend_ratio='abc' must be a number" in rows[2]["message"]
    assert report.failed == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("target,blend\nastro.jpg,0.5\n")
    with pytest.raises(InvalidOptions, match="unknown column"):
        run(astronaut_path, bad, out, OPTIONS, workers=1)
    bad.write_text("photo\nastro.jpg\n")
    with pytest.raises(InvalidOptions, match="no 'target' column"):
        run(astronaut_path, bad, out, OPTIONS, workers=1)


def test_second_run_skips_present_results_and_redoes_missing_ones(
    photos: Path, astronaut_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run(astronaut_path, photos, out, OPTIONS, workers=1, identity=False)
    stamps = {path: path.stat().st_mtime_ns for path in map(Path, first.outputs())}
    (out / "b" / "x.png").unlink()
    (out / "a" / ".fusion-leftover.tmp").write_bytes(b"half a file from a killed run")
    seen = []
    second = run(astronaut_path, photos, out, OPTIONS, workers=1, identity=False, progress=seen.append)
    statuses = {o.output: o.status for o in second.outcomes}
    assert statuses["b/x.png"] == "ok" and statuses["a/x.png"] == statuses["a/x-2.png"] == "skipped"
    assert statuses["broken.png"] == "error"  # failed targets are tried again
    assert all(
        path.stat().st_mtime_ns == stamp
        for path, stamp in stamps.items()
        if path.name != "x.png" or "a" in path.parts
    )
    assert not list(out.rglob(".fusion-*.tmp"))
    assert [event.done for event in seen] == list(range(1, len(second.outcomes) + 1))
    assert seen[-1].total == 7 and seen[-1].images_per_second is not None


def test_two_worker_processes_give_the_same_pixels(
    photos: Path, astronaut_path: Path, tmp_path: Path
) -> None:
    one = run(astronaut_path, photos, tmp_path / "one", OPTIONS, workers=1, identity=False)
    two = run(astronaut_path, photos, tmp_path / "two", OPTIONS, workers=2, identity=False)
    assert two.runner == "2 local processes"
    assert [(o.output, o.status, o.message) for o in one.outcomes] == [
        (o.output, o.status, o.message) for o in two.outcomes
    ]
    for path in map(Path, one.outputs()):
        assert np.array_equal(_pixels(path), _pixels(tmp_path / "two" / path.relative_to(tmp_path / "one")))


def test_source_problems_stop_the_job_before_any_target(photos: Path, tmp_path: Path) -> None:
    blank = _save_jpeg(tmp_path / "blank.jpg", np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(NoFaceFound, match="source"):
        run(blank, photos, tmp_path / "out", OPTIONS, workers=1)
    assert not list((tmp_path / "out").iterdir())
    with pytest.raises(InvalidOptions, match="workers"):
        run(blank, photos, tmp_path / "out", OPTIONS, workers=0)


def test_identity_column_follows_the_dlib_extra(
    group_path: Path, astronaut: np.ndarray, tmp_path: Path
) -> None:
    target = _save_jpeg(tmp_path / "astro.jpg", astronaut)
    report = run(group_path, [target], tmp_path / "out", FusionOptions(), workers=1)
    (outcome,) = report.outcomes
    assert outcome.status == "ok"
    try:
        import dlib  # noqa: F401
    except ImportError:
        assert outcome.identity_to_source is None  # empty in report.csv
    else:
        assert outcome.identity_to_source is not None and 0 < outcome.identity_to_source < 1.5
        assert outcome.identity_to_target is not None
    row = _report(tmp_path / "out")[0]
    assert row["identity_to_source"] == (
        "" if outcome.identity_to_source is None else row["identity_to_source"]
    )


def test_prepared_source_gives_the_same_result_and_leaves_arrays_writable(
    astronaut: np.ndarray, group_path: Path
) -> None:
    source = astronaut.copy()
    prepared = prepare_source(source, OPTIONS)
    assert source.flags.writeable and not prepared.pixels.flags.writeable
    for options in (OPTIONS, FusionOptions(resolution="256", target_face="all", blend_ratio=0.6)):
        assert np.array_equal(
            fuse(prepared, group_path, options).image, fuse(source, group_path, options).image
        )
