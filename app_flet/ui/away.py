"""The away banner: outside business hours, when the business is back and what it says
meanwhile, above the composer (which keeps working); asks for an email when none is known."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import Any

import flet as ft

from app_flet.headless.models import Availability
from app_flet.ui.prechat import plausible_email
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, INK, MUTED, Palette

__all__ = ["AwayBanner", "back_at"]

AWAY_BACKGROUND = "#EEF2FF"


def back_at(opens: datetime, strings: ChatStrings, now: datetime | None = None,
            tz: tzinfo | None = None) -> str:
    """When the business opens, in the visitor's local time (tz; None: this machine's),
    with the weekday unless that is today."""
    local = opens.astimezone(tz)
    today = (now or datetime.now(local.tzinfo)).astimezone(local.tzinfo).date()
    return local.strftime(strings.time_format if local.date() == today
                          else strings.away_day_time_format)


class AwayBanner(ft.Container):
    """Hidden while the business is open; `on_email(address)` saves an email (the screen
    identifies the visitor with it, then calls `thank` or `show_error`)."""

    def __init__(self, strings: ChatStrings,
                 on_email: Callable[[str], Awaitable[None]], *, tz: tzinfo | None = None) -> None:
        super().__init__(key="away-banner", bgcolor=AWAY_BACKGROUND, visible=False,
                         padding=ft.Padding.symmetric(horizontal=14, vertical=10))
        self._strings, self._on_email = strings, on_email
        self.tz = tz  # the visitor's timezone for the back-at time; None: this machine's
        self.availability: Availability | None = None
        self.title = ft.Text("", key="away-title", weight=ft.FontWeight.W_600, color=INK)
        self.message = ft.Text("", key="away-message", color=INK, visible=False)
        self.email = ft.TextField(key="away-email", label=strings.away_email, dense=True,
                                  expand=True, keyboard_type=ft.KeyboardType.EMAIL,
                                  on_submit=self._submit)
        self.save_button = ft.FilledButton(strings.away_save, key="away-save",
                                           on_click=self._submit)
        self.error = ft.Text("", key="away-error", size=12, color=ERROR, visible=False)
        self.ask = ft.Column([
            ft.Text(strings.away_ask, size=12, color=MUTED),
            ft.Row([self.email, self.save_button], spacing=8),
            self.error,
        ], key="away-ask", spacing=6, tight=True, visible=False)
        # in a Row: the banner spans the chat's width, as the composer under it does
        self.content = ft.Row([ft.Column([self.title, self.message, self.ask], spacing=4,
                                         tight=True, expand=True)])
        self.paint(Palette())

    def paint(self, palette: Palette) -> None:
        self.save_button.bgcolor, self.save_button.color = palette.primary, palette.on_primary

    def show(self, availability: Availability | None, *, email_known: bool) -> None:
        """Visible while closed: back-at time (or "we're away"), the offline message, and the
        email field unless the visitor's email is known."""
        self.availability = availability
        self.visible = availability is not None and not availability.open
        if availability is None or availability.open:
            return
        opens = availability.next_open_at
        self.title.value = (self._strings.away_closed if opens is None else
                            self._strings.away_back.format(
                                time=back_at(opens, self._strings, tz=self.tz)))
        self.message.value = availability.offline_message
        self.message.visible = bool(availability.offline_message)
        self.ask.visible = not email_known

    def show_error(self, text: str) -> None:
        self.error.value, self.error.visible = text, True

    def thank(self, email: str) -> None:
        """The email is saved: say so, stop asking."""
        self.ask.visible = self.error.visible = False
        self.message.value = self._strings.away_thanks.format(email=email)
        self.message.visible = True

    async def submit(self) -> None:
        """Check the address looks like one, then hand it on."""
        email = (self.email.value or "").strip()
        if not plausible_email(email):
            self.email.error = self._strings.pre_chat_email_invalid
            return
        self.email.error = None
        self.error.visible = False
        self.save_button.disabled = self.email.disabled = True
        try:
            await self._on_email(email)
        finally:
            self.save_button.disabled = self.email.disabled = False

    async def _submit(self, e: ft.Event[Any]) -> None:
        await self.submit()
