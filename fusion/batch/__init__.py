"""Batch fusion: one source into many targets, as one job, on local processes or on Ray.

    from fusion.batch import run
    report = run("me.jpg", "photos/", "out/", FusionOptions(resolution="1024"), workers=2)

One result per target, named after it, written atomically; `out/report.csv` has a row per target.
Targets whose result is already there are skipped, so a stopped job is resumed by running it again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fusion.batch import storage
from fusion.batch.report import REPORT_COLUMNS, REPORT_NAME, BatchProgress, BatchReport, write_report
from fusion.batch.targets import Target, find_targets, row_options
from fusion.batch.work import ERROR, OK, SKIPPED, Fuser, Job, Outcome
from fusion.engines import engine_availability
from fusion.errors import EngineUnavailable, FusionError, InvalidOptions, OutputError
from fusion.io import EXTENSIONS, ImageInput
from fusion.options import FusionOptions
from fusion.prepared import prepare_source
from fusion.upscale import availability as upscaler_availability

__all__ = [
    "ERROR",
    "OK",
    "REPORT_COLUMNS",
    "REPORT_NAME",
    "SKIPPED",
    "BatchProgress",
    "BatchReport",
    "Outcome",
    "Target",
    "find_targets",
    "run",
]

TargetsSpec = str | os.PathLike | Sequence[str | os.PathLike] | Sequence[Target]
ProgressCallback = Callable[[BatchProgress], None]


def run(
    source: ImageInput,
    targets: TargetsSpec,
    out_dir: str | os.PathLike,
    options: FusionOptions | None = None,
    *,
    workers: int | None = None,
    ray: bool | str | None = None,
    fmt: str = "png",
    identity: bool = True,
    progress: ProgressCallback | None = None,
    gpus_per_worker: float = 0.0,
) -> BatchReport:
    """Fuse `source` into every target and write the results and report.csv into `out_dir`.

    targets: a folder (searched recursively, images by content), a glob, a .csv with a `target`
    column and per-row option columns, a list of photo paths, or a list of `Target`.
    workers: processes (default: the CPU count; 1 runs in this process) or Ray actors.
    ray: None/False runs on this machine; True or "local" on a Ray started for this job; an address
    ("auto", "ray://host:10001") on that cluster. identity: also measure dlib's identity distance
    (left empty without the dlib extra). progress: called after every target.

    Raises FusionError before any target is fused when the source, the targets, the options or the
    output folder are unusable; a target that fails is a row with status "error" and the job goes on.
    """
    started = time.perf_counter()
    options = options or FusionOptions()
    if fmt not in EXTENSIONS:
        raise InvalidOptions(f"format={fmt!r} is not one of {', '.join(EXTENSIONS)}")
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidOptions(f"workers={workers!r} must be a whole number, 1 or more")
    _check_engines(options)
    out = os.fspath(out_dir)
    _prepare_output(out)
    given = [] if isinstance(targets, (str, os.PathLike)) else list(targets)
    target_list: list[Target]
    if given and all(isinstance(t, Target) for t in given):
        target_list = [t for t in given if isinstance(t, Target)]
    else:
        target_list = find_targets(targets, exclude=out)  # type: ignore[arg-type]
    if isinstance(source, str) and storage.is_url(source):
        source = storage.read_bytes(source, "source")
    prepared = prepare_source(source, options)  # bad source or no face: stop before any target

    jobs, outcomes = _jobs(target_list, options, out, fmt)
    total = len(target_list)
    state = {"done": 0, "fused": 0, "first": 0.0}

    def record(outcome: Outcome) -> None:
        outcomes[outcome.output] = outcome
        state["done"] += 1
        if outcome.status != SKIPPED:
            state["fused"] += 1
        if progress is not None:
            progress(_progress(outcome, state, total, len(jobs)))

    for skipped in list(outcomes.values()):
        record(skipped)
    fuser = Fuser(prepared, out, fmt, identity)
    state["first"] = time.perf_counter()
    workers = min(workers, max(1, len(jobs)))  # no idle processes or actors
    if not jobs:
        runner = "nothing to fuse"
    elif ray:
        from fusion.batch.ray_job import LOCAL, run_ray  # Ray only when asked for

        address = LOCAL if ray is True else str(ray)
        run_ray(jobs, fuser, workers, address, record, gpus_per_worker)
        runner = f"ray ({address})"
    else:
        from fusion.batch.local import run_local

        run_local(jobs, fuser, workers, record)
        runner = "in-process" if workers == 1 else f"{workers} local processes"
    ordered = tuple(outcomes[t.output_file(fmt)] for t in target_list)
    report_path = storage.join(out, REPORT_NAME)
    write_report(report_path, ordered)
    return BatchReport(ordered, out, report_path, time.perf_counter() - started, runner)


def _check_engines(options: FusionOptions) -> None:
    """An engine or upscaler asked for by name that cannot run here fails the job at once, not once
    per target."""
    if options.engine != "auto":
        status = engine_availability(options.engine)
        if not status.available:
            raise EngineUnavailable(options.engine, status.reason, status.remedy)
    status = upscaler_availability(options.upscaler)
    if not status.available:
        raise EngineUnavailable(options.upscaler, status.reason, status.remedy)


def _prepare_output(location: str) -> None:
    """Create the output folder and remove temporary files a killed run left behind (write_atomic's
    `.fusion-*.tmp`: never a finished result)."""
    try:
        storage.make_folder(location)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder '{location}': {exc}.") from None
    if storage.is_url(location):
        return
    out = Path(location)
    if not os.access(out, os.W_OK):
        raise OutputError(f"The output folder '{out}' is not writable. Choose another folder.")
    for leftover in out.rglob(".fusion-*.tmp"):
        leftover.unlink(missing_ok=True)


def _jobs(
    targets: list[Target], options: FusionOptions, out: str, fmt: str
) -> tuple[list[Job], dict[str, Outcome]]:
    """The jobs to run, and an outcome already for each target whose result is there (skipped)."""
    jobs: list[Job] = []
    done: dict[str, Outcome] = {}
    for target in targets:
        output = target.output_file(fmt)
        if storage.exists(storage.join(out, output)):  # written atomically: present means complete
            done[output] = Outcome(target.path, output, SKIPPED, "the result is already there")
            continue
        try:
            jobs.append(Job(target.path, output, row_options(options, target.overrides)))
        except FusionError as exc:
            jobs.append(Job(target.path, output, None, str(exc)))
    return jobs, done


def _progress(outcome: Outcome, state: dict[str, float], total: int, to_fuse: int) -> BatchProgress:
    fused = int(state["fused"])
    elapsed = time.perf_counter() - state["first"] if state["first"] else 0.0
    rate = fused / elapsed if fused and elapsed > 0 else None
    eta = (to_fuse - fused) / rate if rate else None
    return BatchProgress(int(state["done"]), total, outcome, elapsed, fused, rate, eta)
