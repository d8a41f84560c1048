"""Face finding benchmark: MediaPipe (default) against dlib on every benchmark photo.

    python benchmarks/detection.py [--repeats N]

For each photo: faces each detector finds (fast pass = what fuse() runs for face 0; thorough = every
face, as the page and face indices > 0 use), how many of dlib's faces MediaPipe also finds, and the
median time of each pass (decoded image in memory, models loaded). Also the small-face cases: the
package group photo shrunk so its faces are 50 and 33 px wide, on a canvas 2-3x larger. Prints a
table and writes benchmarks/results/detection.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pairs import SHARED_FACES  # noqa: E402
from fusion import sample_path  # noqa: E402
from fusion.faces import Face, detect_faces  # noqa: E402
from fusion.io import decode_image  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def photos() -> list[tuple[str, np.ndarray]]:
    found = [(name, decode_image(sample_path(name), "target").pixels) for name in ("astronaut", "group")]
    group = found[1][1]
    for scale, canvas in ((0.5, 2), (0.35, 3)):
        small = cv2.resize(group, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        height, width = small.shape[:2]
        big = np.full((height * canvas, width * canvas, 3), 128, np.uint8)
        big[:height, :width] = small
        found.append((f"group x{scale} on {canvas}x canvas", big))
    if SHARED_FACES.is_dir():
        for path in sorted(SHARED_FACES.glob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                found.append((path.name, decode_image(path, "target").pixels))
    return found


def timed(image: np.ndarray, detector: str, thorough: bool, repeats: int) -> tuple[list[Face], float]:
    faces = detect_faces(image, thorough=thorough, detector=detector)  # warm: models loaded
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        detect_faces(image, thorough=thorough, detector=detector)
        times.append(time.perf_counter() - begin)
    return faces, statistics.median(times) * 1000


def also_found(reference: list[Face], faces: list[Face]) -> int:
    """How many reference faces have their centre inside one of `faces`."""
    count = 0
    for face in reference:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        count += any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in faces)
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    header = f"{'photo':34s} {'size':>10s} {'dlib':>5s} {'mp':>4s} {'both':>5s}"
    header += f" {'dlib fast ms':>12s} {'mp fast ms':>10s} {'dlib all ms':>11s} {'mp all ms':>9s}"
    print(header)
    for name, image in photos():
        dlib_faces, dlib_fast = timed(image, "dlib", False, args.repeats)
        dlib_all, dlib_thorough = timed(image, "dlib", True, args.repeats)
        mp_faces, mp_fast = timed(image, "mediapipe", False, args.repeats)
        mp_all, mp_thorough = timed(image, "mediapipe", True, args.repeats)
        row = {
            "photo": name,
            "size": f"{image.shape[1]}x{image.shape[0]}",
            "megapixels": round(image.shape[0] * image.shape[1] / 1e6, 2),
            "dlib_faces": len(dlib_all),
            "mediapipe_faces": len(mp_all),
            "dlib_faces_mediapipe_found": also_found(dlib_all, mp_all),
            "largest_face_same": bool(dlib_faces and mp_faces and also_found(dlib_faces[:1], mp_faces[:1])),
            "dlib_fast_ms": round(dlib_fast, 1),
            "mediapipe_fast_ms": round(mp_fast, 1),
            "dlib_thorough_ms": round(dlib_thorough, 1),
            "mediapipe_thorough_ms": round(mp_thorough, 1),
        }
        rows.append(row)
        print(
            f"{name:34s} {row['size']:>10s} {len(dlib_all):5d} {len(mp_all):4d} "
            f"{row['dlib_faces_mediapipe_found']:5d} {dlib_fast:12.1f} {mp_fast:10.1f} "
            f"{dlib_thorough:11.1f} {mp_thorough:9.1f}"
        )
    missed = sum(int(r["dlib_faces"]) - int(r["dlib_faces_mediapipe_found"]) for r in rows)  # type: ignore[call-overload]
    summary = {
        "photos": len(rows),
        "dlib_faces": sum(int(r["dlib_faces"]) for r in rows),  # type: ignore[call-overload]
        "dlib_faces_missed_by_mediapipe": missed,
        "mediapipe_fast_ms_median": statistics.median(float(r["mediapipe_fast_ms"]) for r in rows),  # type: ignore[arg-type]
        "dlib_fast_ms_median": statistics.median(float(r["dlib_fast_ms"]) for r in rows),  # type: ignore[arg-type]
    }
    print(f"\n{summary}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps({"summary": summary, "photos": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
