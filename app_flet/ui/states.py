"""The screen's other states: loading, an error with "Try again", the connection banner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import MUTED, Palette

__all__ = ["ConnectionBanner", "ErrorView", "LoadingView"]


class LoadingView(ft.Container):
    def __init__(self, strings: ChatStrings) -> None:
        super().__init__(ft.Column([ft.ProgressRing(), ft.Text(strings.loading, color=MUTED)],
                                   tight=True, horizontal_alignment=ft.CrossAxisAlignment.CENTER),
                         key="chat-loading", expand=True, alignment=ft.Alignment.CENTER)


class ErrorView(ft.Container):
    """What went wrong, and a button that runs `on_retry`."""

    def __init__(self, strings: ChatStrings, on_retry: Callable[[], Awaitable[None]]) -> None:
        super().__init__(key="chat-error", expand=True, alignment=ft.Alignment.CENTER, padding=24)
        self._on_retry = on_retry
        self.message = ft.Text(strings.error_generic, key="chat-error-text",
                               text_align=ft.TextAlign.CENTER)
        self.retry_button = ft.FilledButton(strings.try_again, key="chat-retry",
                                            on_click=self._retry)
        self.content = ft.Column([
            ft.Icon(ft.Icons.CLOUD_OFF_ROUNDED, size=36, color=MUTED), self.message,
            self.retry_button,
        ], tight=True, spacing=16, horizontal_alignment=ft.CrossAxisAlignment.CENTER)

    def paint(self, palette: Palette) -> None:
        self.retry_button.bgcolor, self.retry_button.color = palette.primary, palette.on_primary

    async def _retry(self, e: ft.Event[Any]) -> None:
        await self._on_retry()


class ConnectionBanner(ft.Container):
    """A thin strip under the header while the realtime socket (re)connects."""

    def __init__(self, strings: ChatStrings) -> None:
        text = ft.Text("", key="chat-banner-text", size=12, color="#78350F")
        super().__init__(text, key="chat-banner", bgcolor="#FEF3C7", visible=False,
                         alignment=ft.Alignment.CENTER, padding=ft.Padding.symmetric(vertical=4))
        self.text, self._strings = text, strings

    def show_state(self, state: str) -> None:
        """Visible while "connecting" or "reconnecting", hidden otherwise."""
        labels = {"connecting": self._strings.connecting,
                  "reconnecting": self._strings.reconnecting}
        self.visible = state in labels
        self.text.value = labels.get(state, "")
