"""Stage-2 upscaler benchmark: time per face region size, and quality against Lanczos.

    python benchmarks/upscale.py [--device cpu|cuda] [--x4plus]

Time: enlarging a face region to 256, 512 and 1024 px from half its size (x2) with Lanczos,
Real-ESRGAN animevideov3 through ncnn (CPU) and through the torch port (CPU or CUDA); --x4plus adds
realesrgan-x4plus (ncnn, from a quarter size; ~30 s at 1024 on 2 CPU cores). Quality: real faces
(astronaut, the six faces of insightface's group photo) at their native size, shrunk 2x and 4x and enlarged
back; PSNR and SSIM against the original. Prints tables and writes benchmarks/results/upscale.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fusion import upscale  # noqa: E402
from fusion.faces import detect_faces  # noqa: E402
from fusion.io import decode_image  # noqa: E402
from fusion.samples import sample_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (256, 512, 1024)


def face_crops() -> list[np.ndarray]:
    """Native-resolution face regions (never resampled: a resampled 'original' flatters Lanczos)."""
    crops = []
    for name in ("astronaut", "group"):
        image = decode_image(sample_path(name), "source").pixels
        for face in detect_faces(image, thorough=True):
            centre = face.landmarks[27:36].mean(axis=0)
            half = face.size * 0.75  # forehead to chin with some hair and background
            x0, y0 = int(centre[0] - half), int(centre[1] - half)
            x1, y1 = int(centre[0] + half), int(centre[1] + half)
            if x0 < 0 or y0 < 0 or x1 > image.shape[1] or y1 > image.shape[0]:
                continue
            side = (x1 - x0) // 4 * 4
            crops.append(np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side]))
    return crops


def methods(device: str, x4plus: bool) -> dict[str, object]:
    from fusion.realesrgan_torch import upscale4

    table: dict[str, object] = {
        "lanczos": lambda img, size: upscale.enlarge_to(img, size, "lanczos"),
        "realesrgan ncnn cpu": lambda img, size: cv2.resize(
            upscale.tiled(img, 4, upscale._net("animevideov3-x4")), size, interpolation=cv2.INTER_AREA
        ),
        f"realesrgan torch {device}": lambda img, size: cv2.resize(
            upscale.tiled(
                img,
                4,
                lambda t: upscale4(t, upscale.weights_dir(), device),
                tile=upscale.TILE if device == "cpu" else 768,
            ),
            size,
            interpolation=cv2.INTER_AREA,
        ),
    }
    if x4plus:
        table["realesrgan x4plus ncnn cpu"] = lambda img, size: cv2.resize(
            upscale.tiled(img, 4, upscale._net("x4plus")), size, interpolation=cv2.INTER_AREA
        )
    return table


def timing(run: object, image: np.ndarray, size: tuple[int, int], repeats: int) -> float:
    run(image, size)  # type: ignore[operator]  # warm: load weights, allocate
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        run(image, size)  # type: ignore[operator]
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--x4plus", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or "cpu"
    table = methods(args.device, args.x4plus)
    crops = face_crops()
    photo = cv2.resize(crops[0], (1024, 1024), interpolation=cv2.INTER_CUBIC)  # timing only
    speed: dict[str, dict[str, float]] = {}
    print(f"Time to enlarge a face region x2 to N px ({device_name}, median of {args.repeats}), seconds")
    print(f"| method | {' | '.join(str(s) for s in SIZES)} |\n|---|{'---|' * len(SIZES)}")
    for name, run in table.items():
        row = {}
        for side in SIZES:
            if "x4plus" in name and side > 512:
                continue
            factor = 4 if "x4plus" in name else 2
            small = cv2.resize(photo, (side // factor, side // factor), interpolation=cv2.INTER_AREA)
            row[str(side)] = round(
                timing(run, small, (side, side), 1 if "x4plus" in name else args.repeats), 3
            )
        speed[name] = row
        print(f"| {name} | {' | '.join(str(row.get(str(s), '-')) for s in SIZES)} |")

    from skimage.metrics import structural_similarity

    quality: dict[str, dict[str, float]] = {}
    print(
        f"\nQuality on {len(crops)} real faces at native size, shrunk and enlarged back (mean PSNR dB / SSIM)"
    )
    print("| method | x2 PSNR | x2 SSIM | x4 PSNR | x4 SSIM |\n|---|---|---|---|---|")
    for name, run in table.items():
        if "ncnn" in name and "x4plus" not in name:
            continue  # same network as the torch port
        scores: dict[str, float] = {}
        for factor in (2, 4):
            psnrs, ssims = [], []
            for crop in crops:
                side = crop.shape[0]
                small = cv2.resize(crop, (side // factor, side // factor), interpolation=cv2.INTER_AREA)
                out = run(small, (side, side))  # type: ignore[operator]
                psnrs.append(cv2.PSNR(out, crop))
                ssims.append(structural_similarity(out, crop, channel_axis=2, data_range=255))
            scores[f"x{factor}_psnr"] = round(float(np.mean(psnrs)), 2)
            scores[f"x{factor}_ssim"] = round(float(np.mean(ssims)), 4)
        quality[name] = scores
        print(f"| {name} | {' | '.join(str(v) for v in scores.values())} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"upscale_{args.device}.json"
    out.write_text(json.dumps({"device": device_name, "seconds": speed, "quality": quality}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
