"""The web app's limits, read once at start-up from environment variables (safe defaults).

Each limit is one frozen value passed down as an argument: nothing here is changed at run time.
The library's own ceilings (fusion.io MAX_FILE_BYTES, MAX_PIXELS) are constants; these settings can
only lower them for the web app, never raise them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from fusion import MAX_FILE_BYTES, MAX_PIXELS

MB = 1024 * 1024


class SettingsError(ValueError):
    """An environment variable holds a value that is not a valid setting; the message names both."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: float
    minimum: float
    maximum: float
    meaning: str


# The table the README lists: one line per setting.
SETTINGS: dict[str, Setting] = {
    "max_file_mb": Setting(
        "FUSION_MAX_FILE_MB",
        MAX_FILE_BYTES / MB,
        0.1,
        MAX_FILE_BYTES / MB,
        "largest upload accepted (MB); bigger uploads are refused before they are stored",
    ),
    "max_pixels": Setting(
        "FUSION_MAX_PIXELS",
        MAX_PIXELS,
        1,
        MAX_PIXELS,
        "largest input image (width x height), checked from the file header before decoding",
    ),
    "concurrency": Setting(
        "FUSION_CONCURRENCY",
        1,
        1,
        64,
        "fusions at the same time; the rest wait in the queue (more helps only with spare cores or a GPU)",
    ),
    "max_queue": Setting(
        "FUSION_MAX_QUEUE",
        32,
        1,
        10_000,
        "requests waiting at most; beyond this a new request is refused with 'queue is full'",
    ),
    "retention_seconds": Setting(
        "FUSION_RETENTION_SECONDS",
        3600,
        1,
        30 * 24 * 3600,
        "results and uploads older than this are deleted (seconds)",
    ),
}


@dataclass(frozen=True)
class Settings:
    max_file_mb: float = SETTINGS["max_file_mb"].default
    max_pixels: int = int(SETTINGS["max_pixels"].default)
    concurrency: int = int(SETTINGS["concurrency"].default)
    max_queue: int = int(SETTINGS["max_queue"].default)
    retention_seconds: int = int(SETTINGS["retention_seconds"].default)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * MB)

    @property
    def cache_check_seconds(self) -> int:
        """How often gradio looks for expired uploads: as often as the retention, at most hourly."""
        return max(1, min(self.retention_seconds, 3600))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for field, setting in SETTINGS.items():
            text = environ.get(setting.env, "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                raise SettingsError(f"{setting.env}={text!r} is not a number") from None
            if not math.isfinite(value) or not setting.minimum <= value <= setting.maximum:
                raise SettingsError(
                    f"{setting.env}={text!r} is outside {setting.minimum:g}..{setting.maximum:g} "
                    f"({setting.meaning})"
                )
            values[field] = value if field == "max_file_mb" else int(value)
        return cls(**values)  # type: ignore[arg-type]


def settings_table() -> str:
    """The settings as a Markdown table (for the README)."""
    rows = ["| Variable | Default | Range | Meaning |", "|---|---|---|---|"]
    for setting in SETTINGS.values():
        rows.append(
            f"| `{setting.env}` | {setting.default:g} | {setting.minimum:g}..{setting.maximum:g} "
            f"| {setting.meaning} |"
        )
    return "\n".join(rows)
