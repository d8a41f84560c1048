"""A small run of benchmarks/load.py (4 users x 3 different fusions at once) with its assertions:
every request completes with its own result (no cross-talk), queue positions are reported, the
server still answers afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("gradio_client")
from PIL import Image  # noqa: E402
from webui_helpers import ROOT, answers, running_server  # noqa: E402

pytestmark = pytest.mark.slow


def load_benchmark() -> ModuleType:
    # benchmarks/ is a folder of scripts, not an installed package.
    spec = importlib.util.spec_from_file_location("load_benchmark", ROOT / "benchmarks" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_four_users_three_fusions_each(tmp_path: Path) -> None:
    load = load_benchmark()
    requests = load.make_requests(4, 3, tmp_path)
    assert len({(r.target_path, r.resolution, r.blend_ratio) for r in requests}) == 12  # all different
    with load.running_server(tmp_path / "server") as server:
        figures = load._run(server, 4, 3, requests, str(load.sample_path("group")), 240.0)
        assert answers(server.url)
    assert figures["failed"] == {}
    assert figures["completed_correct"] == 12
    assert figures["mismatches"] == 0
    assert figures["server_alive"]
    assert figures["rss_growth_percent"] < 10  # memory back near its level after the first request
    # With one fusion at a time and 4 users, someone waited and was told their place in the queue.
    assert figures["requests_that_saw_a_queue_position"] >= 1
    assert figures["max_queue_size_seen"] >= 1


def test_a_swapped_result_is_caught(tmp_path: Path) -> None:
    # The cross-talk check itself: a result delivered to the wrong request must be reported.
    load = load_benchmark()
    source = str(load.sample_path("group"))
    first, second = load.make_requests(1, 2, tmp_path)
    swapped = tmp_path / "swapped.png"
    from PIL import Image

    Image.fromarray(load.expected_image(second, source)).save(swapped)
    outcome = load.Outcome(first.user, first.index, ok=True, result_file=str(swapped))
    mismatches = load.check_results([first, second], [outcome], source)
    assert list(mismatches) == [(0, 0)]
    assert not outcome.ok


def test_a_full_queue_refuses_new_requests_clearly(tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from fusion.samples import sample_path

    face = handle_file(str(sample_path("astronaut")))
    with running_server(tmp_path, env={"FUSION_MAX_QUEUE": "1"}) as server:
        client = Client(server.url, verbose=False)
        # Six at once, each a few seconds' work: one runs, one waits, the others find the queue full.
        jobs = [
            client.submit(source=face, target=face, resolution="4096", output_format="jpeg", api_name="/fuse")
            for _ in range(6)
        ]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(job.result(timeout=120)[0])
            except Exception as exc:  # noqa: BLE001 (the refusal is what is looked at)
                outcomes.append(exc)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        delivered = [o for o in outcomes if isinstance(o, str)]
        assert refused and delivered
        assert all("queue is full" in str(error).lower() for error in refused), refused
        with Image.open(delivered[0]) as image:
            assert image.size == (4096, 4096)
        # The refusals did no harm: the next request is served.
        result = client.predict(source=face, target=face, resolution="256", api_name="/fuse")[0]
        with Image.open(result) as image:
            assert image.size == (256, 256)


THREADED_FUSE = """
import sys, threading
import numpy as np
from fusion import FusionOptions, fuse
from fusion.samples import sample_path

source, target = str(sample_path("group")), str(sample_path("astronaut"))
jobs = [FusionOptions(resolution=r, blend_ratio=b) for r in ("256", "384") for b in (0.6, 0.8, 1.0)]
expected = [fuse(source, target, options).image for options in jobs]
wrong = []

def work(indices):
    for i in indices:
        got = fuse(source, target, jobs[i]).image
        if got.shape != expected[i].shape or np.abs(got.astype(int) - expected[i]).mean() > 0.5:
            wrong.append(i)

for _ in range(2):
    threads = [threading.Thread(target=work, args=(range(k, len(jobs), 3),)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print("wrong:", wrong)
"""


def test_fuse_from_several_threads_at_once() -> None:
    # Before DLIB_LOCK this crashed the process (segfault) or gave wrong faces: run it apart.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", THREADED_FUSE], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrong: []" in done.stdout
