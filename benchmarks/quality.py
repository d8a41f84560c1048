"""Quality benchmark: identity (dlib ResNet descriptor as an independent judge), monotonicity in the
blend ratio and background preservation, against two naive baselines.

    python benchmarks/quality.py [--package-only] [--limit N] [--detector mediapipe|dlib]

Prints a table, writes benchmarks/results/quality.json (quality-dlib.json for --detector dlib) and a
contact sheet of package-shipped faces
(assets/contact_sheet.jpg; ../shared photos never go into committed images).
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

from benchmarks.environment import versions  # noqa: E402
from benchmarks.pairs import Pair, occlusion_pairs, package_pairs, shared_pairs  # noqa: E402
from benchmarks.realism import background_psnr, off_colour, seam, texture_log_ratio  # noqa: E402
from fusion import FusionOptions, fuse  # noqa: E402
from fusion.faces import Face, detect_faces  # noqa: E402
from fusion.geometry import apply_affine, similarity_transform  # noqa: E402
from fusion.identity import face_descriptor, identity_distance, redetected_descriptor  # noqa: E402
from fusion.io import decode_image  # noqa: E402
from fusion.options import DETECTORS  # noqa: E402
from fusion.samples import draw_glasses, draw_hand  # noqa: E402

BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)
RESULTS = Path(__file__).resolve().parent / "results"
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _hull_mask(face: Face, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(face.landmarks.astype(np.int32)), 255)
    return mask


def baseline_paste(source: np.ndarray, sface: Face, target: np.ndarray, tface: Face) -> np.ndarray:
    """Naive baseline 1: similarity-align the source and paste its landmark hull with a hard edge."""
    matrix = similarity_transform(sface.landmarks, tface.landmarks)
    warped = cv2.warpAffine(source, matrix, (target.shape[1], target.shape[0]), flags=cv2.INTER_LINEAR)
    mask = _hull_mask(tface, target.shape) > 0
    out = target.copy()
    out[mask] = warped[mask]
    return out


def baseline_seamless(source: np.ndarray, sface: Face, target: np.ndarray, tface: Face) -> np.ndarray:
    """Naive baseline 2: plain seamlessClone of the similarity-aligned (not warped) source face."""
    matrix = similarity_transform(sface.landmarks, tface.landmarks)
    warped = cv2.warpAffine(source, matrix, (target.shape[1], target.shape[0]), flags=cv2.INTER_LINEAR)
    aligned = Face(sface.box, apply_affine(matrix, sface.landmarks))
    mask = cv2.bitwise_and(_hull_mask(tface, target.shape), _hull_mask(aligned, target.shape))
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0
    x, y, w, h = cv2.boundingRect(mask)
    return cv2.seamlessClone(warped, target, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)


def judge(
    image: np.ndarray, near: Face, source_desc: np.ndarray, target_desc: np.ndarray
) -> tuple[float, float]:
    desc = redetected_descriptor(image, near)
    if desc is None:  # the face is not even found again: count it as a failure
        return 1.0, 1.0
    return identity_distance(desc, source_desc), identity_distance(desc, target_desc)


def index_in(faces: list[Face], near: Face) -> int:
    """The index of the face holding the centre of `near` (the judge's face) in another detector's list."""
    cx, cy = (near.box[0] + near.box[2]) / 2, (near.box[1] + near.box[3]) / 2
    for index, face in enumerate(faces):
        x0, y0, x1, y1 = face.box
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            return index
    raise SystemExit(f"the detector under test did not find the face at {near.box}")


def evaluate(pair: Pair, detector: str) -> dict[str, object]:
    source = decode_image(pair.source, "source").pixels
    target = decode_image(pair.target, "target").pixels
    covered = None
    if pair.glasses or pair.hand:
        plain = detect_faces(target, thorough=True, detector="dlib")[pair.target_face]
        if pair.glasses:
            target = draw_glasses(target, plain.landmarks)
        else:
            target, covered = draw_hand(target, plain.landmarks)
    # The pairs number faces as the judge (dlib) finds them; the fuser's numbering may differ.
    sface = detect_faces(source, thorough=True, detector="dlib")[pair.source_face]
    # dlib does not find a face with a hand over its mouth: it is where it was without one.
    tface = plain if pair.hand else detect_faces(target, thorough=True, detector="dlib")[pair.target_face]
    source_index = index_in(detect_faces(source, thorough=True, detector=detector), sface)
    target_index = index_in(detect_faces(target, thorough=True, detector=detector), tface)
    faces = {"source_face": source_index, "target_face": target_index, "detector": detector}
    source_desc, target_desc = face_descriptor(source, sface), face_descriptor(target, tface)
    row: dict[str, object] = {"pair": pair.name, "shared": pair.shared}
    curve, psnrs, images = [], [], {}
    for blend in BLENDS:
        options = FusionOptions(blend_ratio=blend, **faces)  # type: ignore[arg-type]
        result = fuse(source, target, options)
        d_src, d_tgt = judge(result.image, tface, source_desc, target_desc)
        curve.append(round(d_src, 4))
        psnrs.append(background_psnr(result.image, target, [tface, *result.output_faces]))
        images[blend] = result.image
        if blend == 1.0:
            row["d_source"], row["d_target"] = round(d_src, 4), round(d_tgt, 4)
            row["fuse_seconds"] = round(result.timings["total"], 3)
            row["seam"], row["seam_target"] = (round(v, 2) for v in seam(result.image, target, tface))
            row["texture_log_ratio"] = round(texture_log_ratio(result.image, target, tface), 3)
            row["off_colour"] = round(off_colour(result.image, target, tface), 3)
            if covered is not None:  # the object's own pixels (2 px in from its rim) against the target's
                core = cv2.erode((covered > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
                row["object_kept_diff"] = round(
                    float(np.abs(result.image.astype(np.int16) - target)[core].mean()), 2
                )
    row["curve"] = curve
    row["monotonic"] = all(a >= b for a, b in zip(curve, curve[1:], strict=False))
    row["background_psnr"] = round(min(psnrs), 2)  # the lowest over the blend ratios
    # The same engine with Poisson blending (mode "blend") instead of the default lighting transfer.
    poisson = fuse(
        source,
        target,
        FusionOptions(mode="blend", **faces),  # type: ignore[arg-type]
    )
    row["poisson_d_source"] = round(judge(poisson.image, tface, source_desc, target_desc)[0], 4)
    baselines = {}
    for name, baseline in (("paste", baseline_paste), ("seamless", baseline_seamless)):
        baselines[name] = baseline(source, sface, target, tface)
        row[f"{name}_d_source"] = round(judge(baselines[name], tface, source_desc, target_desc)[0], 4)
    row["_images"] = (
        source,
        sface,
        target,
        tface,
        images[0.5],
        images[1.0],
        baselines["paste"],
        baselines["seamless"],
    )
    return row


def _crop(image: np.ndarray, face: Face, height: int = 220) -> np.ndarray:
    x0, y0, x1, y1 = face.box
    size = (x1 - x0) * 1.9
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * size
    half = size / 2
    matrix = np.float32(
        [[height / size, 0, -(cx - half) * height / size], [0, height / size, -(cy - half) * height / size]]
    )
    return cv2.warpAffine(
        image, matrix, (height, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )


def contact_sheet(rows: list[dict[str, object]], path: Path) -> None:
    """source | target | blend 0.5 | blend 1.0 | the two naive baselines, one row per pair."""
    lines = []
    for row in rows:
        source, sface, target, tface, *results = row["_images"]  # type: ignore[misc]
        tiles = [_crop(source, sface), _crop(target, tface), *(_crop(image, tface) for image in results)]
        lines.append(cv2.hconcat(tiles))
    header = np.full((28, lines[0].shape[1], 3), 255, np.uint8)
    labels = ("source", "target", "blend 0.5", "blend 1.0", "naive paste", "naive seamlessClone")
    for i, label in enumerate(labels):
        cv2.putText(
            header, label, (i * 220 + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA
        )
    sheet = cv2.vconcat([header, *lines])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    def stats(key: str) -> dict[str, float]:
        values = [float(r[key]) for r in rows]  # type: ignore[arg-type]
        return {
            "median": round(statistics.median(values), 4),
            "under_0.6": round(sum(v < 0.6 for v in values) / len(values), 3),
        }

    return {
        "pairs": len(rows),
        "classic": stats("d_source"),
        "classic_d_target_median": round(statistics.median(float(r["d_target"]) for r in rows), 4),  # type: ignore[arg-type]
        "classic_poisson_mode": stats("poisson_d_source"),
        "paste_baseline": stats("paste_d_source"),
        "seamless_baseline": stats("seamless_d_source"),
        "monotonic_fraction": round(sum(bool(r["monotonic"]) for r in rows) / len(rows), 3),
        "background_psnr_median": round(statistics.median(float(r["background_psnr"]) for r in rows), 2),  # type: ignore[arg-type]
        "background_psnr_min": min(float(r["background_psnr"]) for r in rows),  # type: ignore[arg-type]
        "seam_median": round(statistics.median(float(r["seam"]) for r in rows), 2),  # type: ignore[arg-type]
        "seam_target_median": round(statistics.median(float(r["seam_target"]) for r in rows), 2),  # type: ignore[arg-type]
        "texture_abs_log_ratio_median": round(
            statistics.median(abs(float(r["texture_log_ratio"])) for r in rows),  # type: ignore[arg-type]
            3,
        ),
        "off_colour_median": round(statistics.median(float(r["off_colour"]) for r in rows), 3),  # type: ignore[arg-type]
        "off_colour_max": max(float(r["off_colour"]) for r in rows),  # type: ignore[arg-type]
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package-only", action="store_true", help="skip ../shared photos")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs")
    parser.add_argument(
        "--detector", choices=DETECTORS, default="mediapipe", help="what finds the faces the fuser uses"
    )
    args = parser.parse_args()
    pairs = package_pairs() + ([] if args.package_only else shared_pairs())
    if args.limit:
        pairs = pairs[: args.limit]
    # dlib's HOG detector finds no face with a hand over its mouth: the occlusion pair is MediaPipe's.
    pairs += occlusion_pairs() if args.detector == "mediapipe" else []
    started = time.perf_counter()
    rows = []
    columns = (
        "d_src",
        "d_tgt",
        "poissn",
        "paste",
        "seaml",
        "mono",
        "bgPSNR",
        "seam",
        "seamT",
        "lnTex",
        "offCol",
    )
    print(f"{'pair':44s} " + " ".join(f"{c:>6s}" for c in columns) + "  curve")
    for pair in pairs:
        row = evaluate(pair, args.detector)
        rows.append(row)
        print(
            f"{pair.name:44s} {row['d_source']:6.3f} {row['d_target']:6.3f} {row['poisson_d_source']:6.3f} "
            f"{row['paste_d_source']:6.3f} "
            f"{row['seamless_d_source']:6.3f} {'yes' if row['monotonic'] else 'NO':>5s} "
            f"{row['background_psnr']:6.1f} {row['seam']:6.1f} {row['seam_target']:6.1f} "
            f"{row['texture_log_ratio']:+6.2f} {row['off_colour']:6.3f}  {row['curve']}"
        )
    occlusion = [r for r in rows if "object_kept_diff" in r]
    for row in occlusion:
        print(
            f"{row['pair']}: the hand's pixels differ from the target's by {row['object_kept_diff']} levels"
        )
    judged = [r for r in rows if "object_kept_diff" not in r]
    groups = {
        "all": judged,
        "package": [r for r in judged if not r["shared"]],
        "shared": [r for r in judged if r["shared"]],
    }
    summary = {name: summarise(group) for name, group in groups.items() if group}
    print()
    print(
        f"{'set':8s} {'pairs':>5s} {'median d_src':>12s} {'<0.6':>6s} {'poisson med':>11s} {'paste med':>9s} "
        f"{'seamless med':>12s} {'monotonic':>9s} {'bgPSNR med/min':>14s} {'seam/target':>11s} "
        f"{'|lnTex|':>7s} {'offCol med/max':>14s}"
    )
    for name, s in summary.items():
        c, m = s["classic"], s["classic_poisson_mode"]  # type: ignore[index]
        p, q = s["paste_baseline"], s["seamless_baseline"]  # type: ignore[index]
        print(
            f"{name:8s} {s['pairs']:5d} {c['median']:12.3f} {c['under_0.6']:6.0%} {m['median']:11.3f} "  # type: ignore[index]
            f"{p['median']:9.3f} "  # type: ignore[index]
            f"{q['median']:12.3f} {s['monotonic_fraction']:9.0%} "
            f"{s['background_psnr_median']:7.1f}/{s['background_psnr_min']:<6.1f} "
            f"{s['seam_median']:5.1f}/{s['seam_target_median']:<5.1f} "
            f"{s['texture_abs_log_ratio_median']:7.3f} "
            f"{s['off_colour_median']:7.3f}/{s['off_colour_max']:<6.3f}"
        )
    print(f"\n({time.perf_counter() - started:.0f} s)")
    RESULTS.mkdir(exist_ok=True)
    sheet_rows = [
        r
        for r in rows
        if r["pair"]
        in (
            "group0->astronaut",
            "astronaut->group0",
            "group4->astronaut",
            "group0->group4",
            "group1->astronaut+glasses",
            "group0->astronaut+hand",
        )
    ]
    suffix = "" if args.detector == "mediapipe" else f"-{args.detector}"
    if sheet_rows:  # the default's goes into the README; another detector's stays local (git-ignored)
        contact_sheet(
            sheet_rows, ASSETS / "contact_sheet.jpg" if not suffix else RESULTS / f"contact_sheet{suffix}.jpg"
        )
    if not args.package_only:
        shared_rows = [r for r in rows if r["shared"]][:8]
        if shared_rows:  # for looking at locally; results/*.jpg is git-ignored
            contact_sheet(shared_rows, RESULTS / f"contact_sheet_shared{suffix}.jpg")
    for row in rows:
        row.pop("_images")
    report = {"detector": args.detector, "environment": versions(), "summary": summary, "pairs": rows}
    (RESULTS / f"quality{suffix}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
