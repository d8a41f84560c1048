"""Output geometry: every resolution x fit gives exactly the asked size; padding mirrors; crop centres."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.options import FusionOptions
from fusion.postprocess import CpuFrameOps, place_on_canvas, plan_output, reflect_pad, resize, sharpen

SIZES = [(512, 512), (1024, 1024), (2048, 2048), (4096, 4096), (1024, 1792), (1792, 1024), (16, 4096)]
TARGETS = [(910, 1137), (1920, 1080), (512, 512), (1, 1), (4000, 100), (3, 2)]


def _image(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(width * 7919 + height)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("canvas", SIZES)
@pytest.mark.parametrize("fit", ["pad", "crop", "stretch"])
def test_plan_gives_exact_canvas(target: tuple[int, int], canvas: tuple[int, int], fit: str) -> None:
    plan = plan_output(target, canvas, fit)
    assert plan.canvas_size == canvas
    content_w, content_h = plan.content_size
    if fit == "pad":
        assert content_w <= canvas[0] and content_h <= canvas[1]
        assert content_w == canvas[0] or content_h == canvas[1]  # touches two sides
    elif fit == "crop":
        assert content_w >= canvas[0] and content_h >= canvas[1]
        assert content_w == canvas[0] or content_h == canvas[1]
    else:
        assert plan.content_size == canvas
    if fit != "stretch" and min(target) > 10 and min(plan.content_size) > 10:  # aspect kept
        assert (
            abs(content_w / content_h - target[0] / target[1]) < 0.02 * target[0] / target[1] + 2 / content_h
        )


@pytest.mark.parametrize("target", [(910, 1137), (3, 2), (1, 1), (400, 10)])
@pytest.mark.parametrize("fit", ["pad", "crop", "stretch"])
def test_canvas_has_exact_size(target: tuple[int, int], fit: str) -> None:
    plan = plan_output(target, (1024, 768), fit)
    frame = resize(_image(*target), plan.content_size)
    out = place_on_canvas(frame, plan)
    assert out.shape == (768, 1024, 3)
    assert out.dtype == np.uint8


def test_original_keeps_size_and_pixels() -> None:
    image = _image(300, 200)
    plan = plan_output((300, 200), None, "pad")
    assert plan.content_size == plan.canvas_size == (300, 200)
    np.testing.assert_array_equal(place_on_canvas(image, plan), image)


def test_pad_centres_content_and_mirrors_it() -> None:
    image = _image(100, 50)
    plan = plan_output((100, 50), (100, 100), "pad")
    out = place_on_canvas(image, plan)
    assert plan.content_offset == (0, 25)
    np.testing.assert_array_equal(out[25:75], image)
    np.testing.assert_array_equal(out[24], image[1])  # reflect-101 mirrors about the edge row
    np.testing.assert_array_equal(out[75], image[-2])


def test_crop_takes_the_centre() -> None:
    image = _image(200, 100)
    plan = plan_output((200, 100), (100, 100), "crop")
    np.testing.assert_array_equal(place_on_canvas(image, plan), image[:, 50:150])


@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 2), (3, 2), (1, 50), (50, 1)])
def test_reflect_pad_handles_tiny_images(height: int, width: int) -> None:
    out = reflect_pad(_image(width, height), 500, 501, 300, 299)
    assert out.shape == (height + 1001, width + 599, 3)


def test_reflect_pad_beyond_size_keeps_the_mirror_pattern() -> None:
    row = np.arange(4, dtype=np.uint8).reshape(1, 4, 1).repeat(3, axis=2)
    out = reflect_pad(row, 0, 0, 0, 10)[0, :, 0]
    assert list(out[:4]) == [0, 1, 2, 3]
    assert list(out[4:7]) == [2, 1, 0]  # first mirror, then mirrored again


def test_sharpen_zero_is_identity_and_positive_adds_contrast() -> None:
    image = _image(64, 64)
    np.testing.assert_array_equal(sharpen(image, 0.0), image)
    smooth = np.tile(np.linspace(60, 200, 64).astype(np.uint8), (64, 1))[:, :, None].repeat(3, axis=2)
    smooth[:, 32:] = 200
    edge = sharpen(smooth, 1.0)
    assert edge[:, 33].mean() > smooth[:, 33].mean() or edge[:, 31].mean() < smooth[:, 31].mean()


def test_cpu_finish_reports_each_stage() -> None:
    image = _image(300, 200)
    plan = plan_output((300, 200), (512, 512), "pad")
    frame = resize(image, plan.content_size)
    out, timings = CpuFrameOps().finish(
        frame, plan, FusionOptions(resolution="512", sharpen=0.5, brightness=0.2)
    )
    assert out.shape == (512, 512, 3)
    assert set(timings) == {"tone", "canvas", "sharpen"}
