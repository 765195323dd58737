"""The visitor app end to end: `chatdock serve`, `python -m app_flet.visitor --web`, Chromium.

Flutter draws on a canvas; the page's accessibility semantics (tests/e2e/browse.py) give
the DOM nodes to type into, click and read.

The browser reaches anything but loopback only through a recording proxy (`Egress`): a
request that left the browser for another host shows up there, whatever this machine's
network would have answered, and none gets further.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import artifact
from tests.conftest import ServedProcess, auth, free_port
from tests.e2e.app import VisitorApp
from tests.e2e.browse import open_app, settled_screenshot, type_text, wait_for_text
from tests.e2e.png import pixel, pixel_rows, solid_png

pytest.importorskip("flet", reason="the visitor app needs the flet extra")

BRAND = "#0B6E4F"
BUSINESS = "Green Grocer"
COMPOSER = 'textarea[aria-label="Type a message…"]'


# Chromium's own traffic, not any page's (no page sees it as a request): its autofill asks
# Google about the form fields of whatever page is open. Playwright's --disable-features list
# cannot be extended without replacing it, so it is set aside here by host.
BROWSER_OWN = ("content-autofill.googleapis.com",)


class Egress:
    """An HTTP proxy on loopback that records every request sent to it and refuses it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (host, request line)
        seen = self.seen

        class Refuse(BaseHTTPRequestHandler):
            def refuse(self) -> None:  # CONNECT host:443 (https), GET http://host/… (http)
                host = urlsplit(self.path if "//" in self.path else "//" + self.path).hostname
                seen.append((host or "", f"{self.command} {self.path}"))
                self.send_error(403, "chatdock e2e: no traffic off this machine")

            do_CONNECT = do_GET = do_HEAD = do_POST = refuse

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Refuse)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def from_pages(self) -> list[str]:
        """What reached the proxy, less the browser's own service traffic."""
        return [line for host, line in self.seen if host not in BROWSER_OWN]


@pytest.fixture(scope="module")
def egress() -> Iterator[Egress]:
    proxy = Egress()
    yield proxy
    proxy.server.shutdown()


@pytest.fixture
def page(chromium: Any, egress: Egress) -> Iterator[Any]:
    """A fresh context whose traffic to any host but loopback goes to the recording proxy."""
    context = chromium.new_context(viewport={"width": 1000, "height": 800}, proxy={
        "server": egress.url, "bypass": "127.0.0.1,localhost,[::1]"})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    """A real server whose business has a distinctive name and primary color."""
    served = ServedProcess(tmp_path_factory.mktemp("visitor-app"))
    try:
        resp = httpx.put(f"{served.base}/api/v1/branding", headers=auth(served.sk),
                         json={"name": BUSINESS, "primary_color": BRAND})
        assert resp.status_code == 200, resp.text
        yield served
    finally:
        served.stop()


@pytest.fixture
def start_app(server: ServedProcess) -> Iterator[Callable[..., VisitorApp]]:
    """Start the visitor app (on a given port, to keep the browser storage's origin)."""
    apps: list[VisitorApp] = []

    def start(*extra: str, port: int | None = None) -> VisitorApp:
        apps.append(VisitorApp(server, port or free_port(), *extra))
        return apps[-1]
    yield start
    for app in apps:
        app.stop()


def open_chat(page: Any, app: VisitorApp) -> None:
    """Load the app, switch on Flutter's semantics, wait for the composer."""
    open_app(page, app, COMPOSER, "visitor_app")


def send(page: Any, text: str) -> None:
    # typed key by key and checked: after a `fill` Flutter's field is now and then empty
    type_text(page, COMPOSER, text)
    page.get_by_role("button", name="Send", exact=True).click()


