"""Run a batch on this machine: in this process (one worker) or in N worker processes, each with the
source prepared once (a ProcessPoolExecutor initializer) and fed one target at a time."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import cv2

from fusion.batch.work import Fuser, Job, Outcome

# The worker process's Fuser, set once by the pool's initializer: a process-wide value is how a
# ProcessPoolExecutor hands state to the tasks it runs (each process has its own; nothing is shared).
_process_fuser: Fuser | None = None


def _start_worker(fuser: Fuser, threads: int) -> None:
    global _process_fuser
    cv2.setNumThreads(threads)  # N processes x all cores each would only fight for the cores
    _process_fuser = fuser


def _fuse_in_worker(job: Job) -> Outcome:
    assert _process_fuser is not None, "the worker's initializer did not run"
    return _process_fuser(job)


def run_local(jobs: Sequence[Job], fuser: Fuser, workers: int, on_outcome: Callable[[Outcome], None]) -> None:
    """Fuse every job with `workers` processes (1: in this process), calling `on_outcome` as each
    finishes. At most 2 x workers jobs are handed out at once, so stopping loses only those."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_outcome(fuser(job))
        return
    workers = min(workers, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: a fresh interpreter per worker; forking a process whose model runtimes and OpenCV's
    # background thread are already running is not safe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (fuser, threads)) as pool:
        pending: set[Future[Outcome]] = set()
        queue = iter(jobs)
        try:
            for job in queue:
                pending.add(pool.submit(_fuse_in_worker, job))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        on_outcome(future.result())
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_outcome(future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
