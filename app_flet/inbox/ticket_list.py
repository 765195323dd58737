"""The conversation list: Mine / Unassigned / All, a status filter, search, live rows.

Rows are kept in the server's `updated_desc` order and follow the business channel: a
MessageCreated moves its row to the top (and badges it unless it is on screen), a
TicketUpdated repaints or drops its row, a TicketCreated (or a message for a conversation
not loaded) reloads the first page, and so does ConnectionChanged("connected") after the
client caught up from a reconnect. "Load more" follows the list's cursor.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import flet as ft

from app_flet.headless.errors import ChatError
from app_flet.inbox.rating import RATING_COLOR, rating_text
from app_flet.launch import mark
from app_flet.ui.theme import DEFAULT_PRIMARY, ERROR, INK, MUTED, WHITE

__all__ = ["PER_PAGE", "VIEWS", "TicketList", "TicketRow", "customer_name", "short_time"]

PER_PAGE = 25
PREVIEW_LENGTH = 140  # as the server cuts it
VIEWS = ("Mine", "Unassigned", "All")
STATUSES = ("open", "pending", "resolved")
ALL_STATUSES = "any"
SELECTED_BG = "#EEF2FF"
ONLINE = "#22C55E"


def customer_name(ticket: Any) -> str:
    """Who the conversation is with: the contact's name, else email, else the visitor."""
    customer = ticket.customer
    return str(customer.name or customer.email or f"Visitor #{ticket.id}")


def short_time(when: datetime, now: datetime | None = None) -> str:
    """Time of day for today's, else the day and month, on this machine's clock."""
    local, today = when.astimezone(), (now or datetime.now().astimezone()).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%d %b")


class TicketRow(ft.Container):
    """One conversation: name, preview, time, unread badge, visitor online dot."""

    def __init__(self, ticket: Any, on_open: Callable[[int], Awaitable[None]]) -> None:
        super().__init__(key=f"ticket-{ticket.id}", on_click=self._clicked, ink=True,
                         padding=ft.Padding.symmetric(horizontal=12, vertical=8))
        self._on_open = on_open
        self.name = ft.Text("", weight=ft.FontWeight.W_600, max_lines=1,
                            overflow=ft.TextOverflow.ELLIPSIS, expand=True, color=INK)
        self.online = ft.Container(width=8, height=8, border_radius=4, bgcolor=ONLINE)
        self.time = ft.Text("", size=11, color=MUTED)
        self.rating = ft.Text("", key=f"rating-{ticket.id}", size=11, color=RATING_COLOR)
        self.preview = ft.Text("", size=12, color=MUTED, max_lines=1,
                               overflow=ft.TextOverflow.ELLIPSIS, expand=True)
        self.badge_text = ft.Text("", size=11, color=WHITE, weight=ft.FontWeight.BOLD)
        self.unread_badge = ft.Container(self.badge_text, key=f"badge-{ticket.id}",
                                  bgcolor=DEFAULT_PRIMARY, border_radius=10,
                                  padding=ft.Padding.symmetric(horizontal=7, vertical=1))
        self.content = ft.Column([
            ft.Row([self.online, self.name, self.rating, self.time], spacing=6),
            ft.Row([self.preview, self.unread_badge], spacing=6),
        ], spacing=2, tight=True)
        self.show(ticket)

    def show(self, ticket: Any, *, selected: bool = False) -> None:
        """Paint the ticket; the open one is highlighted and never badged."""
        self.ticket = ticket
        self.name.value = customer_name(ticket)
        self.preview.value = ticket.last_message_preview or ""
        self.time.value = short_time(ticket.updated_at)
        self.online.visible = bool(ticket.visitor_online)
        rating = ticket.rating
        self.rating.value = "" if rating is None else f"★{rating.score}"
        self.rating.visible = rating is not None
        self.rating.tooltip = rating_text(rating) or None
        unread = 0 if selected else ticket.unread_count
        self.badge_text.value = str(unread)
        self.unread_badge.visible = unread > 0
        self.bgcolor = SELECTED_BG if selected else None

    async def _clicked(self, e: ft.Event[Any]) -> None:
        await self._on_open(self.ticket.id)


