"""The composer: a multiline field where Enter sends and Shift+Enter adds a line."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, MUTED, Palette

__all__ = ["Composer", "resync"]

TYPING_INTERVAL = 3.0  # seconds between typing pings while the visitor keeps typing


def resync(field: ft.TextField, shown: str) -> None:
    """Make the client take the field's new value. Flet diffs a value against the last one
    it sent, not against what the user typed since, so clearing a field it last sent as ""
    sends nothing: send what the user sees first, then the new value."""
    value, field.value = field.value, shown
    try:
        field.update()
        field.value = value
        field.update()
    except RuntimeError:
        field.value = value  # not mounted: nothing to resync


class Composer(ft.Container):
    """`on_send(text)` returns True once the message is accepted; the field clears only then.
    `on_attach()` (when given) is the attach button's: shown once `set_uploads(True)`."""

    def __init__(self, strings: ChatStrings, on_send: Callable[[str], Awaitable[bool]],
                 on_typing: Callable[[], Awaitable[None]] | None = None, *,
                 on_attach: Callable[[], Awaitable[None]] | None = None,
                 max_length: int = 8000, typing_interval: float = TYPING_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(key="chat-composer", bgcolor="#FFFFFF",
                         padding=ft.Padding.symmetric(horizontal=12, vertical=10))
        self._strings, self._on_send, self._on_typing = strings, on_send, on_typing
        self._on_attach = on_attach
        self._typing_interval, self._clock = typing_interval, clock
        self._last_ping: float | None = None
        self.busy = False
        self.field = ft.TextField(
            key="chat-input", hint_text=strings.input_placeholder, multiline=True,
            shift_enter=True, min_lines=1, max_lines=5, expand=True, autofocus=True,
            border=ft.OutlineInputBorder(border_radius=20),
            content_padding=ft.Padding.symmetric(horizontal=14, vertical=10),
            on_submit=self._submit, on_change=self._changed)
        self.send_button = ft.IconButton(ft.Icons.SEND_ROUNDED, key="chat-send",
                                         tooltip=strings.send, on_click=self._submit)
        self.attach_button = ft.IconButton(ft.Icons.ATTACH_FILE, key="chat-attach",
                                           tooltip=strings.attach, visible=False,
                                           on_click=self._attach)
        self.notice = ft.Text("", key="chat-notice", size=12, color=ERROR, visible=False)
        self.upload_text = ft.Text("", key="chat-upload-text", size=12, color=MUTED)
        self.upload_status = ft.Row(
            [ft.ProgressRing(width=12, height=12, stroke_width=2), self.upload_text],
            key="chat-upload-status", spacing=6, visible=False)
        self.content = ft.Column([
            self.notice, self.upload_status,
            ft.Row([ft.MergeSemantics(self.attach_button), self.field,
                    ft.MergeSemantics(self.send_button)], spacing=8,
                   vertical_alignment=ft.CrossAxisAlignment.END),
        ], spacing=4, tight=True)
        self.set_max_length(max_length)
        self.paint(Palette())

    @property
    def max_length(self) -> int:
        return self._max_length

    def set_max_length(self, limit: int) -> None:
        """Apply the server's `limits.message_max_length`."""
        self._max_length = limit
        self.field.max_length = limit

    def paint(self, palette: Palette) -> None:
        """The send button takes the accent color."""
        self.send_button.bgcolor = palette.accent
        self.send_button.icon_color = palette.on_accent

    def show_notice(self, text: str) -> None:
        self.notice.value, self.notice.visible = text, True

    def hide_notice(self) -> None:
        self.notice.visible = False

    def set_enabled(self, enabled: bool) -> None:
        self.field.disabled = self.send_button.disabled = not enabled

    def set_uploads(self, enabled: bool) -> None:
        """Show the attach button when the server takes files (`features.file_uploads`)."""
        self.attach_button.visible = enabled and self._on_attach is not None

    def show_uploading(self, name: str) -> None:
        """An upload is in flight: say so, and take no second one meanwhile."""
        self.hide_notice()
        self.upload_text.value = self._strings.uploading.format(name=name)
        self.upload_status.visible, self.attach_button.disabled = True, True

    def hide_uploading(self) -> None:
        self.upload_status.visible, self.attach_button.disabled = False, False

    async def submit(self) -> bool:
        """Send what is typed; keep it in the field when the send fails."""
        text = (self.field.value or "").strip()
        if not text or self.busy:
            return False
        if len(text) > self._max_length:
            self.show_notice(self._strings.message_too_long.format(
                length=len(text), limit=self._max_length))
            return False
        self.busy, self.send_button.disabled = True, True
        try:
            sent = await self._on_send(text)
        finally:
            self.busy, self.send_button.disabled = False, False
        if sent:
            self.hide_notice()
            # what was typed while the send was in flight stays
            current = self.field.value or ""
            self.field.value = current.strip()[len(text):].lstrip() if current.strip().startswith(
                text) else current
            resync(self.field, current)  # else a second "" never reaches the client
            self._last_ping = None
        return sent

    async def typed(self) -> None:
        """Ping `on_typing` at most once per `typing_interval` while text is being typed."""
        if not (self.field.value or "").strip() or self._on_typing is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self._typing_interval:
            return
        self._last_ping = now
        await self._on_typing()

    async def _submit(self, e: ft.Event[Any]) -> None:
        await self.submit()

    async def _attach(self, e: ft.Event[Any]) -> None:
        if self._on_attach is not None and not self.attach_button.disabled:
            await self._on_attach()

    async def _changed(self, e: ft.Event[Any]) -> None:
        await self.typed()
