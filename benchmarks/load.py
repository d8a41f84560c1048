"""Load test: N concurrent gradio_client users x M different fusions each, against a web UI this script
launches itself on a free 127.0.0.1 port. Checks every result against an in-process fuse() of the
same inputs (no cross-talk between users), records the queue positions the server reported,
latency p50/p95, throughput and the server's memory; prints a table and writes results/load.json.

    python benchmarks/load.py [--clients 20] [--requests 5] [--deadline 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same launcher the API tests use

from webui_helpers import Server, running_server  # noqa: E402

from fusion import FusionOptions, fuse  # noqa: E402
from fusion.io import decode_image  # noqa: E402
from fusion.samples import sample_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RESOLUTIONS = ("256", "320", "384", "448", "512")
MAX_MEAN_ABS_DIFF = 2.0  # result vs in-process fuse() of the same inputs (the PNG is lossless)
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Request:
    """One user's one fusion: its inputs differ from every other request's."""

    user: int
    index: int
    target_path: str
    resolution: str
    blend_ratio: float

    @property
    def size(self) -> tuple[int, int]:
        side = int(self.resolution)
        return side, side


@dataclass
class Outcome:
    user: int
    index: int
    seconds: float = 0.0
    ok: bool = False
    problem: str = ""
    result_file: str = ""
    ranks: list[int] = field(default_factory=list)  # queue positions reported while waiting
    queue_sizes: list[int] = field(default_factory=list)


def make_requests(users: int, per_user: int, folder: Path) -> list[Request]:
    """Targets made distinct by a per-request crop and flip of the astronaut; options vary too."""
    astronaut = decode_image(sample_path("astronaut"), "target").pixels
    requests = []
    for user in range(users):
        for index in range(per_user):
            number = user * per_user + index
            crop = 2 * (number % 40)
            target = astronaut[crop:, : astronaut.shape[1] - crop]
            if number % 2:
                target = target[:, ::-1]
            path = folder / f"target-{user}-{index}.png"
            Image.fromarray(np.ascontiguousarray(target)).save(path)
            requests.append(
                Request(
                    user,
                    index,
                    str(path),
                    RESOLUTIONS[number % len(RESOLUTIONS)],
                    round(0.5 + 0.05 * (number % 11), 2),
                )
            )
    return requests


def expected_image(request: Request, source: str) -> np.ndarray:
    options = FusionOptions(resolution=request.resolution, blend_ratio=request.blend_ratio)
    return fuse(source, request.target_path, options).image


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_user(
    url: str, source: str, requests: list[Request], deadline: float, outcomes: list[Outcome]
) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    for request in requests:
        outcome = Outcome(request.user, request.index)
        outcomes.append(outcome)
        started = time.perf_counter()
        try:
            job = client.submit(
                source=handle_file(source),
                target=handle_file(request.target_path),
                blend_ratio=request.blend_ratio,
                resolution=request.resolution,
                api_name="/fuse",
            )
            while not job.done():
                if time.monotonic() > deadline:
                    job.cancel()
                    raise TimeoutError("the run's deadline passed")
                status = job.status()
                if status.rank is not None:
                    outcome.ranks.append(int(status.rank))
                if status.queue_size is not None:
                    outcome.queue_sizes.append(int(status.queue_size))
                time.sleep(POLL_SECONDS)
            result_file = job.result(timeout=max(1.0, deadline - time.monotonic()))[0]
            outcome.seconds = time.perf_counter() - started
            outcome.ok, outcome.result_file = True, result_file  # checked after the run
        except Exception as exc:  # a failed request is a finding, recorded, not a crash of the run
            outcome.seconds = time.perf_counter() - started
            outcome.problem = f"{type(exc).__name__}: {exc}"


def check_results(
    requests: list[Request], outcomes: list[Outcome], source: str
) -> dict[tuple[int, int], str]:
    """Compare each delivered result with fuse() of its own inputs; returns the mismatches."""
    by_key = {(r.user, r.index): r for r in requests}
    mismatches = {}
    for outcome in outcomes:
        if not outcome.ok:
            continue
        request = by_key[(outcome.user, outcome.index)]
        with Image.open(outcome.result_file) as image:
            got = np.asarray(image.convert("RGB"))
        want = expected_image(request, source)
        if got.shape != want.shape:
            mismatches[(outcome.user, outcome.index)] = f"size {got.shape} != {want.shape}"
        else:
            diff = float(np.abs(got.astype(np.int16) - want.astype(np.int16)).mean())
            if diff >= MAX_MEAN_ABS_DIFF:
                mismatches[(outcome.user, outcome.index)] = f"mean abs diff {diff:.2f}"
    for outcome in outcomes:
        problem = mismatches.get((outcome.user, outcome.index))
        if problem:
            outcome.ok, outcome.problem = False, problem
    return mismatches


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_load(
    users: int = 20,
    per_user: int = 5,
    deadline_seconds: float = 600.0,
    server: Server | None = None,
    server_env: dict[str, str] | None = None,
) -> dict[str, object]:
    """Run the load against `server` (or one launched here with `server_env`); returns the figures."""
    source = str(sample_path("group"))  # its largest face, fused into each user's own target
    with tempfile.TemporaryDirectory(prefix="fusion-load-") as folder:
        requests = make_requests(users, per_user, Path(folder))
        if server is None:
            with running_server(Path(folder) / "server", env=server_env) as launched:
                return _run(launched, users, per_user, requests, source, deadline_seconds)
        return _run(server, users, per_user, requests, source, deadline_seconds)


def _run(
    server: Server,
    users: int,
    per_user: int,
    requests: list[Request],
    source: str,
    deadline_seconds: float,
) -> dict[str, object]:
    deadline = time.monotonic() + deadline_seconds
    first: list[Outcome] = []
    run_user(server.url, source, requests[:1], deadline, first)  # warm-up: the first request
    rss_after_first = rss_bytes(server.process.pid)

    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(
            target=run_user,
            args=(server.url, source, requests[u * per_user : (u + 1) * per_user], deadline, outcomes),
            daemon=True,
        )
        for u in range(users)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    wall_seconds = time.perf_counter() - started
    rss_after_run = rss_bytes(server.process.pid)
    server_alive = server.process.poll() is None

    mismatches = check_results(requests, list(outcomes), source)
    done = [o for o in outcomes if o.ok]
    latencies = [o.seconds for o in done]
    ranks = [rank for o in outcomes for rank in o.ranks]
    queue_sizes = [size for o in outcomes for size in o.queue_sizes]
    return {
        "clients": users,
        "requests_per_client": per_user,
        "requests": users * per_user,
        "completed_correct": len(done),
        "failed": {f"{o.user}/{o.index}": o.problem for o in outcomes if not o.ok},
        "mismatches": len(mismatches),
        "wall_seconds": round(wall_seconds, 2),
        "throughput_per_second": round(len(done) / wall_seconds, 3) if wall_seconds else 0.0,
        "latency_p50_seconds": round(percentile(latencies, 0.5), 2),
        "latency_p95_seconds": round(percentile(latencies, 0.95), 2),
        "latency_max_seconds": round(max(latencies, default=float("nan")), 2),
        "max_queue_rank_seen": max(ranks, default=None),
        "max_queue_size_seen": max(queue_sizes, default=None),
        "requests_that_saw_a_queue_position": sum(1 for o in outcomes if o.ranks),
        "rss_after_first_mb": round(rss_after_first / 1e6, 1),
        "rss_after_run_mb": round(rss_after_run / 1e6, 1),
        "rss_growth_percent": round(100 * (rss_after_run / rss_after_first - 1), 1)
        if rss_after_first
        else None,
        "server_alive": server_alive,
        "first_request_seconds": round(first[0].seconds, 2) if first else None,
    }


def print_table(figures: dict[str, object]) -> None:
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        if key != "failed":
            print(f"| {key} | {value} |")
    for key, problem in dict(figures["failed"]).items():  # type: ignore[call-overload]
        print(f"FAILED {key}: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole run")
    parser.add_argument("--concurrency", type=int, default=1, help="the server's FUSION_CONCURRENCY")
    parser.add_argument("--output", default="load.json", help="file name under benchmarks/results/")
    args = parser.parse_args()
    env = {"FUSION_CONCURRENCY": str(args.concurrency)}
    figures = run_load(args.clients, args.requests, args.deadline, server_env=env)
    figures["server_concurrency"] = args.concurrency
    print_table(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {RESULTS / args.output}")
    ok = figures["completed_correct"] == figures["requests"] and figures["server_alive"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
