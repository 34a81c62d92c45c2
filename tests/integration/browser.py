"""What an annotator sees: Label Studio's labeling page in headless Chromium (Playwright).

Playwright drives Debian's ``chromium`` (``make install`` apt-installs it; no browser download).
:func:`open_task` logs in with the session cookie, opens a task in the Data Manager's labeling
view and reads back what the page shows: the checked choices, the regions listed (label and the
score Label Studio prints), the prediction tabs, and the pixels the brush regions painted on the
image canvas (Label Studio's front end decodes our RLE itself), plus a screenshot.
"""

from __future__ import annotations

import base64
import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CANVASES_JS = """() => Array.from(document.querySelectorAll('.konvajs-content canvas')).map(c => {
  const r = c.getBoundingClientRect();
  return {data: c.toDataURL('image/png'), x: r.x, y: r.y, width: r.width, height: r.height};
})"""


@dataclass
class PageView:
    checked: list[str]
    regions: list[tuple[str, str]]  # (label, score as shown)
    tabs: list[str]  # annotation and prediction tabs: "name · info"
    painted: np.ndarray  # bool (canvas height, width): brush pixels over the image
    image_size: tuple[int, int]  # (width, height) of the image as drawn, in canvas pixels
    screenshot: Path
    text: str = field(repr=False, default="")


def _decode(data_url: str) -> np.ndarray:
    return np.array(
        Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGBA")
    )


def _painted(canvases: list[dict]) -> tuple[np.ndarray, tuple[int, int]]:
    """The brush pixels over the image: the union of the non-image layers' painted pixels,
    cropped to where the image layer (the most covered one) draws the image."""
    layers = [_decode(c["data"]) for c in canvases]
    if not layers:
        return np.zeros((0, 0), dtype=bool), (0, 0)
    coverage = [float((layer[..., 3] > 0).mean()) for layer in layers]
    image_layer = layers[int(np.argmax(coverage))]
    painted = np.zeros(image_layer.shape[:2], dtype=bool)
    for layer in layers:
        if layer is not image_layer and layer.shape[:2] == painted.shape:
            painted |= layer[..., 3] > 0
    rows, cols = np.nonzero(image_layer[..., 3] > 0)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return painted[top:bottom, left:right], (int(right - left), int(bottom - top))


def open_task(ls, project: int, task: int, screenshot: Path, settle: float = 3.0) -> PageView:
    """Open ``task`` of ``project`` in the labeling page as the admin and read what it shows."""
    from playwright.sync_api import sync_playwright

    session = ls.login()
    cookies = [{"name": c.name, "value": c.value, "url": ls.url} for c in session.cookies]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies(cookies)
            page = context.new_page()
            page.goto(
                f"{ls.url}/projects/{project}/data?task={task}",
                wait_until="networkidle",
                timeout=120_000,
            )
            page.wait_for_selector(".lsf-choice__checkbox", timeout=120_000)
            page.wait_for_selector(".konvajs-content canvas", timeout=120_000)
            time.sleep(settle)  # the image loads and the regions are drawn after the layout
            return _read(page, screenshot)
        finally:
            browser.close()


def _read(page, screenshot: Path) -> PageView:
    checked = [
        box.get_attribute("name")
        for box in page.query_selector_all(".lsf-choice__checkbox input[type=checkbox]")
        if box.is_checked()
    ]
    regions = []
    for item in page.query_selector_all(".lsf-outliner-item"):
        title = item.query_selector(".lsf-outliner-item__title")
        score = item.query_selector(".lsf-outliner-item__control_type_score")
        regions.append(
            (
                title.inner_text().strip() if title else "",
                score.inner_text().strip() if score else "",
            )
        )
    tabs = [
        " · ".join(part.inner_text().strip() for part in button.query_selector_all(
            ".lsf-annotation-button__name, .lsf-annotation-button__info"
        ))
        for button in page.query_selector_all(".lsf-annotation-button")
    ]  # fmt: skip
    painted, size = _painted(page.evaluate(CANVASES_JS))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot))
    return PageView(checked, regions, tabs, painted, size, screenshot, page.inner_text("body"))


def mask_agreement(
    painted: np.ndarray, mask: np.ndarray, tolerance: int = 3
) -> tuple[float, float]:
    """``(precision, recall)`` of the page's painted pixels against ``mask`` (resized to the
    canvas), each pixel counted right within ``tolerance`` canvas pixels: the canvas scales and
    antialiases a thin brush stroke, so exact IoU would punish a one-pixel edge."""
    from scipy.ndimage import binary_dilation

    if painted.size == 0:
        return 0.0, 0.0
    height, width = painted.shape
    resized = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.NEAREST)
    expected = np.asarray(resized) > 0
    near = np.ones((2 * tolerance + 1, 2 * tolerance + 1), dtype=bool)
    precision = (painted & binary_dilation(expected, near)).sum() / max(1, painted.sum())
    recall = (expected & binary_dilation(painted, near)).sum() / max(1, expected.sum())
    return float(precision), float(recall)
