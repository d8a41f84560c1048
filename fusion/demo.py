"""`python -m fusion.demo`: fuse two package-shipped faces and write out/demo.png (no web UI yet)."""

from __future__ import annotations

import sys

from fusion.cli import main
from fusion.samples import sample_path


def demo() -> int:
    return main(
        [
            "fuse",
            "--source",
            str(sample_path("group")),
            "--target",
            str(sample_path("astronaut")),
            "--source-face",
            "1",
            "--resolution",
            "1024",
            "--out",
            "out/demo.png",
            *sys.argv[1:],
        ]
    )


if __name__ == "__main__":
    sys.exit(demo())