class TicketList(ft.Column):
    """The list of conversations; `on_open(ticket_id)` opens one, `on_unread()` says the
    unread count changed (the window title follows it)."""

    def __init__(self, client: Any, me: Any, on_open: Callable[[int], Awaitable[None]],
                 on_unread: Callable[[], None] = lambda: None, *,
                 per_page: int = PER_PAGE) -> None:
        super().__init__(key="ticket-list", expand=True, spacing=6)
        self.client, self.me, self._on_open, self._on_unread = client, me, on_open, on_unread
        self._per_page = per_page
        self.view, self.status, self.query = "All", ALL_STATUSES, ""
        self.open_id: int | None = None
        self.next_cursor: str | None = None
        self.shown = False
        self._rows: dict[int, TicketRow] = {}  # the listed ones
        self._made: dict[int, TicketRow] = {}
        self._unread: dict[int, int] = {}  # every conversation seen, whatever the filter
        self._generation = 0
        self._loading = 0  # first-page loads in flight
        self._during_load: list[Any] = []  # messages that came meanwhile
        self._unmarked: list[Any] = []  # messages waiting for a reload to show their row
        self._reload_task: asyncio.Task[None] | None = None
        self.view_buttons = {name: ft.TextButton(name, key=f"view-{name.lower()}",
                                                 on_click=self._view_clicked)
                             for name in VIEWS}
        self.status_filter = ft.Dropdown(
            label="Status", key="status-filter", value=ALL_STATUSES, dense=True, width=140,
            options=[ft.DropdownOption(key=ALL_STATUSES, text="Any")]
            + [ft.DropdownOption(key=s, text=s.capitalize()) for s in STATUSES],
            on_select=self._status_changed)
        self.search = ft.TextField(label="Search", key="search", dense=True, expand=True,
                                   on_submit=self._search_submitted)
        self.notice = ft.Text("", key="list-notice", size=12, color=ERROR, visible=False)
        self.empty = ft.Text("No conversations.", key="list-empty", color=MUTED, visible=False)
        self.rows = ft.ListView(key="tickets", expand=True, spacing=0)
        self.more_button = ft.TextButton("Load more", key="load-more", visible=False,
                                         on_click=self._more_clicked)
        self.controls = [ft.Row(list(self.view_buttons.values()), spacing=0),
                         ft.Row([self.search, self.status_filter], spacing=6),
                         self.notice, self.empty, self.rows, self.more_button]
        self._paint_views()

    # ---------- what is shown ----------

    def row(self, ticket_id: int) -> TicketRow | None:
        return self._rows.get(ticket_id)

    def unread_elsewhere(self) -> int:
        """How many conversations not on screen have unread messages."""
        return sum(1 for tid, n in self._unread.items() if n > 0 and tid != self.open_id)

    def set_open(self, ticket_id: int | None) -> None:
        """Highlight the conversation on screen; it is read, so its badge goes."""
        previous, self.open_id = self.open_id, ticket_id
        if ticket_id is not None:
            self._unread[ticket_id] = 0
        for tid in {previous, ticket_id} - {None}:
            if tid in self._rows:
                self._paint_row(self._rows[tid].ticket)
        self._on_unread()

    def _assigned_to(self) -> Any:
        return {"Mine": "me", "Unassigned": "unassigned"}.get(self.view)

    def _filters(self) -> dict[str, Any]:
        return {"status": None if self.status == ALL_STATUSES else self.status,
                "assigned_to": self._assigned_to(), "q": self.query or None,
                "sort": "updated_desc", "per_page": self._per_page}

    def _matches(self, ticket: Any) -> bool:
        """Whether the ticket belongs in this view (search results are the server's call)."""
        if self.status != ALL_STATUSES and ticket.status != self.status:
            return False
        if self.view == "Unassigned":
            return ticket.assigned_to is None
        if self.view == "Mine":
            agent = self.me.agent
            return agent is not None and ticket.assigned_to == agent.id
        return True

    # ---------- loading ----------

    async def load(self) -> None:
        """(Re)load the first page for the current view, filter and search."""
        self._generation += 1
        generation = self._generation
        self._loading += 1
        try:
            page = await self.client.list_tickets(**self._filters())
        except ChatError as err:
            self._show_notice(f"Could not load the conversations: {err.message}")
            return
        finally:
            self._loading -= 1
        if generation != self._generation:
            return  # a newer load (another filter, a reload) answers for the list
        self._rows = {}
        self.rows.controls = []
        self._append(page.tickets)
        self.next_cursor = page.next_cursor
        self._replay_missed()
        self._after_load()
        if not self.shown:
            self.shown = True
            mark("list_shown")

    async def load_more(self) -> None:
        """Append the next page (by cursor)."""
        if self.next_cursor is None:
            return
        generation = self._generation
        try:
            page = await self.client.list_tickets(**self._filters(), cursor=self.next_cursor)
        except ChatError as err:
            self._show_notice(f"Could not load more: {err.message}")
            return
        if generation == self._generation:
            self._append(page.tickets)
            self.next_cursor = page.next_cursor
            self._after_load()

    def schedule_reload(self) -> None:
        """Reload soon, once for a burst of events (on Flet's loop)."""
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.get_running_loop().create_task(self._reload_soon())

    async def _reload_soon(self) -> None:
        await asyncio.sleep(0.05)
        await self.load()
        self.push()

    def _row_for(self, ticket: Any) -> TicketRow:
        """The ticket's row, made once: Flet freezes a new control that takes the key of
        one it has shown, and rows repaint live."""
        row = self._made.get(ticket.id)
        if row is None:
            row = self._made[ticket.id] = TicketRow(ticket, self._on_open)
        row.ticket = ticket
        self._rows[ticket.id] = row
        return row

    def _append(self, tickets: Any) -> None:
        for ticket in tickets:
            if ticket.id in self._rows:
                continue
            self._remember(ticket)
            self.rows.controls.append(self._row_for(ticket))
            self._paint_row(ticket)

    def _after_load(self) -> None:
        self.notice.visible = False
        self.more_button.visible = self.next_cursor is not None
        self.empty.visible = not self._rows
        self._on_unread()

    def _remember(self, ticket: Any) -> None:
        self._unread[ticket.id] = 0 if ticket.id == self.open_id else ticket.unread_count

    def _paint_row(self, ticket: Any) -> None:
        ticket = dataclasses.replace(ticket, unread_count=self._unread.get(ticket.id, 0))
        self._rows[ticket.id].show(ticket, selected=ticket.id == self.open_id)

    def _to_top(self, row: TicketRow) -> None:
        self.rows.controls = [row] + [c for c in self.rows.controls if c is not row]

    def _show_notice(self, text: str) -> None:
        self.notice.value, self.notice.visible = text, True

    def push(self) -> None:
        """Send the changes to the client; a no-op while not mounted."""
        try:
            self.update()
        except RuntimeError:
            pass  # not on a page (yet, or any more): the next mount renders the state

    # ---------- live ----------

    def _replay_missed(self) -> None:
        """Messages that came while the page loaded (the page may predate them), and the
        marks of messages whose rows only a reload brought."""
        missed = self._during_load
        if not self._loading:  # else the load still out replays them too
            self._during_load = []
        for message in missed:
            self._apply(message)
        unmarked, self._unmarked = self._unmarked, []
        for message in unmarked:
            if message.conversation_id in self._rows:
                mark(f"badge {message.conversation_id} {message.id}")

    def message_created(self, message: Any) -> None:
        """A new message: its row goes to the top, badged unless it is on screen."""
        if message.type == "note":
            return  # a note changes neither the preview nor the unread count
        if self._loading:
            self._during_load.append(message)
        row = self._apply(message)
        self._on_unread()
        self.push()
        if row is not None:
            mark(f"badge {message.conversation_id} {message.id}")

    def _apply(self, message: Any) -> TicketRow | None:
        """Count the message and move its row up, unless the row's data already has it."""
        tid = message.conversation_id
        row = self._rows.get(tid)
        if row is None:  # a conversation further down, or new to this view
            self._unmarked.append(message)
            self.schedule_reload()
            return None
        if message.created_at <= row.ticket.updated_at:
            return row  # a page loaded after the message counted it already
        if message.from_visitor and tid != self.open_id:
            self._unread[tid] = self._unread.get(tid, 0) + 1
        elif not message.from_visitor:
            self._unread[tid] = 0  # a reply marks the conversation read
        row.ticket = dataclasses.replace(
            row.ticket, updated_at=message.created_at,
            last_message_preview=" ".join(message.content.split())[:PREVIEW_LENGTH],
            status="open" if message.from_visitor else row.ticket.status)
        self._paint_row(row.ticket)
        self._to_top(row)
        if not self._matches(row.ticket):  # a visitor reopened it: not "resolved" any more
            self._drop(tid)
        return row

    def _drop(self, ticket_id: int) -> None:
        row = self._rows.pop(ticket_id, None)
        if row is not None:
            self.rows.controls = [c for c in self.rows.controls if c is not row]
            self.empty.visible = not self._rows

    def ticket_updated(self, ticket: Any) -> None:
        """The server's whole ticket: repaint its row, or drop it from this view."""
        self._remember(ticket)
        row = self._rows.get(ticket.id)
        if not self._matches(ticket):
            self._drop(ticket.id)
        elif row is not None:
            row.ticket = ticket
            self._paint_row(ticket)
        elif not self.query:
            self._to_top(self._row_for(ticket))
            self._paint_row(ticket)
        self.empty.visible = not self._rows
        self._on_unread()
        self.push()

    def visitor_online(self, conversation_id: int, online: bool) -> None:
        row = self._rows.get(conversation_id)
        if row is not None:
            row.ticket = dataclasses.replace(row.ticket, visitor_online=online)
            self._paint_row(row.ticket)
            self.push()

    def contact_updated(self, conversation_id: int, contact: Any) -> None:
        row = self._rows.get(conversation_id)
        if row is not None:
            customer = dataclasses.replace(row.ticket.customer, name=contact.name,
                                           email=contact.email)
            row.ticket = dataclasses.replace(row.ticket, customer=customer)
            self._paint_row(row.ticket)
            self.push()

    # ---------- user actions ----------

    def _paint_views(self) -> None:
        for name, button in self.view_buttons.items():
            button.style = ft.ButtonStyle(
                bgcolor=SELECTED_BG if name == self.view else None,
                color=DEFAULT_PRIMARY if name == self.view else INK)

    async def show_view(self, view: str) -> None:
        """Switch to "Mine", "Unassigned" or "All"."""
        self.view = view
        self._paint_views()
        await self.load()

    async def _view_clicked(self, e: ft.Event[Any]) -> None:
        await self.show_view(str(e.control.content))

    async def _status_changed(self, e: ft.Event[Any]) -> None:
        self.status = self.status_filter.value or ALL_STATUSES
        await self.load()

    async def _search_submitted(self, e: ft.Event[Any]) -> None:
        self.query = (self.search.value or "").strip()
        await self.load()

    async def _more_clicked(self, e: ft.Event[Any]) -> None:
        await self.load_more()
