"""visitor_app: how fast the visitor app (`chatdock-chat --web`) gets a chat on screen.

    python -m bench.visitor_app --runs 5

One `chatdock serve`, one visitor app in web mode (offline, `CHATDOCK_TIMING=1`) and
headless Chromium (Debian's, launched as tests/browser.py does: `CHROMIUM` and
`CHROMIUM_ARGS` are imported from there). Before the runs an agent reply is posted into
the benchmark visitor's conversation, so every load has one message in its history.
Each run opens the app in a new browser context (empty cache and storage: a first visit).

What is measured, all on this machine's wall clock (browser and app share it):

- boot_ms: navigation start -> the app's Flet `main` runs (page, Flutter web client and
  CanvasKit loaded, the client's websocket session up). App side: a `chatdock-timing main`
  line on the app's stderr.
- interactive_ms: navigation start -> the composer's text field is in the page.
- config_ms: `main` -> the chat screen calls `start_session` (config fetch, first paint).
- first_message_ms: the chat screen calls `start_session` (app side, logged just before
  the call) -> the first message is on screen (browser side): session start, history
  load, the update to the browser and Flutter's frame.

Browser side, a script injected before the page loads switches Flutter's semantics on
as soon as its placeholder exists and checks the semantics tree on every animation frame
(resolution ~17 ms at 60 Hz). Flutter builds the semantics tree in the frame it paints,
so "in the tree" is "on screen". The first message is the bubble's own text
(msg_text_ms) and, as a cross-check that does not depend on how the bubble exposes its
text, the day chip ("Today") that the message list inserts in the same update as the
first bubble (first_message_ms). They came in the same frame, 0.1 ms apart; while the
bubble was a selectable `ft.Text`, its text was not in the tree at all (msg_text_ms "-").
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from bench.lib import (
    Server,
    base_parser,
    free_port,
    machine,
    percentiles,
    print_table,
    stop_and_clean,
    write_json,
)
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.app import VisitorApp

COMPOSER = 'textarea[aria-label="Type a message…"]'
DAY_CHIP = "Today"
AGENT_REPLY = "Hi, this is the bench agent: how can we help?"

MARKS = """
(() => {
  const marks = window.__marks = {};
  const now = () => performance.timeOrigin + performance.now();
  const exactly = text => [...document.querySelectorAll('flt-semantics-host span')].some(
      e => e.textContent.trim() === text);
  const within = text => [...document.querySelectorAll('flt-semantics-host *')].some(
      e => (e.children.length === 0 && e.textContent.includes(text))
           || (e.getAttribute('aria-label') || '').includes(text)
           || (e.value || '').includes(text));
  const tick = () => {
    const placeholder = document.querySelector('flt-semantics-placeholder');
    if (placeholder && !marks.semantics) { placeholder.click(); marks.semantics = now(); }
    if (!marks.composer && document.querySelector(__COMPOSER__)) marks.composer = now();
    if (!marks.chip && exactly(__CHIP__)) marks.chip = now();
    if (!marks.text && within(__TEXT__)) marks.text = now();
    if (!(marks.composer && marks.chip && marks.text)) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
""".replace("__COMPOSER__", json.dumps(COMPOSER)).replace("__CHIP__", json.dumps(DAY_CHIP)).replace(
    "__TEXT__", json.dumps(AGENT_REPLY))


def timed_app(server: Server, visitor_id: str) -> VisitorApp:
    """The visitor app in web mode, logging its `chatdock-timing` marks."""
    return VisitorApp(server, free_port(), "--visitor-id", visitor_id,
                      env={"CHATDOCK_TIMING": "1"})


def mark_after(app: VisitorApp, name: str, since_ms: float, timeout: float = 10) -> float:
    """The first `name` mark the app logged at or after since_ms (epoch milliseconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(app.output):
            parts = line.split()
            if parts[:2] == ["chatdock-timing", name] and float(parts[2]) >= since_ms:
                return float(parts[2])
        time.sleep(0.05)
    raise RuntimeError(f"the app logged no {name!r} mark")


def seed_history(server: Server, visitor_id: str) -> None:
    """Start the visitor's conversation and post one agent reply into it."""
    started = httpx.post(f"{server.base}/api/v1/chat/sessions", json={"visitor_id": visitor_id},
                         headers={"Authorization": f"Bearer {server.pk}"})
    started.raise_for_status()
    ticket = started.json()["data"]["conversation_id"]
    httpx.post(f"{server.base}/api/v1/tickets/{ticket}/messages", json={"content": AGENT_REPLY},
               headers={"Authorization": f"Bearer {server.sk}"}).raise_for_status()


def one_run(browser: Any, app: VisitorApp, run: int) -> dict[str, Any]:
    """Load the app in a fresh context; the run's figures in milliseconds."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        page = context.new_page()
        page.add_init_script(MARKS)
        page.goto(app.url)
        page.wait_for_function("() => window.__marks && window.__marks.composer"
                               " && window.__marks.chip", timeout=60_000, polling=100)
        page.wait_for_timeout(300)  # give the message text its chance (see msg_text_ms)
        marks = page.evaluate("() => ({origin: performance.timeOrigin, ...window.__marks})")
    finally:
        context.close()
    main = mark_after(app, "main", marks["origin"])
    start = mark_after(app, "start_session", main)
    return {"run": run, "boot_ms": main - marks["origin"],
            "interactive_ms": marks["composer"] - marks["origin"],
            "config_ms": start - main, "first_message_ms": marks["chip"] - start,
            "msg_text_ms": marks["text"] - start if "text" in marks else "-"}


def measure(runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    server = Server()
    visitor_id = f"bench-{uuid.uuid4().hex[:8]}"
    app = None
    try:
        seed_history(server, visitor_id)
        app = timed_app(server, visitor_id)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                return [one_run(browser, app, n + 1) for n in range(runs)]
            finally:
                browser.close()
    finally:
        if app is not None:
            app.stop()
        stop_and_clean(server)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """p50 and max of each figure over the runs."""
    out = []
    for column in ("boot_ms", "interactive_ms", "config_ms", "first_message_ms", "msg_text_ms"):
        samples = [r[column] for r in rows if isinstance(r[column], float)]
        if samples:
            p = percentiles(samples)
            out.append({"figure": column, "runs": len(samples), "p50_ms": round(p["p50"], 1),
                        "max_ms": round(p["max"], 1)})
    return out


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--runs", type=int, default=5, help="page loads (fresh contexts)")
    args = parser.parse_args()
    rows = measure(args.runs)
    rounded = [{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
               for r in rows]
    print_table(f"visitor_app, one cold page load per run ({machine()})", rounded)
    print_table("summary", summary(rows))
    write_json(args.json, {"machine": machine(), "rows": rows, "summary": summary(rows)})


if __name__ == "__main__":
    main()
