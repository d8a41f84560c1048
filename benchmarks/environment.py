"""The versions of the libraries the figures depend on, written into each benchmark's JSON: a fresh
install can move the quality figures with no change of code (2026-12-02: the MediaPipe median
0.408 -> 0.416, the naive paste 0.323 -> 0.325), and this is what tells two runs apart."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("numpy", "opencv-python-headless", "ai-edge-litert", "mediapipe", "dlib-bin", "scikit-image")


def versions() -> dict[str, str]:
    """Python and each of PACKAGES: its installed version, or "absent"."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found
