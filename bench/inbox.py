"""inbox: how fast the agent inbox (`chatdock-inbox --web`) shows its list and badges a message.

    python -m bench.inbox --conversations 10000 --messages 40

One `chatdock serve` on a fresh database seeded with `--conversations` conversations
(bench/seed.py, two messages each), the inbox app in web mode (offline,
`CHATDOCK_TIMING=1`) and headless Chromium (Debian's, launched as tests/browser.py does).
A few visitors (the headless `ChatClient`) start their conversations first, so theirs are
the newest rows. Then, in a fresh browser context, the demo owner logs in (the login the
server's banner prints); once the list is up, the visitors send `--messages` messages
one after another, round robin, each waiting for the app to badge it.

What is measured, all on this machine's wall clock (browser, app and visitors share it):

- boot_ms: navigation start -> the app's Flet `main` runs (Flutter web client and
  CanvasKit loaded, the client's websocket session up). App side: `chatdock-timing main`.
- form_ms: `main` -> the login form's "Email" field is in the page (browser side, an
  in-page probe stamping each animation frame, ~17 ms resolution).
- login_ms: the "Log in" click (browser side) -> `login_done` (app side): the click's
  trip to the app, `POST /auth/login` and `GET /auth/me`. login_api_ms: one
  `POST /auth/login` alone (httpx, before the browser starts), its server share.
- list_ms: `login_done` -> `list_shown` (the first list painted, app side).
- list_after_boot_ms: form_ms + login_ms + list_ms, the app's own time from `main` to
  the list (the bench's typing of the login left out; with_typing_ms: `main` ->
  `list_shown`, the typing of two fields by Playwright's keyboard included).
- row_in_page_ms: `list_shown` -> a visitor's row text is in the page's semantics tree
  (browser side): the update's trip to the browser and Flutter's frame.
- badge p50/p95: a visitor's `send` called -> the app's `chatdock-timing badge <ticket>
  <message>` mark for that message (HTTP post, the server's event over the agent socket,
  the app's row update); on_screen: -> the message's text in its row in the page's
  semantics tree (the update's trip to the browser and Flutter's frame added).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from app_flet.headless import ChatClient, ChatSession
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
from bench.seed import seed
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.app import InboxApp, owner_login
from tests.e2e.browse import settled_screenshot, type_text

VISITORS = 5  # conversations the messages go to, newest first in the list
EMAIL = 'input[aria-label="Email"]'
PASSWORD = 'input[aria-label="Password"]'
REPLY = '[aria-label^="Reply"]'  # (a focused empty field's label gains its hint)
NOTE = '[aria-label^="Note"]'
VISITOR_NAME = "Bench visitor 0"  # the newest row's customer: in the page once the list is

MARKS = """
(() => {
  const marks = window.__marks = {};
  const watched = window.__watched = {};  // text -> when it was first in the tree (or null)
  window.__watch = text => { watched[text] = null; };
  const now = () => performance.timeOrigin + performance.now();
  const within = text => [...document.querySelectorAll('flt-semantics-host *')].some(
      e => (e.children.length === 0 && e.textContent.includes(text))
           || (e.getAttribute('aria-label') || '').includes(text));
  const tick = () => {
    const placeholder = document.querySelector('flt-semantics-placeholder');
    if (placeholder && !marks.semantics) { placeholder.click(); marks.semantics = now(); }
    if (!marks.form && document.querySelector(__EMAIL__)) marks.form = now();
    if (!marks.row && within(__ROW__)) marks.row = now();
    for (const text in watched) if (watched[text] === null && within(text)) watched[text] = now();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
""".replace("__EMAIL__", json.dumps(EMAIL)).replace("__ROW__", json.dumps(VISITOR_NAME))


def wait_mark(app: InboxApp, event: str, since_ms: float, fields: list[str] | None = None,
              timeout: float = 30) -> float:
    """The first `event` mark (with these fields, if given) at or after since_ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for got, ms in app.marks(event):
            if ms >= since_ms and (fields is None or got == fields):
                return ms
        time.sleep(0.005)
    raise RuntimeError(f"the app logged no {event} {fields or ''} mark after {since_ms}:\n"
                       f"{app.log()[-4000:]}")


def login_api(server: Server, email: str, password: str) -> float:
    """ms of one `POST /auth/login` by itself (the password check is argon2): login_ms's
    server share."""
    t0 = time.perf_counter()
    httpx.post(f"{server.base}/api/v1/auth/login",
               json={"email": email, "password": password, "mode": "test"}).raise_for_status()
    return (time.perf_counter() - t0) * 1000


def start_visitors(client: ChatClient) -> list[ChatSession]:
    """VISITORS conversations, the last started (Bench visitor 0) the newest."""
    sessions = []
    for n in reversed(range(VISITORS)):
        session = client.start_session(f"bench-{uuid.uuid4().hex[:8]}",
                                       name=f"Bench visitor {n}")
        session.send(f"Hello from bench visitor {n}")
        sessions.append(session)
    return sessions[::-1]


def log_in(page: Any, app: InboxApp, email: str, password: str) -> dict[str, float]:
    """Load the app and log in; the browser's marks (epoch ms)."""
    page.add_init_script(MARKS)
    page.set_default_timeout(60_000)
    page.goto(app.url)
    page.wait_for_function("() => window.__marks && window.__marks.form", polling=10)
    type_text(page, EMAIL, email)  # as the e2e test does
    type_text(page, PASSWORD, password)
    clicked = time.time() * 1000
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_function("() => window.__marks.row", polling=100)
    marks = page.evaluate("() => ({origin: performance.timeOrigin, ...window.__marks})")
    return {**marks, "clicked": clicked}


def screenshot(page: Any, path: str) -> None:
    """Open the newest visitor's conversation, reply and add a note as an agent would, and
    save what the agent sees (docs/inbox.png)."""
    page.locator("flt-semantics[role=button]").filter(has_text=VISITOR_NAME).click()
    type_text(page, REPLY, "It left the warehouse this morning: the tracking link is in "
                           "your email.")
    page.keyboard.press("Enter")
    type_text(page, NOTE, "Courier confirmed: on the van, delivery before 6 pm.")
    page.get_by_role("button", name="Add note", exact=True).click()
    page.wait_for_function(f"() => document.querySelector({json.dumps(NOTE)}).value === ''")
    settled_screenshot(page, path)
    print(f"\nwrote {path}")


def badge_latencies(page: Any, app: InboxApp, sessions: list[ChatSession],
                    messages: int) -> tuple[list[float], list[float]]:
    """Send `messages` visitor messages round robin, one at a time; for each, ms from the
    send to the app's badge mark, and to its text in the row on screen."""
    badged, on_screen = [], []
    for n in range(messages):
        session, text = sessions[n % len(sessions)], f"bench message {n}: is my parcel on its way?"
        page.evaluate("text => window.__watch(text)", text)
        sent = time.time() * 1000
        message = session.send(text)
        badged.append(wait_mark(app, "badge", sent,
                                [str(session.conversation_id), str(message.id)], timeout=10)
                      - sent)
        page.wait_for_function("text => window.__watched[text]", arg=text, timeout=10_000,
                               polling=50)
        on_screen.append(page.evaluate("text => window.__watched[text]", text) - sent)
        time.sleep(0.1)  # latency, not queueing
    return badged, on_screen


def measure(conversations: int, messages: int, shot: str | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    server = Server()
    app = None
    try:
        email, password = owner_login(server.proc.stdout.readline() if server.proc.stdout
                                      else "")
        t0 = time.perf_counter()
        seed(server.env["CHATDOCK_DATABASE_URL"], conversations, conversations * 2)
        seeded_s = time.perf_counter() - t0
        login_api_ms = login_api(server, email, password)
        with ChatClient(server.pk, server.base) as visitors:
            sessions = start_visitors(visitors)
            app = InboxApp(server, free_port(), env={"CHATDOCK_TIMING": "1"})
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 800})
                    marks = log_in(page, app, email, password)
                    main = wait_mark(app, "main", marks["origin"])
                    login_done = wait_mark(app, "login_done", main)
                    list_shown = wait_mark(app, "list_shown", login_done)
                    badges, shown = badge_latencies(page, app, sessions, messages)
                    if shot:
                        screenshot(page, shot)
                finally:
                    browser.close()
    finally:
        if app is not None:
            app.stop()
        stop_and_clean(server)
    return {"conversations": conversations, "seed_s": round(seeded_s, 1),
            "boot_ms": main - marks["origin"], "form_ms": marks["form"] - main,
            "login_ms": login_done - marks["clicked"], "login_api_ms": login_api_ms,
            "list_ms": list_shown - login_done,
            "list_after_boot_ms": (marks["form"] - main) + (list_shown - marks["clicked"]),
            "with_typing_ms": list_shown - main, "row_in_page_ms": marks["row"] - list_shown,
            "badges_ms": badges, "on_screen_ms": shown}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--conversations", type=int, default=10_000,
                        help="conversations seeded before the app starts")
    parser.add_argument("--messages", type=int, default=40,
                        help="visitor messages sent while the list is up (each badged)")
    parser.add_argument("--screenshot", metavar="PATH",
                        help="then open the newest conversation, reply, add a note and save "
                             "a PNG of the page")
    args = parser.parse_args()
    result = measure(args.conversations, args.messages, args.screenshot)
    badge, shown = percentiles(result["badges_ms"]), percentiles(result["on_screen_ms"])
    print(f"seeded {result['conversations']} conversations ({2 * result['conversations']} "
          f"messages) in {result['seed_s']} s")
    print_table(f"inbox, one cold page load and login ({machine()})", [{
        k: round(v, 1) for k, v in result.items()
        if k.endswith("_ms") and not isinstance(v, list)}])
    print_table("visitor send -> the app's badge mark / the row's new text on screen", [
        {"figure": name, "messages": len(result["badges_ms"]),
         **{f"{k}_ms": round(v, 1) for k, v in figures.items()}}
        for name, figures in (("badge", badge), ("on_screen", shown))])
    print_table("against the targets", [
        {"figure": "list_after_boot_ms", "target_ms": 1500.0,
         "measured_ms": round(result["list_after_boot_ms"], 1),
         "met": result["list_after_boot_ms"] <= 1500},
        {"figure": "badge p50", "target_ms": 300.0, "measured_ms": round(badge["p50"], 1),
         "met": badge["p50"] <= 300}])
    write_json(args.json, {"machine": machine(), **result, "badge": badge,
                           "on_screen": shown})


if __name__ == "__main__":
    main()
