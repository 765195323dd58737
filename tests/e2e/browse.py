"""Driving a Flet web app in Chromium through Flutter's accessibility semantics.

Flutter draws on a canvas; the page's semantics tree (switched on by clicking
`flt-semantics-placeholder`) gives the DOM nodes to type into, click and read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.browser import artifact
from tests.e2e.app import WebApp

BOOT_TIMEOUT_MS = 30_000  # Flutter web boot (CanvasKit, fonts, first frame) takes seconds


def open_app(page: Any, app: WebApp, ready: str, name: str) -> None:
    """Load the app, switch on Flutter's semantics, wait for the `ready` selector.

    On failure a screenshot goes to test-artifacts/<name>_not_up.png.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(app.url)
    placeholder = page.locator("flt-semantics-placeholder")
    deadline = time.monotonic() + BOOT_TIMEOUT_MS / 1000
    try:
        placeholder.wait_for(state="attached")
        while True:
            # Flutter removes the placeholder once semantics are on; under load a click can
            # land before its listener, so click again only while it is still there
            if placeholder.count():
                placeholder.dispatch_event("click")
            try:
                page.locator(ready).first.wait_for(timeout=3_000)
                return
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    raise
    except Exception as err:
        shot = artifact(f"{name}_not_up.png")
        page.screenshot(path=str(shot))
        raise AssertionError(
            f"{ready} did not come up ({err}); placeholder present: "
            f"{placeholder.count()}, semantics nodes: {page.locator('flt-semantics').count()}"
            f"; screenshot {shot}; app output:\n{app.log()}") from err


# Text reaches the DOM as a node's text, its aria-label, or a (read-only) field's value.
SHOWN = """text => [...document.querySelectorAll('flt-semantics-host *')].some(
    e => (e.children.length === 0 && e.textContent.includes(text))
         || (e.getAttribute('aria-label') || '').includes(text)
         || (e.value || '').includes(text))"""


def shown(page: Any, text: str) -> bool:
    """Whether `text` is in the page's accessibility tree now."""
    return bool(page.evaluate(SHOWN, text))


def wait_for_text(page: Any, text: str, app: WebApp, timeout_ms: int = 15_000) -> None:
    """Wait until `text` is in the page's accessibility tree (what a screen reader reads)."""
    try:
        page.wait_for_function(SHOWN, arg=text, timeout=timeout_ms)
    except Exception as err:
        raise AssertionError(f"{text!r} is not in the page's semantics tree ({err}); app "
                             f"output:\n{app.log()}") from err


FRAMES = """n => new Promise(done => {
    let i = 0;
    const frame = () => (++i >= n ? done() : requestAnimationFrame(frame));
    requestAnimationFrame(frame);
})"""


def settled_screenshot(page: Any, path: str, timeout: float = 5) -> bytes:
    """A screenshot of what the page shows now, not of a frame still in the pipeline.

    Headless Chromium's captures trail the semantics tree: right after a text appeared in
    the tree, captures showed frames from before the last two updates, even three times
    in a row. Running ~30 animation frames first flushed them every time (2 did not).
    """
    page.evaluate(FRAMES, 30)
    shots = [page.screenshot()]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (len(shots) < 2 or shots[-1] != shots[-2]):
        shots.append(page.screenshot())
    Path(path).write_bytes(shots[-1])
    return shots[-1]


FOCUSED_VALUE = "() => document.activeElement ? document.activeElement.value : null"


def type_text(page: Any, selector: str, text: str, delay_ms: int = 0) -> None:
    """Click a text field and type `text` key by key, as a person does.

    Right after the click Flutter moves the focus into its own editing node and now and then
    drops the first keys meanwhile ("es, it left…"): what the field holds is checked, and
    typed again, like a person who saw it, while it is not `text`.
    """
    page.locator(selector).click()
    for _ in range(3):
        page.keyboard.type(text, delay=delay_ms)
        if page.evaluate(FOCUSED_VALUE) == text:
            return
        page.keyboard.press("ControlOrMeta+A")
        page.keyboard.press("Backspace")
    raise AssertionError(f"{selector} does not take {text!r}: it holds "
                         f"{page.evaluate(FOCUSED_VALUE)!r}")