def stored_ticket(server: ServedProcess, text: str, timeout: float = 10) -> dict[str, Any]:
    """The ticket holding a message with `text`, read back from the server (polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.get(f"{server.base}/api/v1/tickets", params={"q": text},
                          headers=auth(server.sk)).json()["data"]
        if found:
            assert len(found) == 1, found
            ticket = httpx.get(f"{server.base}/api/v1/tickets/{found[0]['id']}",
                               headers=auth(server.sk)).json()["data"]
            return ticket  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"the server has no ticket with a message {text!r}")


def assert_branded_header(png: bytes) -> None:
    """The header band has the branding color (the splash screen has none of it)."""
    want = tuple(int(BRAND[i:i + 2], 16) for i in (1, 3, 5))
    for x in (150, 500, 850):
        got = pixel(png, x, 4)
        assert all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True)), (
            f"pixel ({x}, 4) is {got}, not the branding color {want}: "
            f"is this still the splash screen? see {artifact('visitor_app.png')}")


def local(url: str) -> bool:
    """Whether a URL stays on this machine (loopback, or the page's own data/blob URLs)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in ("127.0.0.1", "localhost", "::1")


def test_visitor_chats_with_an_agent(server: ServedProcess, start_app: Callable[..., VisitorApp],
                                     egress: Egress, page: Any) -> None:
    elsewhere: list[str] = []  # what the page asked of hosts other than this machine
    failed: dict[str, str | None] = {}
    page.on("request", lambda r: None if local(r.url) else elsewhere.append(r.url))
    page.on("requestfailed", lambda r: failed.__setitem__(r.url, r.failure))
    visitor_id = f"e2e-{uuid.uuid4().hex[:8]}"
    app = start_app("--visitor-id", visitor_id)
    open_chat(page, app)
    wait_for_text(page, BUSINESS, app)
    assert page.title() == BUSINESS

    question = f"Do you deliver on Sundays? {uuid.uuid4().hex[:6]}"
    send(page, question)
    ticket = stored_ticket(server, question)
    assert ticket["customer"]["visitor_id"] == visitor_id
    assert [(m["content"], m["direction"]) for m in ticket["messages"]] == [(question, "inbound")]
    wait_for_text(page, question, app)

    answer = f"Yes, 9 to 12. {uuid.uuid4().hex[:6]}"
    resp = httpx.post(f"{server.base}/api/v1/tickets/{ticket['id']}/messages",
                      json={"content": answer}, headers=auth(server.sk))
    assert resp.status_code == 201, resp.text
    wait_for_text(page, answer, app)  # pushed over the socket: no reload

    png = settled_screenshot(page, str(artifact("visitor_app.png")))
    assert_branded_header(png)
    # Nothing left the browser for another host. Flet's Rive extension asks for a script on
    # cdn.jsdelivr.net at start-up; the page's script policy refuses it inside the browser
    # (Playwright's failure text "csp", Chromium's net::ERR_BLOCKED_BY_CSP), before any DNS
    # lookup or connection. Any other failure (a DNS error, the proxy's refusal) means the
    # request did leave.
    assert egress.from_pages() == [], egress.seen
    left = [(url, failed.get(url)) for url in elsewhere
            if "csp" not in (failed.get(url) or "").lower()]
    assert left == [], left
    page.evaluate("() => fetch('http://off-machine.invalid/probe').catch(() => null)")
    assert egress.from_pages() == ["GET http://off-machine.invalid/probe"]  # it would see one


def test_restart_resumes_the_stored_visitor(server: ServedProcess,
                                            start_app: Callable[..., VisitorApp],
                                            page: Any) -> None:
    port = free_port()  # the same origin both times: the browser storage is per origin
    first = start_app(port=port)
    open_chat(page, first)
    hello = f"Hello from the first run {uuid.uuid4().hex[:6]}"
    send(page, hello)
    ticket = stored_ticket(server, hello)
    visitor_id = ticket["customer"]["visitor_id"]
    assert visitor_id.startswith("v_"), visitor_id
    stored = page.evaluate("() => localStorage.getItem('flutter.chatdock.visitor_id')")
    assert stored is not None and json.loads(stored) == visitor_id, stored
    first.stop()

    second = start_app(port=port)
    open_chat(page, second)
    wait_for_text(page, hello, second)  # the history of the same conversation
    again = f"And again from the second run {uuid.uuid4().hex[:6]}"
    send(page, again)
    assert stored_ticket(server, again)["id"] == ticket["id"]


SWATCH = (200, 30, 160)  # a color nothing else on the screen has


def ticket_of_visitor(server: ServedProcess, visitor_id: str, timeout: float = 10,
                      until: Callable[[dict[str, Any]], bool] = bool) -> dict[str, Any]:
    """The visitor's ticket with its messages, once `until(ticket)` holds (polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = httpx.get(f"{server.base}/api/v1/tickets", params={"per_page": "100"},
                         headers=auth(server.sk)).json()["data"]
        for row in rows:
            if row["customer"]["visitor_id"] == visitor_id:
                ticket = httpx.get(f"{server.base}/api/v1/tickets/{row['id']}",
                                   headers=auth(server.sk)).json()["data"]
                if until(ticket):
                    return ticket  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"no ticket of {visitor_id} as expected")


def swatch_pixels(png: bytes) -> int:
    """How many pixels of the screenshot have the swatch's color."""
    bpp, rows = pixel_rows(png, 10_000)
    return sum(1 for row in rows for x in range(0, len(row), bpp)
               if all(abs(a - b) <= 4 for a, b in zip(row[x:x + 3], SWATCH, strict=True)))


def test_visitor_attaches_an_image_shown_inline(server: ServedProcess,
                                                start_app: Callable[..., VisitorApp],
                                                page: Any) -> None:
    visitor_id = f"e2e-{uuid.uuid4().hex[:8]}"
    app = start_app("--visitor-id", visitor_id)
    open_chat(page, app)
    wait_for_text(page, BUSINESS, app)
    with page.expect_file_chooser() as chooser:  # Flet's FilePicker, in the browser
        page.get_by_role("button", name="Attach a file").click()
    swatch = solid_png(120, 80, SWATCH)
    chooser.value.set_files(files=[{"name": "swatch.png", "mimeType": "image/png",
                                    "buffer": swatch}])
    ticket = ticket_of_visitor(server, visitor_id, until=lambda t: bool(t["messages"]))
    [message] = ticket["messages"]
    assert [(a["file_name"], a["file_size"]) for a in message["attachments"]] == [
        ("swatch.png", len(swatch))]  # web mode: the picked file's bytes, uploaded whole
    wait_for_text(page, "swatch.png", app)  # the image's semantics label
    deadline = time.monotonic() + 15
    while not swatch_pixels(png := settled_screenshot(page, str(artifact("visitor_attach.png")))):
        assert time.monotonic() < deadline, (
            f"the picture is not on screen: see {artifact('visitor_attach.png')}; "
            f"app output:\n{app.log()}")
    assert swatch_pixels(png) > 120 * 80 // 2  # drawn inline, at least at half its size


def test_outside_business_hours_the_app_says_so_and_takes_an_email(
        server: ServedProcess, start_app: Callable[..., VisitorApp], page: Any) -> None:
    keys = server.cli("init", "--business", "Night Owls", "--owner-email", "o@owls.test",
                      "--json")
    tomorrow = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(UTC).weekday() + 1) % 7]
    resp = httpx.put(f"{server.base}/api/v1/availability", headers=auth(keys["secret_key"]),
                     json={"timezone": "UTC", "offline_message": "We answer in the morning.",
                           "hours": {tomorrow: [["09:00", "17:00"]]}})
    assert resp.status_code == 200, resp.text
    app = start_app("--key", keys["publishable_key"], "--visitor-id",
                    f"e2e-owl-{uuid.uuid4().hex[:8]}")
    open_chat(page, app)
    wait_for_text(page, "We're away — back at", app)
    wait_for_text(page, "We answer in the morning.", app)
    question = f"Still open? {uuid.uuid4().hex[:6]}"
    send(page, question)  # the composer still works
    wait_for_text(page, question, app)
    # typed key by key: after a `fill` the app sees an empty field now and then
    type_text(page, 'input[aria-label="Email"]', "owl@night.test")
    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, "Thanks! We'll reply to owl@night.test.", app)
    settled_screenshot(page, str(artifact("visitor_app_away.png")))
    found = httpx.get(f"{server.base}/api/v1/tickets", params={"q": question},
                      headers=auth(keys["secret_key"])).json()["data"]
    assert [t["customer"]["email"] for t in found] == ["owl@night.test"]
