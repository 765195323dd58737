"""Each part of the chat screen on its own: built with data and callbacks, driven by its
handlers (`ft.Event`), asserted on its properties. No page and no server needed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import flet as ft
import pytest

from app_flet.headless.models import Attachment, Branding, ChatMessage, Sender
from app_flet.ui import ChatStrings
from app_flet.ui.attachments import too_large, upload_source
from app_flet.ui.bubble import MessageBubble
from app_flet.ui.composer import Composer
from app_flet.ui.header import OFFLINE, ONLINE, ChatHeader
from app_flet.ui.message_list import MessageList
from app_flet.ui.prechat import PreChatForm, plausible_email
from app_flet.ui.states import ConnectionBanner, ErrorView
from app_flet.ui.theme import AGENT_BUBBLE, INK, WHITE, Palette, contrast_ratio, readable_on
from tests.flet_page import find, walk
from tests.ui.conftest import fire, run

STRINGS = ChatStrings()
PALETTE = Palette.from_branding(Branding("#0E7490", "#F59E0B", None, None))
NOON = datetime(2026, 3, 10, 12, 0).astimezone()  # local noon: day arithmetic stays local


def message(id: int, content: str = "hi", *, visitor: bool = True,
            at: datetime = NOON, sender: Sender | None = None) -> ChatMessage:
    return ChatMessage(id=id, direction="inbound" if visitor else "outbound", type="text",
                       content=content, created_at=at.astimezone(UTC), sender=sender)


# ---------- strings and colors ----------

def test_strings_defaults_and_partial_override() -> None:
    assert STRINGS.title == "Chat with us" and STRINGS.send == "Send"
    assert STRINGS.typing_indicator == "Agent is typing…"
    french = ChatStrings(send="Envoyer", try_again="Réessayer")
    assert (french.send, french.try_again, french.title) == ("Envoyer", "Réessayer",
                                                              "Chat with us")
    assert dataclasses.replace(STRINGS, today="Aujourd'hui").today == "Aujourd'hui"
    with pytest.raises(dataclasses.FrozenInstanceError):
        STRINGS.send = "x"  # type: ignore[misc]
    assert all(isinstance(v, str) and v for v in dataclasses.asdict(STRINGS).values())


@pytest.mark.parametrize(("background", "text"), [
    ("#0E7490", WHITE), ("#4F46E5", WHITE), ("#111827", WHITE),
    ("#FDE047", INK), ("#FFFFFF", INK), ("#F59E0B", INK),
])
def test_readable_text_color(background: str, text: str) -> None:
    assert readable_on(background) == text
    assert contrast_ratio(background, text) >= 4.5


def test_palette_from_branding_falls_back_on_bad_colors() -> None:
    assert PALETTE == Palette("#0E7490", WHITE, "#F59E0B", INK)
    assert Palette.from_branding(Branding("teal", "#12", None, None)) == Palette()
    assert Palette.from_branding(None) == Palette()


# ---------- header ----------

def test_header_initial_avatar_presence_and_colors() -> None:
    header = ChatHeader(STRINGS)
    header.paint("acme support", None, 2, PALETTE)
    assert header.bgcolor == "#0E7490"
    assert header.name.value == "acme support" and header.name.color == WHITE
    assert header.avatar.visible and not header.logo.visible
    assert header.initial.value == "A" and header.avatar.bgcolor == WHITE
    assert header.status.value == "Online" and header.pip.bgcolor == ONLINE
    assert not header.close_button.visible  # no on_close: nowhere to close to

    header.paint("Acme", "https://cdn.example/logo.png", 0, Palette.from_branding(
        Branding("#FDE047", "#111827", None, "https://cdn.example/logo.png")))
    assert header.logo.visible and header.logo.src == "https://cdn.example/logo.png"
    assert not header.avatar.visible
    assert header.status.value == "We'll get back to you" and header.pip.bgcolor == OFFLINE
    assert header.name.color == INK  # dark text on a yellow header


def test_header_close_button_calls_back() -> None:
    closed: list[bool] = []

    async def on_close() -> None:
        closed.append(True)

    header = ChatHeader(STRINGS, on_close=on_close)
    assert header.close_button.visible and header.close_button.tooltip == "Close chat"
    assert header.close_button.key == "chat-close"
    run(lambda: fire(header.close_button))
    assert closed == [True]


# ---------- bubbles ----------

def test_visitor_bubble_right_in_primary_color() -> None:
    bubble = MessageBubble(message(1, "Hello"), PALETTE, STRINGS)
    assert bubble.alignment == ft.MainAxisAlignment.END
    assert bubble.controls[-1] is bubble.box  # gutter on the left, bubble on the right
    assert bubble.box.bgcolor == "#0E7490" and bubble.text.color == WHITE
    assert bubble.text.value == "Hello"
    assert bubble.time.value == NOON.strftime("%H:%M")


def test_agent_bubble_left_with_sender_name() -> None:
    bubble = MessageBubble(message(2, "Hi!", visitor=False, sender=Sender("agent", "Dana")),
                           PALETTE, STRINGS)
    assert bubble.alignment == ft.MainAxisAlignment.START
    assert bubble.controls[0] is bubble.box
    assert bubble.box.bgcolor == AGENT_BUBBLE and bubble.text.color == INK
    assert bubble.sender.visible and bubble.sender.value == "Dana"


@pytest.mark.parametrize("content", [
    "**bold** _it_ [link](https://evil.example) ![img](https://evil.example/x.png)",
    "<b>bold</b><script>alert(1)</script><img src=x onerror=alert(1)>",
    "# Heading\n\n- item\n```code```",
])
def test_messages_render_as_literal_plain_text(content: str) -> None:
    bubble = MessageBubble(message(3, content, visitor=False), PALETTE, STRINGS)
    assert isinstance(bubble.text, ft.Text) and bubble.text.value == content
    assert bubble.text.spans is None
    assert not any(isinstance(c, ft.Markdown) for c in walk(bubble))


PHOTO = Attachment(7, "photo.png", "image/png", 1234, "http://chat.test/a/7?sig=x")
TERMS = Attachment(8, "<b>terms</b>.pdf", "application/pdf", 99, "http://chat.test/a/8?sig=y")


def test_attachments_show_images_inline_and_files_as_links() -> None:
    sent = dataclasses.replace(message(4, ""), type="attachment", attachments=(PHOTO, TERMS))
    bubble = MessageBubble(sent, PALETTE, STRINGS)
    assert not bubble.text.visible  # no caption: no empty line above the picture
    image, link = find(bubble, "msg-4-att-7"), find(bubble, "msg-4-att-8")
    assert isinstance(image, ft.Image)
    assert (image.src, image.semantics_label) == (PHOTO.signed_url, "photo.png")
    assert isinstance(link, ft.TextButton) and link.url == TERMS.signed_url
    assert link.content.value == "<b>terms</b>.pdf"  # a name is text, never markup
    assert link.content.color == WHITE  # the visitor's bubble: readable on the primary
    assert not any(isinstance(c, ft.Markdown) for c in walk(bubble))

    captioned = dataclasses.replace(message(5, "the invoice", visitor=False),
                                    type="attachment", attachments=(TERMS,))
    bubble = MessageBubble(captioned, PALETTE, STRINGS)
    assert bubble.text.visible and bubble.text.value == "the invoice"
    assert find(bubble, "msg-5-att-8").content.color == INK


def test_picked_files_web_bytes_or_desktop_path_and_the_size_limit() -> None:
    desktop = ft.FilePickerFile(id=1, name="a.png", size=10, path="/tmp/a.png")
    web = ft.FilePickerFile(id=2, name="a.png", size=10, bytes=b"png")
    assert upload_source(desktop) == "/tmp/a.png" and upload_source(web) == b"png"
    assert not too_large(ft.FilePickerFile(id=3, name="b", size=5 * 1024), 5)
    assert too_large(ft.FilePickerFile(id=4, name="b", size=5 * 1024 + 1), 5)


# ---------- message list ----------

def test_list_dedupes_by_id_and_orders_by_time() -> None:
    lst = MessageList(STRINGS, PALETTE, clock=lambda: NOON)
    later, earlier = message(2, "second", at=NOON), message(1, "first",
                                                            at=NOON - timedelta(minutes=5))
    assert lst.add([later]) == [later]
    assert lst.add([earlier, later]) == [earlier]  # history overlapping a pushed message
    assert lst.add([dataclasses.replace(later)]) == []  # the echo of a send
    assert [m.content for m in lst.messages] == ["first", "second"]


def test_list_day_separators() -> None:
    lst = MessageList(STRINGS, PALETTE, clock=lambda: NOON)
    lst.add([message(1, "old", at=NOON - timedelta(days=3)),
             message(2, "y1", at=NOON - timedelta(days=1)),
             message(3, "y2", at=NOON - timedelta(days=1, minutes=-5)),
             message(4, "now", at=NOON)])
    rows: list[Any] = list(lst.list.controls)
    labels = [row.label.value if hasattr(row, "label") else row.text.value for row in rows]
    three_days = (NOON - timedelta(days=3)).date().strftime(STRINGS.day_format)
    assert labels == [three_days, "old", "Yesterday", "y1", "y2", "Today", "now"]
    assert all(row.alignment == ft.MainAxisAlignment.CENTER
               for row in rows if hasattr(row, "label"))


def test_empty_state_shows_the_welcome_message() -> None:
    lst = MessageList(STRINGS, PALETTE)
    assert lst.empty.visible and not lst.list.visible
    assert lst.welcome.value == STRINGS.welcome_fallback
    assert lst.empty_hint.visible and lst.empty_hint.value == STRINGS.empty_history
    lst.set_welcome("Welcome to Acme! Ask us anything.")
    assert lst.welcome.value == "Welcome to Acme! Ask us anything."
    assert not lst.empty_hint.visible
    lst.add([message(1)])
    assert not lst.empty.visible and lst.list.visible


def test_typing_row() -> None:
    lst = MessageList(STRINGS, PALETTE)
    assert not lst.typing_row.visible
    lst.show_typing()
    assert lst.typing_row.visible and lst.typing.value == "Agent is typing…"
    lst.show_typing("Dana")
    assert lst.typing.value == "Dana is typing…"
    lst.hide_typing()
    assert not lst.typing_row.visible


def test_list_repaints_bubbles() -> None:
    lst = MessageList(STRINGS, PALETTE)
    lst.add([message(1)])
    lst.paint(Palette.from_branding(Branding("#FDE047", "#000000", None, None)))
    bubble = find(lst, "msg-1")
    assert bubble.box.bgcolor == "#FDE047" and bubble.text.color == INK


# ---------- composer ----------

class Recorder:
    def __init__(self, accept: bool = True) -> None:
        self.accept, self.pings = accept, 0
        self.sent: list[str] = []

    async def send(self, text: str) -> bool:
        self.sent.append(text)
        return self.accept

    async def typing(self) -> None:
        self.pings += 1


def test_composer_enter_sends_shift_enter_adds_a_line() -> None:
    rec = Recorder()
    composer = Composer(STRINGS, rec.send, rec.typing)
    field = composer.field
    assert field.multiline and field.shift_enter  # Enter -> on_submit, Shift+Enter -> newline
    assert field.key == "chat-input" and field.hint_text == "Type a message…"
    assert composer.send_button.key == "chat-send" and composer.send_button.tooltip == "Send"
    field.value = "  line one\nline two  "
    run(lambda: fire(field, "submit"))
    assert rec.sent == ["line one\nline two"] and field.value == ""
    run(lambda: fire(composer.send_button))
    assert rec.sent == ["line one\nline two"]  # nothing typed: nothing sent


def test_composer_keeps_text_when_the_send_fails() -> None:
    rec = Recorder(accept=False)
    composer = Composer(STRINGS, rec.send)
    composer.field.value = "please keep me"
    run(lambda: fire(composer.send_button))
    assert rec.sent == ["please keep me"] and composer.field.value == "please keep me"
    assert not composer.send_button.disabled and not composer.busy


def test_composer_respects_max_length() -> None:
    rec = Recorder()
    composer = Composer(STRINGS, rec.send, max_length=10)
    assert composer.field.max_length == 10
    composer.set_max_length(5)
    composer.field.value = "123456"
    assert run(composer.submit) is False
    assert rec.sent == [] and composer.notice.visible
    assert composer.notice.value == "This message is too long (6 of 5 characters)."
    composer.field.value = "12345"
    assert run(composer.submit) is True and rec.sent == ["12345"]
    assert not composer.notice.visible


def test_composer_typing_pings_are_debounced() -> None:
    now = [100.0]
    rec = Recorder()
    composer = Composer(STRINGS, rec.send, rec.typing, clock=lambda: now[0])
    field = composer.field

    def keystroke(text: str, at: float) -> None:
        now[0], field.value = at, text
        run(lambda: fire(field, "change"))

    for i, t in enumerate([100.0, 100.5, 101.0, 102.9]):
        keystroke("h" * (i + 1), t)
    assert rec.pings == 1
    keystroke("hello", 103.1)
    assert rec.pings == 2
    keystroke("", 107.0)  # clearing the field is not typing
    assert rec.pings == 2


def test_composer_attach_button_shows_when_uploads_are_on() -> None:
    asked: list[bool] = []

    async def attach() -> None:
        asked.append(True)

    composer = Composer(STRINGS, Recorder().send, on_attach=attach)
    button = composer.attach_button
    assert button.key == "chat-attach" and button.tooltip == "Attach a file"
    assert not button.visible  # until the config says the server takes files
    composer.set_uploads(True)
    assert button.visible
    run(lambda: fire(button))
    assert asked == [True]
    composer.show_uploading("photo.png")
    assert composer.upload_status.visible and button.disabled
    assert composer.upload_text.value == "Uploading photo.png…"
    run(lambda: fire(button))
    assert asked == [True]  # one upload at a time
    composer.hide_uploading()
    assert not composer.upload_status.visible and not button.disabled
    composer.set_uploads(False)
    assert not button.visible
    plain = Composer(STRINGS, Recorder().send)
    plain.set_uploads(True)
    assert not plain.attach_button.visible  # nothing to call: no button


def test_composer_send_button_in_accent_color() -> None:
    composer = Composer(STRINGS, Recorder().send)
    composer.paint(PALETTE)
    assert composer.send_button.bgcolor == "#F59E0B" and composer.send_button.icon_color == INK


# ---------- pre-chat form, error view, banner ----------

@pytest.mark.parametrize(("value", "ok"), [
    ("ana@example.com", True), (" ana@example.co.uk ", True), ("", False), ("ana", False),
    ("ana@example", False), ("a b@example.com", False),
])
def test_plausible_email(value: str, ok: bool) -> None:
    assert plausible_email(value) is ok


def test_prechat_form_validates_locally_then_submits() -> None:
    submitted: list[tuple[str | None, str]] = []

    async def on_submit(name: str | None, email: str) -> None:
        submitted.append((name, email))

    form = PreChatForm(STRINGS, on_submit)
    assert form.name.label == "Name" and form.email.label == "Email"
    form.email.value = "not-an-email"
    run(lambda: fire(form.submit_button))
    assert submitted == [] and form.email.error == "Enter a valid email address."
    form.name.value, form.email.value = " Ana ", "ana@example.com"
    run(lambda: fire(form.email, "submit"))
    assert submitted == [("Ana", "ana@example.com")] and form.email.error is None
    assert not form.submit_button.disabled


def test_error_view_retry() -> None:
    retried: list[bool] = []

    async def retry() -> None:
        retried.append(True)

    view = ErrorView(STRINGS, retry)
    assert view.retry_button.content == "Try again" and view.retry_button.key == "chat-retry"
    run(lambda: fire(view.retry_button))
    assert retried == [True]


@pytest.mark.parametrize(("state", "visible", "text"), [
    ("connecting", True, "Connecting…"), ("reconnecting", True, "Reconnecting…"),
    ("connected", False, ""), ("closed", False, ""),
])
def test_connection_banner(state: str, visible: bool, text: str) -> None:
    banner = ConnectionBanner(STRINGS)
    banner.show_state(state)
    assert banner.visible is visible and banner.text.value == text


def test_accessible_names_for_browser_tests() -> None:
    """Flutter web exposes these as <textarea aria-label="Type a message…"> and
    role=button elements named "Send" / "Close chat" (MergeSemantics joins each icon
    button with its tooltip; message text stays non-selectable so it is in the tree)."""
    async def on_close() -> None: ...

    composer, header = Composer(STRINGS, Recorder().send), ChatHeader(STRINGS, on_close)
    assert composer.field.hint_text == "Type a message…"
    for root, buttons, names in (
            (composer, [composer.attach_button, composer.send_button], ["Attach a file", "Send"]),
            (header, [header.close_button], ["Close chat"])):
        merged = [c for c in walk(root) if isinstance(c, ft.MergeSemantics)]
        assert [m.content for m in merged] == buttons
        assert [b.tooltip for b in buttons] == names
    bubble = MessageBubble(message(9, "findable"), PALETTE, STRINGS)
    assert not bubble.text.selectable
