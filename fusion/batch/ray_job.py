"""Run a batch with Ray Data: the jobs as a dataset, fused by a pool of actors (each holding a Fuser,
so models load and the source is analysed once per actor), the outcomes streamed back in order of
completion. Ray is imported only here, and only when a batch asks for it (`ray[data]`, the `cluster`
extra)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fusion.batch.work import Fuser, Job, Outcome
from fusion.errors import ClusterUnavailable

LOCAL = "local"


class FuserActor:
    """Ray Data's callable class: built once per actor, then called with batches of job rows."""

    def __init__(self, fuser: Fuser) -> None:
        self.fuser = fuser

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[object]]:
        count = len(batch["target"])
        rows = [{name: column[i] for name, column in batch.items()} for i in range(count)]
        outcomes = [self.fuser(Job.from_row(row)).as_row() for row in rows]
        return {name: [outcome[name] for outcome in outcomes] for name in outcomes[0]} if outcomes else {}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ClusterUnavailable(
            f"Ray Data is not installed ({exc})", 'Install it with pip install "face-fusion[cluster]"'
        ) from None
    return ray


def run_ray(
    jobs: Sequence[Job],
    fuser: Fuser,
    workers: int,
    address: str,
    on_outcome: Callable[[Outcome], None],
    gpus_per_worker: float = 0.0,
) -> None:
    """Fuse every job on Ray with `workers` actors: on a Ray started here for this job (`address` =
    "local"; it stops afterwards), or on the cluster at `address` ("auto", "ray://host:10001")."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        try:
            if address == LOCAL:
                # One logical CPU more than the actors take: without it the task that reads the job
                # rows gets no CPU and the job hangs (seen on a 2-core machine).
                ray.init(num_cpus=workers + 1, logging_level=logging.WARNING, **settings)
            else:
                ray.init(address=address, logging_level=logging.WARNING, **settings)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError ...
            raise ClusterUnavailable(
                f"could not start or reach Ray at {address!r} ({type(exc).__name__}: {exc})",
                "Check the address (ray://host:10001 or auto) and that the cluster is up",
            ) from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch shows its own progress
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        dataset = ray.data.from_items([job.as_row() for job in jobs], override_num_blocks=len(jobs))
        fused = dataset.map_batches(
            FuserActor,
            fn_constructor_kwargs={"fuser": fuser},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            num_gpus=gpus_per_worker or None,
        )
        for row in fused.iter_rows():
            on_outcome(Outcome.from_row(dict(row)))
    finally:
        if started_here:
            ray.shutdown()
