"""The agent inbox end to end: `chatdock serve`, `python -m app_flet.inbox.app --web`, Chromium.

The demo owner logs in with the login the server's banner printed; a visitor is the real
headless client (`app_flet.headless.ChatClient`) on its own socket. Everything the agent
does goes through the page's accessibility semantics (tests/e2e/browse.py): inputs by
their aria-label, buttons by role and name.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    ChatClient,
    ChatSession,
    ConversationUpdated,
    Event,
    MessageCreated,
    TypingStarted,
)
from app_flet.inbox.conversation import AGENT_BG, NOTE_BG
from tests.browser import artifact
from tests.conftest import ServedProcess, auth, free_port
from tests.e2e.app import InboxApp, owner_login
from tests.e2e.browse import open_app, settled_screenshot, type_text
from tests.e2e.png import pixel_rows

pytest.importorskip("flet", reason="the inbox app needs the flet extra")

EMAIL = 'input[aria-label="Email"]'
PASSWORD = 'input[aria-label="Password"]'
# a focused empty field's label gains its hint ("Reply\nWrite a reply…")
REPLY = '[aria-label^="Reply"]'
NOTE = '[aria-label^="Note"]'
# every text of the semantics tree: a leaf's text or label, a field's value (with fields)
TEXTS = """fields => [...document.querySelectorAll('flt-semantics-host *')].map(
    e => e.matches('input, textarea') ? (fields ? `${e.getAttribute('aria-label')}=${e.value}` : '')
         : e.children.length ? '' : e.textContent || e.getAttribute('aria-label') || '')
    .filter(Boolean)"""
IN_THREAD = """([reply, text]) => {
    const field = document.querySelector(reply);
    if (!field) return false;
    const column = field.getBoundingClientRect();
    return [...document.querySelectorAll('flt-semantics-host *')].some(e => {
        if (e.matches('input, textarea') || e.children.length) return false;
        const box = e.getBoundingClientRect();
        // the attach button is left of the field, the send button right of it
        return box.left >= column.left - 80 && box.right <= column.right + 80
            && box.bottom <= column.top && e.textContent.includes(text);
    });
}"""
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    served = ServedProcess(tmp_path_factory.mktemp("inbox-app"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def inbox(server: ServedProcess) -> Iterator[InboxApp]:
    app = InboxApp(server, free_port(), env={"CHATDOCK_TIMING": "1"})
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()


@pytest.fixture
def visitor(server: ServedProcess) -> Iterator[ChatClient]:
    with ChatClient(server.pk, server.base) as client:
        yield client


class Inbox:
    """The inbox page as an agent sees it."""

    def __init__(self, page: Any, app: InboxApp) -> None:
        self.page, self.app = page, app

    def log_in(self, email: str, password: str) -> None:
        open_app(self.page, self.app, EMAIL, "inbox_app")
        # typed key by key (after a `fill` the app saw empty fields now and then)
        type_text(self.page, EMAIL, email)
        type_text(self.page, PASSWORD, password)
        self.page.get_by_role("button", name="Log in", exact=True).click()
        self.wait_until("logged in (the list's views)", lambda: self.in_page("Unassigned"))

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s; the page's texts: "
                                     f"{self.texts()}; app output:\n{self.app.log()}")
            time.sleep(0.1)

    def in_thread(self, text: str) -> bool:
        """Whether `text` is in the semantics tree above the Reply field and within its
        column (the open conversation: not a row's preview), outside any text field (not
        what is still being typed: what the app shows). A selectable `ft.Text` is not:
        Flutter exposes it as a read-only field with no value (bench/visitor_app.py)."""
        return bool(self.page.evaluate(IN_THREAD, [REPLY, text]))

    def in_page(self, text: str) -> bool:
        """Whether `text` is in the semantics tree outside any text field."""
        return any(text in found for found in self.texts(fields=False))

    def texts(self, fields: bool = True) -> list[str]:
        """Every text and label of the page's semantics tree (for failure messages)."""
        return list(self.page.evaluate(TEXTS, fields))

    def row(self, customer: str) -> Any:
        """The conversation's row in the list: one button holding its lines of text."""
        return self.page.locator("flt-semantics[role=button]").filter(has_text=customer)

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)


def lines(node: Any) -> list[str]:
    """A semantics node's text, line by line (a row: name, time, preview, badge)."""
    return [line for line in (node.text_content() or "").split("\n") if line.strip()]


