"""Typed errors raised by the fusion library.

Library code raises these; only the edges (CLI, web UI) turn them into messages. Every message says
what was wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Availability:
    """Whether an engine or upscaler can run here; if not, why (reason) and how to fix it (remedy)."""

    available: bool
    reason: str = ""
    remedy: str = ""
    # Unavailable, but partly set up (a model present, or corrupt): worth telling an "auto" request.
    partial: bool = False


class FusionError(Exception):
    """Base class: anything the user can fix by changing the inputs or the set-up."""


class InvalidOptions(FusionError, ValueError):
    """An option is out of range or of the wrong type; the message names the field and the value."""


class InvalidImage(FusionError):
    """An input could not be decoded or is not acceptable (format, size, pixel count)."""

    def __init__(self, role: str, problem: str, remedy: str) -> None:
        self.role = role
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{role} image: {problem}. {remedy}")


class NoFaceFound(FusionError):
    """No face was detected in one of the images."""

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(
            f"No face found in the {role} image. Use a photo where the face is clearly visible, "
            "roughly frontal and at least about 40 pixels wide."
        )


class FaceIndexOutOfRange(FusionError):
    """The caller asked for face N but the image has fewer faces."""

    def __init__(self, role: str, index: int, count: int) -> None:
        self.role = role
        super().__init__(
            f"The {role} image has {count} face(s) (indices 0..{count - 1}), "
            f"so {role} face {index} does not exist. Choose an index below {count}."
        )


class EngineUnavailable(FusionError):
    """An engine exists but cannot run here (missing model or package)."""

    def __init__(self, engine: str, reason: str, remedy: str) -> None:
        self.engine = engine
        self.reason = reason
        self.remedy = remedy
        super().__init__(f"Engine '{engine}' is not available: {reason}. {remedy}")


class EngineFailed(FusionError):
    """An engine ran but could not fuse this pair (its own model refused it); another engine may."""

    def __init__(self, engine: str, problem: str, remedy: str) -> None:
        self.engine = engine
        super().__init__(f"The {engine} engine could not fuse these photos: {problem}. {remedy}")


class OutputError(FusionError):
    """The result could not be written (folder not writable, disk full)."""


class ClusterUnavailable(FusionError):
    """A batch asked for Ray, and Ray is not installed or its cluster cannot be reached."""

    def __init__(self, reason: str, remedy: str) -> None:
        self.reason = reason
        self.remedy = remedy
        super().__init__(f"Ray is not available: {reason}. {remedy}")
