"""A real browser on the real page: Debian's chromium driven by Playwright (no browser download).

Uploads two package-shipped photos, clicks Fuse, waits for the result, measures click-to-result
against the library's own fuse() time for the same request (reported, not asserted) and saves a
screenshot (out/webui.png; also assets/webui.png when FUSION_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from webui_helpers import ROOT, Server

from fusion.samples import sample_path

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
from playwright.sync_api import BrowserContext, Page, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each result has its own file name (uuid4); the preview may be byte-identical to the last one.
RESULT_LOADED = """() => {
    const link = document.querySelector('#result-file a');
    const image = document.querySelector('#result-slider img');
    return link !== null && link.href !== window.__previousResult
        && image !== null && image.complete && image.naturalWidth > 0;
}"""
IDENTITY_DONE = """() => {
    const text = document.querySelector('#result-identity').innerText;
    return text.includes('Identity') && !text.includes('measuring');
}"""
TIMEOUT_MS = 120_000
CLICKS_MEASURED = 3

if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed (CI installs it with apt-get install chromium; so can you)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_playwright() as playwright:
        yield playwright


def open_page(playwright: object, tmp_path: Path, url: str, locale: str) -> tuple[BrowserContext, Page]:
    context = playwright.chromium.launch_persistent_context(  # type: ignore[attr-defined]
        str(tmp_path / f"profile-{locale}"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        locale=locale,
        viewport={"width": 1400, "height": 1000},
    )
    page = context.new_page()
    page.goto(url, timeout=TIMEOUT_MS)
    page.wait_for_selector("#fuse-button", timeout=TIMEOUT_MS)
    return context, page


def click_fuse_and_wait(page: Page) -> float:
    """Seconds from the click to the result image being loaded in the page (browser clock)."""
    page.evaluate(
        """() => {
        const link = document.querySelector('#result-file a');
        window.__previousResult = link ? link.href : null;
    }"""
    )
    started = page.evaluate(
        "() => { const t = performance.now(); document.querySelector('#fuse-button').click(); return t; }"
    )
    page.wait_for_function(RESULT_LOADED, polling="raf", timeout=TIMEOUT_MS)
    finished = page.evaluate("() => performance.now()")
    return (finished - started) / 1000


def fuse_seconds_shown(page: Page) -> float:
    match = re.search(r"([\d.]+) s in fuse\(\)", page.locator("#result-info").inner_text())
    assert match, page.locator("#result-info").inner_text()
    return float(match.group(1))


def test_upload_fuse_and_download_in_a_real_browser(browser: object, server: Server, tmp_path: Path) -> None:
    context, page = open_page(browser, tmp_path, server.url, "en-US")
    try:
        # An error is a message in the page, and the page keeps working afterwards.
        page.click("#fuse-button")
        page.get_by_text("Add a source face and target photo first.").wait_for(timeout=TIMEOUT_MS)

        page.locator("#source-image input[type=file]").set_input_files(str(sample_path("group")))
        page.locator("#target-image input[type=file]").set_input_files(str(sample_path("astronaut")))
        # Faces are detected after the upload: the numbered previews and the face choices appear.
        page.wait_for_selector("#source-faces img", timeout=TIMEOUT_MS)
        page.wait_for_selector("#target-faces img", timeout=TIMEOUT_MS)

        overheads, click_to_result, fuse_times = [], [], []
        for _ in range(CLICKS_MEASURED):
            seconds = click_fuse_and_wait(page)
            in_fuse = fuse_seconds_shown(page)
            # Let the identity check that follows each result finish, as a person would look at the
            # result first; a click during it waits for it in the queue.
            page.wait_for_function(IDENTITY_DONE, timeout=TIMEOUT_MS)
            click_to_result.append(seconds)
            fuse_times.append(in_fuse)
            overheads.append(seconds - in_fuse)

        info = page.locator("#result-info").inner_text()
        assert "512 x 512 px, PNG" in info
        download = page.locator("#result-file a").first
        assert re.search(r"fusion-[0-9a-f]{32}\.png", download.get_attribute("href") or "")
        assert "to the source" in page.locator("#result-identity").inner_text()

        figures = {
            "inputs": "group.jpg face 0 -> astronaut.png, default options (512x512 PNG)",
            "click_to_result_s": [round(s, 3) for s in click_to_result],
            "fuse_total_s": fuse_times,
            "median_overhead_s": round(statistics.median(overheads), 3),
        }
        out = ROOT / "out"
        out.mkdir(exist_ok=True)
        (out / "ui_latency.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures))

        # Close the notices (the deliberate error above, the small-face warnings) so the picture shows
        # the page itself, as a person sees it after dismissing them.
        page.evaluate("() => document.querySelectorAll('.toast-close').forEach(b => b.click())")
        page.wait_for_timeout(500)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(out / "webui.png"), full_page=True)
        if os.environ.get("FUSION_UPDATE_SCREENSHOT") == "1":
            from PIL import Image  # the README's copy: 3/4 size, 256 colours, to stay small

            with Image.open(out / "webui.png") as shot:
                small = shot.convert("RGB").resize((shot.width * 3 // 4, shot.height * 3 // 4), Image.LANCZOS)
                small.quantize(256).save(ROOT / "assets" / "webui.png", optimize=True)
    finally:
        context.close()


def test_labels_follow_the_browsers_language(browser: object, server: Server, tmp_path: Path) -> None:
    context, page = open_page(browser, tmp_path, server.url, "zh-CN")
    try:
        for label in ("源人脸", "目标照片", "融合比例", "皮肤平滑", "输出分辨率"):
            page.get_by_text(label, exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("融合", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    finally:
        context.close()