def next_event(events: Any, wanted: Callable[[Event], bool], what: str,
               seen: list[Event], timeout: float = 10) -> Event:
    """The next event `wanted` accepts; every event on the way goes into `seen`."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = events.get(timeout=left)
        if event is None:
            break
        seen.append(event)
        if wanted(event):
            return event
    raise AssertionError(f"the visitor did not receive {what} within {timeout} s; got {seen}")


def paint(png: bytes, box: tuple[int, int, int, int]) -> tuple[Counter[str], int]:
    """The colors (as #RRGGBB, pixel counts) of box (x0, y0, x1, y1), and how many of its
    pixel rows hold a color far from its background (the most common color): ink."""
    x0, y0, x1, y1 = box
    bpp, rows = pixel_rows(png, y1)
    cells = [["#" + row[x * bpp:x * bpp + 3].hex().upper() for x in range(x0, x1)]
             for row in rows[y0:y1]]
    colors = Counter(rgb for line in cells for rgb in line)
    background = int(colors.most_common(1)[0][0][1:], 16)

    def far(rgb: str) -> bool:
        value = int(rgb[1:], 16)
        return max(abs((value >> s & 255) - (background >> s & 255)) for s in (0, 8, 16)) > 60
    return colors, sum(1 for line in cells if any(far(rgb) for rgb in set(line)))


def visitor_history(session: ChatSession) -> list[str]:
    return [m.content for m in session.load_history(limit=100).messages]


def test_agent_answers_a_visitor_live(server: ServedProcess, inbox: InboxApp, page: Any,
                                      visitor: ChatClient, tmp_path: Path) -> None:
    email, password = owner_login("".join(server.output))
    agent = Inbox(page, inbox)
    agent.log_in(email, password)
    assert page.title() == "chatdock inbox"

    # a visitor writes: the row appears live, badged, and the title counts it
    tag = uuid.uuid4().hex[:6]
    name = f"Ada {tag}"
    session = visitor.start_session(f"e2e-{tag}", name=name)
    events = session.events()
    session.connect(timeout=10)
    question = f"Is my parcel on its way? {tag}"
    session.send(question)
    row = agent.row(name)
    agent.wait_until("the row shows the question, badged 1",
                     lambda: row.count() == 1 and lines(row)[-2:] == [question, "1"])
    agent.wait_until("the title counts the unread conversation",
                     lambda: page.title() == "(1) chatdock inbox")

    # open it: the thread shows the question; it is read, so the badge and the count go
    row.click()
    agent.wait_until("the conversation opens", lambda: page.locator(REPLY).count() == 1)
    agent.wait_until("the question is in the thread", lambda: agent.in_thread(question))
    agent.wait_until("the open conversation is read",
                     lambda: page.title() == "chatdock inbox" and lines(row)[-1] == question)

    # reply with the Reply field and Enter: the visitor's socket brings the text
    seen: list[Event] = []
    answer = f"Yes, it left the warehouse this morning. {tag}"
    type_text(page, REPLY, answer)
    page.keyboard.press("Enter")
    got = next_event(events, lambda e: isinstance(e, MessageCreated)
                     and e.message.content == answer, "the agent's reply", seen)
    assert isinstance(got, MessageCreated) and got.message.sender is not None, got
    assert got.message.sender.role == "agent", got
    agent.wait_until("the reply is in the thread", lambda: agent.in_thread(answer))

    # the visitor types: the agent sees it
    session.send_typing()
    agent.wait_until("the visitor's typing shows", lambda: agent.in_thread("Visitor is typing…"))

    # the agent types: the visitor's client is told (the composer pings at most every 3 s,
    # and the reply's own typing just pinged: these keys take longer than that)
    type_text(page, REPLY, "One more thing", delay_ms=300)
    typing = next_event(events, lambda e: isinstance(e, TypingStarted), "TypingStarted", seen)
    assert isinstance(typing, TypingStarted) and typing.role == "agent", typing

    # resolve: the visitor's conversation is resolved
    agent.button("Resolve").click()
    resolved = next_event(events, lambda e: isinstance(e, ConversationUpdated),
                          "ConversationUpdated", seen)
    assert isinstance(resolved, ConversationUpdated) and resolved.status == "resolved", resolved
    agent.button("Reopen").wait_for()

    # a private note: on the agent's screen and stored, never on the visitor's side
    note = f"Customer asked twice; courier called. {tag}"
    type_text(page, NOTE, note)
    agent.button("Add note").click()
    agent.wait_until("the note is in the thread", lambda: agent.in_thread(note))
    stored = httpx.get(f"{server.base}/api/v1/tickets/{session.conversation_id}",
                       headers=auth(server.sk)).json()["data"]["messages"]
    assert [(m["content"], m["type"]) for m in stored if m["content"] == note] == [
        (note, "note")], stored
    # events on the conversation's channel arrive in order: once the reopen that follows the
    # note has arrived, a leaked note would have arrived before it
    after_note: list[Event] = []
    agent.button("Reopen").click()
    reopened = next_event(events, lambda e: isinstance(e, ConversationUpdated),
                          "ConversationUpdated (reopened)", after_note)
    assert isinstance(reopened, ConversationUpdated) and reopened.status == "open", reopened
    leaked = [e for e in after_note if isinstance(e, MessageCreated)]
    assert leaked == [], leaked
    history = visitor_history(session)
    assert question in history and answer in history and note not in history, history

    # what the agent sees: not the splash screen; the reply in the accessibility tree too
    assert agent.in_thread(answer) and agent.in_thread(note), agent.texts()
    shot = tmp_path / "inbox.png"
    png = settled_screenshot(page, str(shot))
    shutil.copy(shot, artifact("inbox_app.png"))
    # the thread: the Reply field's column, from below the header's rows down to the field
    field = page.locator(REPLY).bounding_box()
    assert field is not None
    thread = (int(field["x"]), 150, int(field["x"] + field["width"]), int(field["y"]) - 10)
    colors, ink = paint(png, thread)
    assert ink >= 3 * 14 and colors[AGENT_BG] > 2000 and colors[NOTE_BG] > 2000, (
        f"the conversation area {thread} of {artifact('inbox_app.png')} shows {ink} rows of "
        f"ink, {colors[AGENT_BG]} pixels of the agent's bubble color and {colors[NOTE_BG]} "
        "of the note's, not three messages (the splash screen or the login form?)")
