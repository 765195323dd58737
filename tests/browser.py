"""Headless Chromium (Debian's package) driven by Playwright for Python, for the browser tests.

Playwright's own browser download cannot run here; `.ci/run` installs Debian's `chromium`
and every browser test launches that binary. In CI a missing browser is a failure; on a
laptop without it the browser tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHATDOCK_CHROMIUM", "/usr/bin/chromium")
# This machine's network is closed: without these Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module. Not per session: Playwright's sync API runs
    an asyncio loop on the main thread while it is started, and later modules (the async
    client's and the Flet UI's tests) need `asyncio.run` there."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        _unavailable(f"Playwright for Python is not installed ({err}); pip install -e '.[dev]'")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        _unavailable(f"{CHROMIUM} not found; apt-get install chromium (see .ci/run)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (own storage) and page per test."""
    context = chromium.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def artifact(name: str) -> Path:
    """Where a test keeps a file (a screenshot) for people to look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
