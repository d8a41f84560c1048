"""One batch worker: the source prepared once, then one target at a time fused, written and judged.

The same `Fuser` runs in the calling process, in each local worker process and in each Ray actor, so
every way of running a batch gives the same pixels.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass

from fusion.batch import storage
from fusion.errors import EngineUnavailable, FusionError, InvalidOptions
from fusion.identity import check_identity
from fusion.io import encode_image
from fusion.options import FusionOptions
from fusion.pipeline import FusionResult, fuse
from fusion.prepared import PreparedSource

log = logging.getLogger(__name__)

OK, SKIPPED, ERROR = "ok", "skipped", "error"


@dataclass(frozen=True)
class Job:
    """One target to fuse: the photo, the result's file inside the output folder, its options (None
    when a CSV row's values are invalid: `problem` then says why)."""

    target: str
    output: str
    options: FusionOptions | None
    problem: str = ""

    def as_row(self) -> dict[str, str]:
        """Plain text columns (for a Ray dataset)."""
        options = "" if self.options is None else json.dumps(self.options.as_dict())
        return {"target": self.target, "output": self.output, "options": options, "problem": self.problem}

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Job:
        options = str(row["options"])
        return cls(
            str(row["target"]),
            str(row["output"]),
            FusionOptions(**json.loads(options)) if options else None,
            str(row["problem"]),
        )


@dataclass(frozen=True)
class Outcome:
    """What happened to one target: one row of report.csv."""

    target: str
    output: str  # the result's path inside the output folder
    status: str  # ok, skipped or error
    message: str = ""  # the error's message (as the CLI prints it), or the warnings
    engine: str = ""
    fuse_seconds: float | None = None  # inside fuse()
    total_seconds: float | None = None  # fuse() + encoding + writing (+ the identity check)
    identity_to_source: float | None = None  # dlib descriptor distance; None without dlib
    identity_to_target: float | None = None

    def as_row(self) -> dict[str, object]:
        """Flat values for a Ray dataset (NaN for a missing number: Arrow columns need one type)."""
        return {k: (math.nan if v is None else v) for k, v in asdict(self).items()}

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Outcome:
        values = dict(row)
        for name in ("fuse_seconds", "total_seconds", "identity_to_source", "identity_to_target"):
            number = values.get(name)
            values[name] = None if number is None or math.isnan(float(str(number))) else float(str(number))
        return cls(**values)  # type: ignore[arg-type]


class Fuser:
    """Fuses the prepared source into one target at a time and writes the result into `out_dir`."""

    def __init__(self, source: PreparedSource, out_dir: str, fmt: str, identity: bool = True) -> None:
        self.source = source
        self.out_dir = out_dir  # a local folder or an fsspec URL
        self.fmt = fmt
        self.identity = identity  # turned off for this worker the first time dlib turns out missing

    def __call__(self, job: Job) -> Outcome:
        started = time.perf_counter()
        try:
            if job.options is None:
                raise InvalidOptions(job.problem)
            target = storage.read_bytes(job.target, "target") if storage.is_url(job.target) else job.target
            result = fuse(self.source, target, job.options)
            text = {
                "Software": "face-fusion",
                "fusion-options": json.dumps(job.options.as_dict()),
                "fusion-engine": result.engine,
            }
            storage.write_bytes(
                storage.join(self.out_dir, job.output), encode_image(result.image, self.fmt, text)
            )
        except FusionError as exc:
            return Outcome(
                job.target, job.output, ERROR, str(exc), total_seconds=time.perf_counter() - started
            )
        except Exception as exc:  # a bug: this row says so, the job goes on, the trace goes to the log
            log.exception("unexpected error on %s", job.target)
            message = f"internal error ({type(exc).__name__}: {exc}); please report it"
            return Outcome(
                job.target, job.output, ERROR, message, total_seconds=time.perf_counter() - started
            )
        to_source, to_target = self._identity(target, result)
        return Outcome(
            job.target,
            job.output,
            OK,
            " ".join(result.warnings),
            result.engine,
            result.timings["total"],
            time.perf_counter() - started,
            to_source,
            to_target,
        )

    @staticmethod
    def _failed(job: Job, message: str, started: float) -> Outcome:
        return Outcome(job.target, job.output, ERROR, message, total_seconds=time.perf_counter() - started)

    def _identity(self, target: str | bytes, result: FusionResult) -> tuple[float | None, float | None]:
        """dlib's distances of the fused face to the source and the target (None, None without dlib
        or when dlib does not find the faces again)."""
        if not self.identity:
            return None, None
        try:
            check = check_identity(
                self.source.pixels,
                target,
                result.image,
                result.source_face,
                result.target_faces[0],
                result.output_faces[0],
            )
        except EngineUnavailable:
            self.identity = False
            return None, None
        except FusionError as exc:
            log.warning("identity check failed: %s", exc)
            return None, None
        return (None, None) if check is None else (check.to_source, check.to_target)
