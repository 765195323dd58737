"""The open conversation: header and actions, the thread, the reply composer, notes.

The thread shows messages oldest to newest with day separators: the visitor's on the
left, agents' on the right, the bot's and system messages marked, private notes marked
"Note" on another background. Opening marks the ticket read and loads its newest WINDOW
messages (`GET /tickets/{id}/messages`, newest first); "Load older" fetches the WINDOW
before them by the server's cursor. Message text is only ever `ft.Text(value=…)`.

The composer is the visitor screen's (Enter sends, Shift+Enter adds a line, typing pings at
most every 3 s) labelled "Reply", plus canned responses: `/shortcut` then a space, or
Enter, replaces the shortcut with the business's canned response. Its attach button sends a
file (what is typed in the reply field goes with it as the caption); attachments show as
on the visitor's screen: images inline, other files as links.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any

import flet as ft

from app_flet.headless.errors import ChatError
from app_flet.inbox.rating import RatingBadge
from app_flet.inbox.ticket_list import ONLINE, customer_name
from app_flet.ui.attachments import (
    FilePick,
    PickFile,
    attachment_controls,
    upload_source,
)
from app_flet.ui.bubble import local_time
from app_flet.ui.composer import Composer, resync
from app_flet.ui.message_list import DaySeparator, day_label
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import AGENT_BUBBLE, ERROR, INK, MUTED

__all__ = ["CannedResponses", "ConversationView", "MessageRow", "ReplyComposer", "Thread",
           "parse_tags"]

WINDOW = 100                 # messages loaded at first, and by each "Load older"
TYPING_TIMEOUT = 6.0         # seconds "Visitor is typing…" stays up without a new ping
UNASSIGNED = "none"
STRINGS = ChatStrings(input_placeholder="Write a reply…", send="Send")
NOTE_BG, AGENT_BG, BOT_BG = "#FEF3C7", "#E0E7FF", "#F1F5F9"
# a shortcut at the end of the text, at its start or after a space / new line
_TYPED_SHORTCUT = re.compile(r"(?:^|(?<=\s))/([A-Za-z0-9_-]{1,32})(\s?)$")


def parse_tags(text: str) -> list[str]:
    """The tags of a comma-separated field (the server checks and lower-cases them)."""
    return [tag.strip() for tag in text.split(",") if tag.strip()]


class CannedResponses:
    """The business's canned responses, fetched once and again when a shortcut is unknown."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._by_shortcut: dict[str, str] | None = None

    async def find(self, shortcut: str) -> str | None:
        """The content for `shortcut`, or None."""
        shortcut = shortcut.lower()
        if self._by_shortcut is None or shortcut not in self._by_shortcut:
            try:
                found = await self.client.canned_responses()
            except ChatError:
                return None  # no expansion: what was typed stays as typed
            self._by_shortcut = {c.shortcut: c.content for c in found}
        return self._by_shortcut.get(shortcut)

    def forget(self) -> None:
        """Fetch again at the next lookup (a response was added, edited or deleted)."""
        self._by_shortcut = None


