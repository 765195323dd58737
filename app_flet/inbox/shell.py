"""The inbox around its parts: log in, then navigation (Inbox; Branding, Keys and Team for
owners; Log out) over the list, the open conversation and the contact panel.

Realtime events arrive on the client's event thread and hop to Flet's loop with
`page.run_task` (or, unmounted, the loop the shell started on); every repaint tolerates
the shell not being mounted. The window title counts the conversations not on screen
with unread messages: "(N) chatdock inbox".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless import (
    ConnectionChanged,
    ContactUpdated,
    MessageCreated,
    TicketCreated,
    TicketUpdated,
    VisitorOffline,
    VisitorOnline,
    VisitorTyping,
)
from app_flet.headless.errors import ChatError
from app_flet.inbox.availability_page import AvailabilityPage
from app_flet.inbox.bot_page import BotPage
from app_flet.inbox.contact_panel import ContactPanel
from app_flet.inbox.conversation import TYPING_TIMEOUT, CannedResponses, ConversationView
from app_flet.inbox.knowledge_page import KnowledgePage
from app_flet.inbox.login import LoginView
from app_flet.inbox.pages import BrandingPage, CannedPage, KeysPage, TeamPage
from app_flet.inbox.ticket_list import TicketList
from app_flet.inbox.webhooks_page import WebhooksPage
from app_flet.launch import mark
from app_flet.ui.attachments import PickFile
from app_flet.ui.hop import hop
from app_flet.ui.states import ConnectionBanner
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import MUTED, SURFACE

__all__ = ["TITLE", "InboxScreen", "InboxShell", "title_for"]

log = logging.getLogger("chatdock.inbox")

TITLE = "chatdock inbox"
OWNER_PAGES: dict[str, Callable[[Any], Any]] = {
    "Branding": BrandingPage, "Keys": KeysPage, "Team": TeamPage, "Webhooks": WebhooksPage,
    "Availability": AvailabilityPage,
    "Bot": BotPage,
    "Knowledge": KnowledgePage}


def title_for(unread: int) -> str:
    """The window title: how many conversations not on screen wait, then the app's name."""
    return f"({unread}) {TITLE}" if unread else TITLE


