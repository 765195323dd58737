"""The header: logo (or an initial-letter avatar), business name, online pip, close button."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import Palette

__all__ = ["ChatHeader"]

ONLINE, OFFLINE = "#22C55E", "#94A3B8"


class ChatHeader(ft.Container):
    """Painted in the branding's primary color; `paint` repaints it live."""

    def __init__(self, strings: ChatStrings,
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(key="chat-header",
                         padding=ft.Padding.symmetric(horizontal=12, vertical=10))
        self._on_close = on_close
        self.initial = ft.Text("?", key="chat-header-initial", weight=ft.FontWeight.BOLD, size=16)
        self.avatar = ft.CircleAvatar(key="chat-header-avatar", content=self.initial, radius=18)
        self.logo = ft.Image(src="", key="chat-header-logo", width=36, height=36, visible=False,
                             fit=ft.BoxFit.CONTAIN, border_radius=18,
                             semantics_label=strings.title)
        self.name = ft.Text(strings.title, key="chat-header-name", weight=ft.FontWeight.BOLD,
                            size=16, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS)
        self.pip = ft.Container(key="chat-header-pip", width=8, height=8, border_radius=4,
                                bgcolor=OFFLINE)
        self.status = ft.Text("", key="chat-header-status", size=12)
        self.close_button = ft.IconButton(ft.Icons.CLOSE, key="chat-close", tooltip=strings.close,
                                          on_click=self._close, visible=on_close is not None)
        self._strings = strings
        self.content = ft.Row([
            self.avatar, self.logo,
            ft.Column([self.name, ft.Row([self.pip, self.status], spacing=6)],
                      spacing=2, tight=True, expand=True),
            ft.MergeSemantics(self.close_button),
        ], spacing=12)
        self.paint(strings.title, None, None, Palette())

    def paint(self, business_name: str, logo_url: str | None, agents_online: int | None,
              palette: Palette) -> None:
        """Show this business's name, logo and presence in its colors."""
        self.bgcolor = palette.primary
        self.name.value = business_name
        self.logo.src = logo_url or ""
        self.logo.visible = bool(logo_url)
        self.avatar.visible = not logo_url
        self.initial.value = (business_name.strip()[:1] or "?").upper()
        self.avatar.bgcolor, self.initial.color = palette.on_primary, palette.primary
        for text in (self.name, self.status):
            text.color = palette.on_primary
        self.close_button.icon_color = palette.on_primary
        self.pip.visible = self.status.visible = agents_online is not None
        online = bool(agents_online)
        self.pip.bgcolor = ONLINE if online else OFFLINE
        self.status.value = self._strings.online if online else self._strings.offline

    async def _close(self, e: ft.Event[Any]) -> None:
        if self._on_close is not None:
            await self._on_close()
