"""ChatWidget.show: the one-call drop-in, like the SDK's `TickkiChatWidget.show`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.screen import ChatScreen
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import SURFACE

__all__ = ["ChatWidget"]

ROUTE = "/chat"


class ChatWidget:
    """Opens the chat full-page: a fullscreen-dialog `View` pushed on `page.views`."""

    @staticmethod
    def show(page: ft.Page, client: Any, *, visitor_id: str, name: str | None = None,
             email: str | None = None, phone: str | None = None,
             strings: ChatStrings | None = None,
             on_close: Callable[[], Awaitable[None] | None] | None = None) -> ChatScreen:
        """Push the chat screen over the page and start it; return the screen.

        `client` is an `AsyncChatClient` or a sync `ChatClient` (wrapped with
        `AsyncChatClient.from_client`); the widget never creates or closes the client.
        The close button closes the session, pops the view, then calls `on_close`.
        """
        view = ft.View(route=ROUTE, padding=0, spacing=0, bgcolor=SURFACE,
                       fullscreen_dialog=True, key="chat-view")

        async def closed() -> None:
            if view in page.views:
                page.views.remove(view)
                page.update()
            if on_close is not None:
                result = on_close()
                if result is not None:
                    await result

        screen = ChatScreen(client, visitor_id=visitor_id, name=name, email=email, phone=phone,
                            strings=strings, on_close=closed)
        view.controls = [screen]
        page.views.append(view)
        page.update()
        return screen
