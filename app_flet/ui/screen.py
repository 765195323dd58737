"""ChatScreen: the whole chat as one control, driven by an injected headless client.

Flow: fetch config -> paint -> pre-chat form if the business requires it -> start the
session -> load history -> subscribe + connect -> heartbeat. Network calls are awaited on
Flet's event loop; realtime events arrive on the client's reader thread and hop to the
loop with `page.run_task`. Every repaint tolerates the control not being mounted (yet or
any more), so the screen also works unmounted in tests and after it was removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless.errors import ChatConnectionError, ChatError, ValidationError
from app_flet.headless.models import (
    AvailabilityUpdated,
    BrandingUpdated,
    ConnectionChanged,
    ConversationUpdated,
    MessageCreated,
    PresenceUpdated,
    TypingStarted,
)
from app_flet.ui.attachments import FilePick, PickFile, too_large, upload_source
from app_flet.ui.away import AwayBanner
from app_flet.ui.composer import Composer
from app_flet.ui.header import ChatHeader
from app_flet.ui.hop import hop
from app_flet.ui.message_list import MessageList
from app_flet.ui.prechat import PreChatForm
from app_flet.ui.rating import RatingCard
from app_flet.ui.states import ConnectionBanner, ErrorView, LoadingView
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import SURFACE, Palette

__all__ = ["ChatScreen", "as_async_client"]

log = logging.getLogger("chatdock.ui")

TYPING_TIMEOUT = 6.0  # seconds the typing row stays up without a new TypingStarted


def as_async_client(client: Any) -> Any:
    """The client itself if it is an AsyncChatClient, else `AsyncChatClient.from_client`."""
    if inspect.iscoroutinefunction(getattr(client, "fetch_config", None)):
        return client
    from app_flet.headless import AsyncChatClient
    return AsyncChatClient.from_client(client)


def _chain(mine: Callable[[], Awaitable[None]], previous: Any) -> Any:
    """A page event handler that runs `mine`, then the handler it replaces (if any)."""
    async def handler(e: ft.Event[ft.Page]) -> None:
        await mine()
        if previous is not None:
            takes_event = bool(inspect.signature(previous).parameters)
            result = previous(e) if takes_event else previous()
            if inspect.isawaitable(result):
                await result
    handler.previous = previous  # type: ignore[attr-defined]
    return handler


class ChatScreen(ft.Column):
    """The drop-in chat; put it in any layout, or let `ChatWidget.show` push it full-page.

    It starts itself when mounted (`autostart`); `await start()` starts it by hand.
    `on_close` (when given) shows a close button; the screen closes its session first.
    `pick_file` chooses a file for the attach button (default: Flet's FilePicker).
    """

    def __init__(self, client: Any, *, visitor_id: str, name: str | None = None,
                 email: str | None = None, phone: str | None = None,
                 strings: ChatStrings | None = None,
                 on_close: Callable[[], Awaitable[None] | None] | None = None,
                 autostart: bool = True, typing_timeout: float = TYPING_TIMEOUT,
                 pick_file: PickFile | None = None) -> None:
        super().__init__(key="chat-screen", expand=True, spacing=0)
        self.client = as_async_client(client)
        self.strings = strings = strings or ChatStrings()
        self._visitor_id, self._name, self._email, self._phone = visitor_id, name, email, phone
        self._on_close, self._autostart, self._typing_timeout = on_close, autostart, typing_timeout
        self.config: Any = None
        self.session: Any = None
        self.closed = False
        self._starting = False
        self._unsubscribe: Callable[[], None] | None = None
        self._page: ft.Page | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._typing_task: asyncio.Task[None] | None = None
        self._pick_file: PickFile = pick_file or FilePick()

        self.header = ChatHeader(strings, on_close=self._close_clicked if on_close else None)
        self.banner = ConnectionBanner(strings)
        self.loading = LoadingView(strings)
        self.error_view = ErrorView(strings, on_retry=self.start)
        self.prechat = PreChatForm(strings, on_submit=self._prechat_submitted)
        self.messages = MessageList(strings)
        self.composer = Composer(strings, on_send=self._send, on_typing=self._typing,
                                 on_attach=self._attach)
        self.rating = RatingCard(strings, on_submit=self._rate)
        self.away = AwayBanner(strings, on_email=self._away_email)
        self.chat = ft.Column([self.messages, self.rating, self.away, self.composer],
                              key="chat-body", expand=True, spacing=0)
        self.body = ft.Container(self.loading, key="chat-content", expand=True, bgcolor=SURFACE)
        self.controls = [self.header, self.banner, self.body]

    # ---------- state ----------

    @property
    def state(self) -> str:
        """"loading", "error", "prechat" or "chat": what the body shows."""
        return {id(self.loading): "loading", id(self.error_view): "error",
                id(self.prechat): "prechat", id(self.chat): "chat"}[id(self.body.content)]

    def _show(self, view: ft.Control) -> None:
        self.body.content = view

    def _push(self) -> None:
        """Send the changes to the client; a no-op while not mounted."""
        try:
            self.update()
        except RuntimeError:
            pass  # not on a page (yet, or any more): the next mount renders the state

    # ---------- lifecycle ----------

    def did_mount(self) -> None:
        super().did_mount()
        self._page = self.page
        self._hook_page(self._page)
        if self._autostart and self.session is None and not self._starting:
            self._keep(self._page.run_task(self.start))

    def will_unmount(self) -> None:
        super().will_unmount()
        if self._page is not None:
            self._unhook_page(self._page)
        self._page = None
        loop = self._running_loop()
        if not self.closed and loop is not None:
            self._keep(asyncio.run_coroutine_threadsafe(self.close(), loop))

    # The web visitor who closes the tab: no heartbeat while disconnected (agents see the
    # visitor offline, like the SDK pausing it in the background), closed on expiry.
    # The page's own handlers keep running: ours are chained in front of them.
    _PAGE_EVENTS = ("on_disconnect", "on_connect", "on_close")

    def _hook_page(self, page: ft.Page) -> None:
        mine = {"on_disconnect": self._paused, "on_connect": self._resumed,
                "on_close": self.close}
        self._page_hooks: dict[str, Any] = {}
        for name in self._PAGE_EVENTS:
            hook = _chain(mine[name], getattr(page, name))
            self._page_hooks[name] = hook
            setattr(page, name, hook)

    def _unhook_page(self, page: ft.Page) -> None:
        for name, hook in getattr(self, "_page_hooks", {}).items():
            if getattr(page, name) is hook:
                setattr(page, name, hook.previous)
        self._page_hooks = {}

    async def _paused(self) -> None:
        if self.session is not None:
            self.session.stop_heartbeat()

    async def _resumed(self) -> None:
        if self.session is not None and not self.closed:
            self.session.start_heartbeat()

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return self._loop  # None: never started, so there is no session to close

    def _keep(self, future: asyncio.Future[Any] | Any) -> None:
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Fetch the config and paint, then show the pre-chat form or open the chat."""
        if self._starting or self.closed:
            return
        self._starting, self._loop = True, asyncio.get_running_loop()
        self._show(self.loading)
        self._push()
        try:
            self.config = await self.client.fetch_config()
            self._paint()
            if self.config.identification_required and not (self._name or self._email):
                self._show(self.prechat)
            else:
                await self._open(self._name, self._email, self._phone)
        except Exception as err:  # every failure lands on the error state with "Try again"
            self._fail(err)
        finally:
            self._starting = False
        self._push()

    async def _open(self, name: str | None, email: str | None, phone: str | None) -> None:
        session = await self.client.start_session(self._visitor_id, name=name, email=email,
                                                  phone=phone)
        if self.closed:
            await session.close()
            return
        self.session = session
        self._show_away()
        try:
            self._unsubscribe = session.on(self._deliver)
            history = await session.load_history()
            self.messages.add(history.messages)
            self.composer.set_max_length(self.config.limits.message_max_length)
            self.composer.set_uploads(self.config.features.file_uploads)
            self._show(self.chat)
            self._push()
        except Exception:
            await self._drop_session()
            raise
        try:
            await session.connect()
        except ChatError as err:  # REST still works; the client keeps reconnecting
            log.warning("realtime did not connect: %r", err)
        session.start_heartbeat()

    async def _drop_session(self) -> None:
        session, self.session = self.session, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if session is not None:
            session.stop_heartbeat()
            await session.close()

    async def close(self) -> None:
        """Close the session (idempotent); the screen stays as it is."""
        if self.closed:
            return
        self.closed = True
        if self._typing_task is not None:
            self._typing_task.cancel()
        try:
            await self._drop_session()
        except Exception:
            log.warning("closing the chat session failed", exc_info=True)

    async def _close_clicked(self) -> None:
        await self.close()
        if self._on_close is not None:
            result = self._on_close()
            if inspect.isawaitable(result):
                await result

    # ---------- painting ----------

    def _paint(self) -> None:
        config = self.config
        palette = Palette.from_branding(config.branding)
        self.header.paint(config.business.name, config.branding.logo_url,
                          config.agents_online, palette)
        self.messages.set_welcome(config.branding.welcome_message)
        for part in (self.messages, self.composer, self.prechat, self.error_view, self.rating,
                     self.away):
            part.paint(palette)
        self._show_away()

    def _describe(self, err: BaseException) -> str:
        if isinstance(err, ChatError) and err.is_rate_limited:
            return self.strings.error_rate_limited
        if isinstance(err, ChatConnectionError):
            return self.strings.error_no_connection
        return self.strings.error_generic

    def _fail(self, err: BaseException) -> None:
        log.warning("chat start failed: %r", err)
        self.error_view.message.value = self._describe(err)
        self._show(self.error_view)

    # ---------- user actions ----------

    async def _prechat_submitted(self, name: str | None, email: str) -> None:
        self._name, self._email = name, email
        try:
            await self._open(name, email, self._phone)
        except ValidationError as err:  # the server's word on what the visitor typed
            self.prechat.show_error(err.message)
        except Exception as err:
            self._fail(err)
        self._push()

    async def _send(self, text: str) -> bool:
        if self.session is None:
            return False
        try:
            message = await self.session.send(text)
        except ChatError as err:
            self.composer.show_notice(self._describe(err))
            return False
        self.messages.add([message])
        self.rating.offer(False)  # writing again reopens the conversation
        return True

    async def _rate(self, score: int, comment: str | None) -> str | None:
        """Store the visitor's rating; None, or why the server refused it."""
        if self.session is None:
            return self.strings.error_generic
        try:
            await self.session.rate(score, comment)
        except ChatError as err:
            return err.message if err.status == 409 else self._describe(err)
        return None

    async def _attach(self) -> None:
        if self.session is not None and (picked := await self._pick_file()) is not None:
            await self.upload(picked)
            self._push()

    async def upload(self, file: ft.FilePickerFile) -> bool:
        """Send a picked file; True once its message is shown."""
        limit = self.config.limits.max_upload_kb
        source = upload_source(file)
        if self.session is None or source is None:
            return False
        if too_large(file, limit):
            self.composer.show_notice(self.strings.file_too_large.format(name=file.name,
                                                                         limit=limit))
            return False
        self.composer.show_uploading(file.name)
        self._push()
        try:
            message = await self.session.upload(source, file.name)
        except ChatError as err:  # 413 / 415 say what was wrong with the file: show that
            self.composer.show_notice(err.message if err.status in (400, 413, 415)
                                      else self._describe(err))
            return False
        finally:
            self.composer.hide_uploading()
        self.composer.hide_notice()
        self.messages.add([message])
        return True

    async def _typing(self) -> None:
        if self.session is None:
            return
        try:
            await self.session.send_typing()
        except ChatError:
            pass  # a lost typing ping is not worth bothering the visitor

    # ---------- outside business hours ----------

    def _show_away(self) -> None:
        """Paint the away banner (the server says when the business opens or closes:
        AvailabilityUpdated)."""
        availability = self.config.availability if self.config is not None else None
        known = bool(self._email or (self.session is not None and self.session.contact.email))
        self.away.show(availability, email_known=known)

    async def _away_email(self, email: str) -> None:
        if self.session is None:
            return
        try:
            await self.session.identify(email=email)
        except ValidationError as err:  # the server's word on what the visitor typed
            self.away.show_error(err.message)
        except ChatError as err:
            self.away.show_error(self._describe(err))
        else:
            self._email = email
            self.away.thank(email)
        self._push()

    # ---------- realtime ----------

    def _deliver(self, event: Any) -> None:
        """Runs on the client's reader thread: hop to Flet's loop."""
        hop(self._page, self._loop, self.handle_event, event)

    async def handle_event(self, event: Any) -> None:
        """Apply one realtime event to the screen (on Flet's loop)."""
        if self.closed:
            return
        if isinstance(event, MessageCreated):
            self.messages.add([event.message])
            if not event.message.from_visitor:
                self._hide_typing()
        elif isinstance(event, TypingStarted) and event.role != "visitor":
            self.messages.show_typing(event.name)
            self._arm_typing_timeout()
        elif isinstance(event, BrandingUpdated) and self.config is not None:
            self.config = dataclasses.replace(self.config, business=event.business,
                                              branding=event.branding)
            self._paint()
        elif isinstance(event, PresenceUpdated) and self.config is not None:
            self.config = dataclasses.replace(self.config, agents_online=event.agents_online)
            self._paint()
        elif isinstance(event, AvailabilityUpdated) and self.config is not None:
            self.config = dataclasses.replace(self.config, availability=event.availability)
            self._paint()
        elif isinstance(event, ConversationUpdated):
            self.rating.offer(event.status == "resolved")
        elif isinstance(event, ConnectionChanged):
            self.banner.show_state(event.state)
        self._push()

    def _hide_typing(self) -> None:
        self.messages.hide_typing()
        if self._typing_task is not None:
            self._typing_task.cancel()
            self._typing_task = None

    def _arm_typing_timeout(self) -> None:
        if self._typing_task is not None:
            self._typing_task.cancel()
        self._typing_task = asyncio.get_running_loop().create_task(self._typing_expired())

    async def _typing_expired(self) -> None:
        await asyncio.sleep(self._typing_timeout)
        self.messages.hide_typing()
        self._typing_task = None
        self._push()
