"""The pre-chat form: name and email before the session starts, when the business asks."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, MUTED, Palette

__all__ = ["PreChatForm", "plausible_email"]

# Only a typing-error check for the visitor's sake; the server decides what is valid.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def plausible_email(value: str) -> bool:
    """Whether `value` looks like an email address."""
    return bool(_EMAIL.fullmatch(value.strip()))


class PreChatForm(ft.Container):
    """`on_submit(name, email)` starts the chat; the form stays up if it fails."""

    def __init__(self, strings: ChatStrings,
                 on_submit: Callable[[str | None, str], Awaitable[None]]) -> None:
        super().__init__(key="prechat", padding=24, expand=True)
        self._strings, self._on_submit = strings, on_submit
        self.name = ft.TextField(key="prechat-name", label=strings.pre_chat_name,
                                 on_submit=self._submit)
        self.email = ft.TextField(key="prechat-email", label=strings.pre_chat_email,
                                  keyboard_type=ft.KeyboardType.EMAIL, on_submit=self._submit)
        self.error = ft.Text("", key="prechat-error", color=ERROR, visible=False)
        self.submit_button = ft.FilledButton(strings.pre_chat_submit, key="prechat-submit",
                                             on_click=self._submit)
        self.content = ft.Column([
            ft.Text(strings.pre_chat_title, key="prechat-title", size=18,
                    weight=ft.FontWeight.W_600),
            ft.Text(strings.pre_chat_subtitle, color=MUTED),
            self.name, self.email, self.error, self.submit_button,
        ], spacing=12, horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            scroll=ft.ScrollMode.AUTO)
        self.paint(Palette())

    def paint(self, palette: Palette) -> None:
        self.submit_button.bgcolor, self.submit_button.color = palette.primary, palette.on_primary

    def show_error(self, text: str) -> None:
        self.error.value, self.error.visible = text, True

    def set_busy(self, busy: bool) -> None:
        self.submit_button.disabled = self.name.disabled = self.email.disabled = busy

    async def submit(self) -> None:
        """Check the email looks like one, then hand name and email on."""
        name = (self.name.value or "").strip() or None
        email = (self.email.value or "").strip()
        if not plausible_email(email):
            self.email.error = self._strings.pre_chat_email_invalid
            return
        self.email.error = None
        self.error.visible = False
        self.set_busy(True)
        try:
            await self._on_submit(name, email)
        finally:
            self.set_busy(False)

    async def _submit(self, e: ft.Event[Any]) -> None:
        await self.submit()