class InboxShell(ft.Row):
    """What a logged-in agent sees. `await start()` loads and connects; `close()` stops."""

    def __init__(self, client: Any, me: Any, on_logout: Callable[[], Awaitable[None]], *,
                 typing_timeout: float = TYPING_TIMEOUT, pick_file: PickFile | None = None
                 ) -> None:
        super().__init__(key="shell", expand=True, spacing=0,
                         vertical_alignment=ft.CrossAxisAlignment.STRETCH)
        self.client, self.me, self._on_logout = client, me, on_logout
        self.title = TITLE
        self.closed = False
        self._page: ft.Page | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.list = TicketList(client, me, self.open_ticket, self._unread_changed)
        canned = CannedResponses(client)
        self.conversation = ConversationView(client, me, canned,
                                             self.list.ticket_updated,
                                             typing_timeout=typing_timeout,
                                             pick_file=pick_file)
        self.contact = ContactPanel(client, self.open_ticket)
        self.inbox = ft.Row([
            ft.Container(self.list, width=340, padding=8),
            ft.VerticalDivider(width=1),
            ft.Container(self.conversation, expand=True, padding=8),
            ft.VerticalDivider(width=1),
            ft.Container(self.contact, width=300, padding=8),
        ], key="inbox", expand=True, spacing=0,
            vertical_alignment=ft.CrossAxisAlignment.STRETCH)
        owner = me.agent is not None and me.agent.role == "owner"
        self.pages: dict[str, Any] = {"Canned responses": CannedPage(client, canned.forget)}
        if owner:
            self.pages.update({name: make(client) for name, make in OWNER_PAGES.items()})
        self.nav = {name: ft.TextButton(name, key=f"nav-{name.lower().replace(' ', '-')}",
                                        on_click=self._nav_clicked)
                    for name in ["Inbox", *self.pages]}
        who = (me.agent.name or me.agent.email) if me.agent is not None else "secret key"
        self.logout_button = ft.TextButton("Log out", key="logout", on_click=self._logout)
        self.banner = ConnectionBanner(ChatStrings())
        self.body = ft.Container(self.inbox, key="shell-body", expand=True)
        self.controls = [
            ft.Container(ft.Column([ft.Text(TITLE, weight=ft.FontWeight.BOLD),
                                    ft.Text(who, size=12, color=MUTED), *self.nav.values(),
                                    ft.Container(expand=True), self.logout_button],
                                   spacing=4), width=150, padding=8, bgcolor=SURFACE),
            ft.Column([self.banner, self.body], expand=True, spacing=0)]

    # ---------- lifecycle ----------

    def did_mount(self) -> None:
        super().did_mount()
        self._page = self.page
        self._apply_title()

    def will_unmount(self) -> None:
        super().will_unmount()
        self._page = None

    async def start(self) -> None:
        """Load the team and the list, then follow the business channel."""
        self._loop = asyncio.get_running_loop()
        await asyncio.gather(self._load_agents(), self.list.load())  # one round trip, not two
        self.push()
        if self.closed:
            return
        self._unsubscribe = self.client.on(self._deliver)
        try:
            await self.client.connect()
        except ChatError as err:  # REST still works; the client keeps reconnecting
            log.warning("realtime did not connect: %r", err)

    async def _load_agents(self) -> None:
        try:
            self.conversation.set_agents(await self.client.list_agents())
        except ChatError as err:  # the list still works; assigning to others does not
            log.warning("could not load the agents: %r", err)

    def close(self) -> None:
        """Stop listening (idempotent)."""
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.conversation.close()

    def push(self) -> None:
        """Send the changes to the client; a no-op while not mounted."""
        try:
            self.update()
        except RuntimeError:
            pass  # not on a page (yet, or any more)

    # ---------- navigation ----------

    async def show(self, name: str) -> None:
        """Show "Inbox" or an owner page (loaded each time it is shown)."""
        page = self.pages.get(name)
        self.body.content = page if page is not None else self.inbox
        for label, button in self.nav.items():
            button.style = ft.ButtonStyle(bgcolor="#EEF2FF" if label == name else None)
        self.push()
        if page is not None:
            await page.load()

    async def open_ticket(self, ticket_id: int) -> None:
        """Open a conversation: read it (its badge goes), show it and its contact."""
        if self.body.content is not self.inbox:
            await self.show("Inbox")
        self.list.set_open(ticket_id)
        self.push()
        if await self.conversation.open(ticket_id):
            ticket = self.conversation.ticket
            self.list.ticket_updated(ticket)
            self.push()
            if ticket.customer.id is not None:
                await self.contact.show(ticket.customer.id, current_ticket_id=ticket_id)
        self.push()

    async def _nav_clicked(self, e: ft.Event[Any]) -> None:
        await self.show(str(e.control.content))

    async def _logout(self, e: ft.Event[Any]) -> None:
        self.close()
        await self._on_logout()

    # ---------- title ----------

    def _unread_changed(self) -> None:
        self.title = title_for(self.list.unread_elsewhere())
        self._apply_title()

    def _apply_title(self) -> None:
        if self._page is not None and self._page.title != self.title:
            self._page.title = self.title
            try:
                self._page.update()
            except RuntimeError:
                pass  # the page's session is gone

    # ---------- realtime ----------

    def _deliver(self, event: Any) -> None:
        """Runs on the client's event thread: hop to Flet's loop."""
        hop(self._page, self._loop, self.handle_event, event)

    async def _mark_read(self, ticket_id: int) -> None:
        """The open conversation's new message is read: say so to the server too (the
        unread count is the team's; a reload or another agent would see it unread)."""
        try:
            await self.client.mark_read(ticket_id)
        except ChatError as err:  # the next open or reply clears it
            log.warning("could not mark ticket %s read: %r", ticket_id, err)

    async def handle_event(self, event: Any) -> None:
        """Apply one business-channel event (on Flet's loop)."""
        if self.closed:
            return
        if isinstance(event, MessageCreated):
            self.conversation.message_created(event.message)
            self.list.message_created(event.message)
            open_id = self.conversation.ticket_id
            if (event.message.from_visitor and open_id is not None
                    and open_id == event.message.conversation_id):
                await self._mark_read(open_id)
        elif isinstance(event, TicketUpdated):
            self.list.ticket_updated(event.ticket)
            self.conversation.ticket_updated(event.ticket)
        elif isinstance(event, TicketCreated):
            self.list.schedule_reload()
        elif isinstance(event, VisitorTyping):
            self.conversation.visitor_typing(event.conversation_id)
        elif isinstance(event, (VisitorOnline, VisitorOffline)):
            online = isinstance(event, VisitorOnline)
            self.list.visitor_online(event.conversation_id, online)
            self.conversation.visitor_online(event.conversation_id, online)
        elif isinstance(event, ContactUpdated):
            for conversation_id in event.conversation_ids:
                self.list.contact_updated(conversation_id, event.contact)
                self.conversation.contact_updated(conversation_id, event.contact)
        elif isinstance(event, ConnectionChanged):
            self.banner.show_state(event.state)
            self.push()
            if event.state == "connected":
                await self.list.load()  # caught up: what changed meanwhile is in the list
                self.push()


class InboxScreen(ft.Column):
    """The whole app: the log-in form, then the shell; logging out comes back here."""

    def __init__(self, client: Any, *, mode: str = "test") -> None:
        super().__init__(key="inbox-screen", expand=True, spacing=0)
        self.client, self._mode = client, mode
        self.shell: InboxShell | None = None
        self.login = LoginView(client, self._logged_in, mode=mode)
        self.controls = [self.login]

    def push(self) -> None:
        try:
            self.update()
        except RuntimeError:
            pass  # not mounted

    async def _logged_in(self, me: Any) -> None:
        mark("login_done")
        self.shell = InboxShell(self.client, me, self.logout)
        self.controls = [self.shell]
        self.push()
        await self.shell.start()

    async def logout(self) -> None:
        """Log out on the server (the token dies), back to the form."""
        if self.shell is not None:
            self.shell.close()
            self.shell = None
        try:
            await self.client.logout()
        except ChatError as err:  # the token is forgotten either way
            log.warning("logout failed: %r", err)
        self.login = LoginView(self.client, self._logged_in, mode=self._mode)
        self.controls = [self.login]
        try:
            self.page.title = TITLE
        except RuntimeError:
            pass  # not mounted
        self.push()