class ReplyComposer(Composer):
    """The visitor screen's composer, labelled "Reply", expanding `/shortcut`s."""

    def __init__(self, on_send: Callable[[str], Awaitable[bool]],
                 on_typing: Callable[[], Awaitable[None]], canned: CannedResponses,
                 on_attach: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(STRINGS, on_send, on_typing, on_attach=on_attach)
        self.key = "reply-composer"
        self.field.key, self.field.label, self.field.autofocus = "reply", "Reply", False
        self.send_button.key, self.attach_button.key = "send", "attach"
        self.set_uploads(True)  # the server takes agents' files; its 413 / 415 say otherwise
        self._canned = canned

    async def expand_shortcut(self, *, on_enter: bool) -> bool:
        """Replace a trailing `/shortcut` (then a space, or on Enter) with its content."""
        text = self.field.value or ""
        typed = _TYPED_SHORTCUT.search(text if not on_enter else text.rstrip())
        if typed is None or (not on_enter and typed.group(2) == ""):
            return False
        content = await self._canned.find(typed.group(1))
        if content is None:
            return False
        self.field.value = text[:typed.start()] + content
        resync(self.field, text)
        return True

    async def submit(self) -> bool:
        """Enter: expand a trailing shortcut if there is one, else send."""
        if await self.expand_shortcut(on_enter=True):
            return False
        return await super().submit()

    async def _changed(self, e: ft.Event[Any]) -> None:
        await self.expand_shortcut(on_enter=False)
        await super()._changed(e)


class MessageRow(ft.Row):
    """One message from the team's side: the visitor left, agents right, notes marked."""

    def __init__(self, message: Any, visitor_name: str = "Visitor") -> None:
        role = getattr(message.sender, "role", None)
        self.kind = ("note" if message.type == "note" else
                     "system" if role is None or message.type == "system" else
                     "visitor" if message.from_visitor else
                     "bot" if role == "bot" else "agent")
        right = self.kind in ("agent", "note")
        super().__init__(key=f"msg-{message.id}", alignment=(
            ft.MainAxisAlignment.CENTER if self.kind == "system" else
            ft.MainAxisAlignment.END if right else ft.MainAxisAlignment.START))
        self.message = message
        name = getattr(message.sender, "name", None)
        label = {"note": f"Note · {name}" if name else "Note", "bot": "Bot",
                 "system": "System", "agent": name or "Agent",
                 "visitor": name or visitor_name}[self.kind]
        self.label = ft.Text(label, key=f"msg-{message.id}-label", size=11,
                             weight=ft.FontWeight.W_600, color=MUTED)
        self.text = ft.Text(value=message.content, key=f"msg-{message.id}-text", size=14,
                            color=INK, visible=bool(message.content))
        self.attachments = attachment_controls(message, INK)
        self.time = ft.Text(local_time(message, STRINGS), size=10, color=MUTED)
        self.box = ft.Container(
            ft.Column([self.label, self.text, *self.attachments, self.time], spacing=2,
                      tight=True),
            key=f"msg-{message.id}-bubble", border_radius=12, expand=True, expand_loose=True,
            bgcolor={"note": NOTE_BG, "agent": AGENT_BG, "bot": BOT_BG, "system": None,
                     "visitor": AGENT_BUBBLE}[self.kind],
            padding=ft.Padding.symmetric(horizontal=12, vertical=8))
        gutter = ft.Container(width=64)
        self.controls = ([self.box] if self.kind == "system" else
                         [gutter, self.box] if right else [self.box, gutter])


class Thread(ft.ListView):
    """The messages of one conversation, kept once per id, oldest first; "Load older"
    (shown while `older_cursor` is set) asks `on_older` for the page before."""

    def __init__(self) -> None:
        super().__init__(key="thread", expand=True, spacing=6, auto_scroll=True,
                         padding=ft.Padding.symmetric(horizontal=12, vertical=8))
        self.visitor_name = "Visitor"  # the contact's, for messages that carry no name
        self._rows: dict[int, MessageRow] = {}
        self.older_cursor: str | None = None
        self.on_older: Callable[[], Awaitable[None]] | None = None
        self.older_button = ft.TextButton("Load older", key="load-older",
                                          on_click=self._older_clicked)

    @property
    def messages(self) -> list[Any]:
        """Every message loaded, oldest first."""
        return [row.message for row in self._ordered()]

    def row(self, message_id: int) -> MessageRow | None:
        return self._rows.get(message_id)

    def clear(self) -> None:
        self._rows, self.older_cursor, self.visitor_name = {}, None, "Visitor"
        self.controls = []

    def add(self, messages: Iterable[Any]) -> None:
        """Add messages not shown yet (live ones, or an older page), in time order."""
        for message in messages:
            if message.id not in self._rows:
                self._rows[message.id] = MessageRow(message, self.visitor_name)
        self._relayout()

    def _ordered(self) -> list[MessageRow]:
        return sorted(self._rows.values(), key=lambda r: (r.message.created_at, r.message.id))

    def _relayout(self) -> None:
        today = datetime.now().astimezone().date()
        rows: list[ft.Control] = [self.older_button] if self.older_cursor else []
        last_day: date | None = None
        for row in self._ordered():
            day = row.message.created_at.astimezone().date()
            if day != last_day:
                separator = DaySeparator(day)
                separator.label.value = day_label(day, today, STRINGS)
                rows.append(separator)
                last_day = day
            rows.append(row)
        self.controls = rows

    async def _older_clicked(self, e: ft.Event[Any]) -> None:
        if self.on_older is not None:
            await self.on_older()


class ConversationView(ft.Column):
    """The conversation on screen; `on_ticket(ticket)` hears every change made here."""

    def __init__(self, client: Any, me: Any, canned: CannedResponses,
                 on_ticket: Callable[[Any], None] = lambda ticket: None, *,
                 typing_timeout: float = TYPING_TIMEOUT, window: int = WINDOW,
                 pick_file: PickFile | None = None) -> None:
        super().__init__(key="conversation", expand=True, spacing=6)
        self.client, self.me, self._on_ticket = client, me, on_ticket
        self._typing_timeout = typing_timeout
        self._pick_file: PickFile = pick_file or FilePick()
        self.ticket: Any = None
        self.ticket_id: int | None = None
        self._typing_task: asyncio.Task[None] | None = None
        self._opening = 0
        self.placeholder = ft.Text("Pick a conversation.", key="no-conversation", color=MUTED)
        self.name = ft.Text("", key="conversation-name", size=16, weight=ft.FontWeight.BOLD)
        self.online = ft.Container(key="visitor-online", width=10, height=10, border_radius=5,
                                   bgcolor=ONLINE, tooltip="Visitor online", visible=False)
        self.status = ft.Text("", key="conversation-status", color=MUTED)
        self.rating = RatingBadge()
        self.assign_me = ft.Button("Assign to me", key="assign-me", on_click=self._assign_me)
        self.assignee = ft.Dropdown(label="Assignee", key="assignee", dense=True, width=180,
                                    on_select=self._assignee_selected)
        self.resolve_button = ft.Button("Resolve", key="resolve", on_click=self._resolve)
        self.reopen_button = ft.Button("Reopen", key="reopen", on_click=self._reopen)
        self.tags = ft.TextField(label="Tags", key="tags", dense=True, expand=True,
                                 on_submit=self._save_tags)
        self.save_tags = ft.TextButton("Save tags", key="save-tags", on_click=self._save_tags)
        self._window = window
        self.thread = Thread()
        self.thread.on_older = self.load_older
        self.typing = ft.Text("Visitor is typing…", key="visitor-typing", size=12,
                              italic=True, color=MUTED, visible=False)
        self.notice = ft.Text("", key="conversation-notice", size=12, color=ERROR,
                              visible=False)
        self.composer = ReplyComposer(self._send, self._typing, canned, self._attach)
        self.note = ft.TextField(label="Note", key="note", dense=True, expand=True,
                                 multiline=True, shift_enter=True, on_submit=self._add_note)
        self.add_note_button = ft.TextButton("Add note", key="add-note",
                                             on_click=self._add_note)
        self.body = ft.Column([
            ft.Row([self.online, self.name, self.status], spacing=8),
            self.rating,
            ft.Row([self.assign_me, self.assignee, self.resolve_button, self.reopen_button],
                   spacing=8, wrap=True),
            ft.Row([self.tags, self.save_tags], spacing=6),
            self.thread, self.typing, self.notice, self.composer,
            ft.Row([self.note, self.add_note_button], spacing=6),
        ], expand=True, spacing=6, visible=False)
        self.controls = [self.placeholder, self.body]
        self.set_agents([])

    def set_agents(self, agents: Iterable[Any]) -> None:
        """The people a conversation can be assigned to."""
        self.assignee.options = [ft.DropdownOption(key=UNASSIGNED, text="Unassigned")] + [
            ft.DropdownOption(key=str(a.id), text=a.name or a.email) for a in agents
            if a.active]

    def push(self) -> None:
        """Send the changes to the client; a no-op while not mounted."""
        try:
            self.update()
        except RuntimeError:
            pass  # not on a page (yet, or any more)

    # ---------- opening ----------

    async def open(self, ticket_id: int) -> bool:
        """Mark the conversation read and show its newest page; False when it failed."""
        self._opening += 1
        opening = self._opening
        self.ticket_id, self.ticket = ticket_id, None
        self.thread.clear()  # live messages from here on land in it while history loads
        self._hide_typing()
        try:
            ticket = await self.client.mark_read(ticket_id)
            page = await self.client.ticket_messages(ticket_id, limit=self._window)
        except ChatError as err:
            if opening == self._opening:
                self._show_notice(f"Could not open the conversation: {err.message}")
            return False
        if opening != self._opening:
            return False  # another conversation was opened meanwhile
        self.show_ticket(ticket)
        self.thread.older_cursor = page.next_cursor
        self.thread.add(page.messages)
        self.placeholder.visible, self.body.visible = False, True
        self.notice.visible = False
        return True

    async def load_older(self) -> None:
        """The page before the oldest message shown ("Load older")."""
        ticket_id, cursor = self.ticket_id, self.thread.older_cursor
        if ticket_id is None or cursor is None:
            return
        try:
            page = await self.client.ticket_messages(ticket_id, cursor=cursor,
                                                     limit=self._window)
        except ChatError as err:
            self._show_notice(f"Could not load older messages: {err.message}")
            return
        if ticket_id == self.ticket_id:  # still the conversation on screen
            self.thread.older_cursor = page.next_cursor
            self.thread.add(page.messages)
            self.push()

    def show_ticket(self, ticket: Any) -> None:
        """Paint the header and actions for the ticket's current state."""
        self.ticket = ticket
        self.name.value = self.thread.visitor_name = customer_name(ticket)
        self.online.visible = bool(ticket.visitor_online)
        self.status.value = ticket.status.capitalize()
        self.rating.show(ticket.rating)
        resolved = ticket.status == "resolved"
        self.resolve_button.visible, self.reopen_button.visible = not resolved, resolved
        agent = self.me.agent
        self.assign_me.visible = agent is not None and ticket.assigned_to != agent.id
        self.assignee.value = (UNASSIGNED if ticket.assigned_to is None
                               else str(ticket.assigned_to))
        self.tags.value = ", ".join(ticket.tags)

    # ---------- live ----------

    def message_created(self, message: Any) -> None:
        if message.conversation_id != self.ticket_id:
            return
        self.thread.add([message])
        if message.from_visitor:
            self._hide_typing()
            if self.ticket is not None and self.ticket.status == "resolved":
                # the server reopens it (no ConversationUpdated for that): follow suit
                self.show_ticket(dataclasses.replace(self.ticket, status="open"))
        self.push()

    def visitor_typing(self, conversation_id: int) -> None:
        if conversation_id != self.ticket_id:
            return
        self.typing.visible = True
        if self._typing_task is not None:
            self._typing_task.cancel()
        self._typing_task = asyncio.get_running_loop().create_task(self._typing_expired())
        self.push()

    def visitor_online(self, conversation_id: int, online: bool) -> None:
        if conversation_id == self.ticket_id:
            self.online.visible = online
            self.push()

    def ticket_updated(self, ticket: Any) -> None:
        if ticket.id == self.ticket_id and self.ticket is not None:
            self.show_ticket(ticket)
            self.push()

    def contact_updated(self, conversation_id: int, contact: Any) -> None:
        if conversation_id == self.ticket_id and self.ticket is not None:
            self.name.value = contact.name or contact.email or self.name.value
            self.push()

    def _hide_typing(self) -> None:
        self.typing.visible = False
        if self._typing_task is not None:
            self._typing_task.cancel()
            self._typing_task = None

    async def _typing_expired(self) -> None:
        await asyncio.sleep(self._typing_timeout)
        self.typing.visible = False
        self._typing_task = None
        self.push()

    def close(self) -> None:
        """Stop the typing timer (the shell is going away)."""
        self._hide_typing()

    # ---------- actions ----------

    def _show_notice(self, text: str) -> None:
        self.notice.value, self.notice.visible = text, True

    async def _act(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one client call for the open ticket; a failure shows as the notice."""
        try:
            result = await call()
        except ChatError as err:
            self._show_notice(err.message)
            return None
        self.notice.visible = False
        return result

    async def _changed(self, call: Callable[[], Awaitable[Any]]) -> None:
        ticket = await self._act(call)
        if ticket is not None:
            self.show_ticket(ticket)
            self._on_ticket(ticket)

    async def _send(self, text: str) -> bool:
        if self.ticket_id is None:
            return False
        tid = self.ticket_id
        try:
            message = await self.client.reply(tid, text)
        except ChatError as err:
            self.composer.show_notice(err.message)
            return False
        self.message_created(message)
        return True

    async def _attach(self) -> None:
        if self.ticket_id is not None and (picked := await self._pick_file()) is not None:
            await self.upload(picked)
            self.push()

    async def upload(self, file: ft.FilePickerFile) -> bool:
        """Send a picked file to the open conversation, the reply field as its caption."""
        tid, source = self.ticket_id, upload_source(file)
        if tid is None or source is None:
            return False
        field = self.composer.field
        caption = (field.value or "").strip() or None
        self.composer.show_uploading(file.name)
        self.push()
        try:
            message = await self.client.upload(tid, source, file.name, content=caption)
        except ChatError as err:  # 413 / 415: the server's words on the file
            self.composer.show_notice(err.message)
            return False
        finally:
            self.composer.hide_uploading()
        if caption is not None:
            field.value = ""
            resync(field, caption)
        self.message_created(message)
        return True

    async def _typing(self) -> None:
        if self.ticket_id is None:
            return
        try:
            await self.client.typing(self.ticket_id)
        except ChatError:
            pass  # a lost typing ping is not worth bothering the agent

    async def _add_note(self, e: ft.Event[Any]) -> None:
        text = (self.note.value or "").strip()
        if not text or self.ticket_id is None:
            return
        tid = self.ticket_id
        note = await self._act(lambda: self.client.add_note(tid, text))
        if note is not None:
            self.note.value = ""
            resync(self.note, text)
            self.message_created(note)

    async def _assign_me(self, e: ft.Event[Any]) -> None:
        agent, tid = self.me.agent, self.ticket_id
        if agent is not None and tid is not None:
            await self._changed(lambda: self.client.assign(tid, agent.id))

    async def _assignee_selected(self, e: ft.Event[Any]) -> None:
        value, tid = self.assignee.value, self.ticket_id
        if tid is not None:
            agent_id = None if value in (None, UNASSIGNED) else int(str(value))
            await self._changed(lambda: self.client.assign(tid, agent_id))

    async def _resolve(self, e: ft.Event[Any]) -> None:
        if (tid := self.ticket_id) is not None:
            await self._changed(lambda: self.client.resolve(tid))

    async def _reopen(self, e: ft.Event[Any]) -> None:
        if (tid := self.ticket_id) is not None:
            await self._changed(lambda: self.client.reopen(tid))

    async def _save_tags(self, e: ft.Event[Any]) -> None:
        tags, tid = parse_tags(self.tags.value or ""), self.ticket_id
        if tid is not None:
            await self._changed(lambda: self.client.set_tags(tid, tags))
