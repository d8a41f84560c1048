"""A batch's outcome: the rows of report.csv, the counts, and the progress a caller is told about."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields

from fusion.batch import storage
from fusion.batch.work import ERROR, OK, SKIPPED, Outcome

REPORT_NAME = "report.csv"
REPORT_COLUMNS = (
    "target",
    "status",
    "message",
    "output",
    "engine",
    "fuse_seconds",
    "total_seconds",
    "identity_to_source",
    "identity_to_target",
)


@dataclass(frozen=True)
class BatchProgress:
    """Told to the `progress` callback after each target (skipped targets first, all at once)."""

    done: int
    total: int
    outcome: Outcome
    elapsed_seconds: float  # since the first fusion started
    fused: int  # targets fused or failed so far in this run (skipped ones not counted)
    images_per_second: float | None  # over `fused`; None before the first
    eta_seconds: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "event": "progress",
            "done": self.done,
            "total": self.total,
            "target": self.outcome.target,
            "status": self.outcome.status,
            "output": self.outcome.output,
            "message": self.outcome.message if self.outcome.status == ERROR else "",
            "images_per_second": None if self.images_per_second is None else round(self.images_per_second, 3),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
        }


@dataclass(frozen=True)
class BatchReport:
    """Every target's outcome in the order the targets were given, and where report.csv is."""

    outcomes: tuple[Outcome, ...]
    out_dir: str  # a local folder or an fsspec URL
    report_path: str
    seconds: float  # wall time of the whole run, start-up included
    runner: str  # "in-process", "2 local processes", "ray (local)", "ray (ray://...)"

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def ok(self) -> int:
        return self.count(OK)

    @property
    def skipped(self) -> int:
        return self.count(SKIPPED)

    @property
    def failed(self) -> int:
        return self.count(ERROR)

    def outputs(self) -> list[str]:
        """Where the results are (fused now, or skipped because already there)."""
        return [storage.join(self.out_dir, o.output) for o in self.outcomes if o.status in (OK, SKIPPED)]

    def summary(self) -> dict[str, object]:
        return {
            "event": "done",
            "total": len(self.outcomes),
            "ok": self.ok,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "report": self.report_path,
            "runner": self.runner,
        }


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


def write_report(location: str, outcomes: tuple[Outcome, ...]) -> None:
    """report.csv, one row per target, written atomically."""
    assert {f.name for f in fields(Outcome)} == set(REPORT_COLUMNS)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow({name: _cell(getattr(outcome, name)) for name in REPORT_COLUMNS})
    storage.write_bytes(location, buffer.getvalue().encode("utf-8"))
