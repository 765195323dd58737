"""The website widget: bytes on the wire and time to an interactive launcher.

    python -m bench.widget [--runs 15] [--json PATH]

Size: the served script raw, gzip -9 of it, and what the server itself sends to a browser
that accepts gzip. Time: headless Chromium (Debian's, as the tests use) opens the demo page
of a fresh `chatdock serve`; the widget is interactive when it fires `chatdock:ready` (the
launcher button is in the page, enabled). Measured as performance.now() at that event, i.e.
milliseconds since navigation start; median of N runs, cold (a new browser context, empty
HTTP cache) and warm (a reload in the same context: the script revalidated by ETag).
"""

from __future__ import annotations

import gzip
import statistics
from typing import Any

import httpx

from bench.lib import Server, base_parser, machine, print_table, stop_and_clean, write_json

READY_PROBE = ("window.addEventListener('chatdock:ready', () => {"
               " const b = document.getElementById('chatdock-widget').shadowRoot"
               ".querySelector('.launcher');"
               " window.__ready = b && !b.disabled ? performance.now() : -1; });")
SCRIPT = "/widget/v1/chatdock.js"


def sizes(base: str) -> dict[str, Any]:
    """Bytes of the served script: raw, gzip -9, and as the server sends it gzipped."""
    raw = httpx.get(base + SCRIPT, headers={"Accept-Encoding": "identity"})
    sent = httpx.get(base + SCRIPT, headers={"Accept-Encoding": "gzip"})
    wire = sent.num_bytes_downloaded
    return {"raw_bytes": len(raw.content), "stripped_bytes": len(stripped(raw.content)),
            "gzip9_bytes": len(gzip.compress(raw.content, 9)),
            "server_sends_bytes": wire,
            "server_encoding": sent.headers.get("Content-Encoding", "identity"),
            "budget_bytes": 30 * 1024}


def stripped(source: bytes) -> bytes:
    """Indentation, blank lines and whole-line // comments removed: what any minifier saves
    at the very least (no minifier dependency; a floor for "minified-equivalent")."""
    lines = (line.strip() for line in source.decode().splitlines())
    return "\n".join(ln for ln in lines if ln and not ln.startswith("//")).encode()


def ready_ms(page: Any, url: str, reload: bool = False) -> float:
    """Navigate (or reload) and return performance.now() at chatdock:ready."""
    if reload:
        page.reload()
    else:
        page.goto(url)
    # a function, not an expression: the demo page's CSP forbids eval
    page.wait_for_function("() => window.__ready !== undefined", timeout=15_000)
    value = float(page.evaluate("window.__ready"))
    assert value > 0, "launcher missing or disabled at chatdock:ready"
    return value


def time_to_interactive(base: str, runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    url = f"{base}/widget/demo"
    cold: list[float] = []
    warm: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for run in range(runs + 1):  # the first run starts the renderer: not counted
            context = browser.new_context()
            context.add_init_script(READY_PROBE)
            page = context.new_page()
            first, again = ready_ms(page, url), ready_ms(page, url, reload=True)
            context.close()
            if run:
                cold.append(first)
                warm.append(again)
        browser.close()
    return [{"load": name, "runs": len(s), "median_ms": round(statistics.median(s), 1),
             "min_ms": round(min(s), 1), "max_ms": round(max(s), 1)}
            for name, s in (("cold (empty cache)", cold), ("warm (reload, 304)", warm))]


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    server = Server()
    try:
        size = sizes(server.base)
        print_table("widget script " + SCRIPT, [size])
        timing = time_to_interactive(server.base, args.runs)
        print_table("time from navigation start to an interactive launcher "
                    "(headless Chromium, /widget/demo, loopback)", timing)
    finally:
        stop_and_clean(server)
    write_json(args.json, {"machine": machine(), "size": size, "time_to_interactive": timing})


if __name__ == "__main__":
    main()
