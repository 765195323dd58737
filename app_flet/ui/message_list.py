"""The conversation: bubbles oldest to newest with day separators, the empty state's
welcome, and the "Agent is typing…" row. Messages are kept once per id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

import flet as ft

from app_flet.ui.bubble import MessageBubble
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import MUTED, Palette

__all__ = ["DaySeparator", "MessageList", "day_label"]


def _local_now() -> datetime:
    return datetime.now().astimezone()


def day_label(day: date, today: date, strings: ChatStrings) -> str:
    """"Today", "Yesterday" or the formatted date."""
    if day == today:
        return strings.today
    if day == today - timedelta(days=1):
        return strings.yesterday
    return day.strftime(strings.day_format)


class DaySeparator(ft.Row):
    """A centered date chip between the last message of one day and the first of the next."""

    def __init__(self, day: date) -> None:
        super().__init__(key=f"day-{day.isoformat()}", alignment=ft.MainAxisAlignment.CENTER)
        self.day = day
        self.label = ft.Text("", key=f"day-{day.isoformat()}-label", size=11, color=MUTED,
                             weight=ft.FontWeight.W_500)
        self.controls = [ft.Container(self.label, bgcolor="#E2E8F0", border_radius=10,
                                      padding=ft.Padding.symmetric(horizontal=10, vertical=3))]


class MessageList(ft.Column):
    """Holds the conversation; `add` ignores ids it already shows."""

    def __init__(self, strings: ChatStrings, palette: Palette | None = None,
                 clock: Callable[[], datetime] = _local_now) -> None:
        super().__init__(key="chat-message-list", expand=True, spacing=0)
        self._strings, self._palette, self._clock = strings, palette or Palette(), clock
        self._bubbles: dict[int, MessageBubble] = {}
        self._separators: dict[date, DaySeparator] = {}
        self.welcome = ft.Text(strings.welcome_fallback, key="chat-welcome", size=16,
                               weight=ft.FontWeight.W_600, text_align=ft.TextAlign.CENTER)
        self.empty_hint = ft.Text(strings.empty_history, key="chat-empty-hint", color=MUTED,
                                  text_align=ft.TextAlign.CENTER)
        self.empty = ft.Container(
            ft.Column([self.welcome, self.empty_hint], tight=True, spacing=8,
                      horizontal_alignment=ft.CrossAxisAlignment.CENTER),
            key="chat-empty", expand=True, alignment=ft.Alignment.CENTER,
            padding=ft.Padding.symmetric(horizontal=32))
        self.list = ft.ListView(key="chat-messages", expand=True, spacing=6, auto_scroll=True,
                                padding=ft.Padding.symmetric(horizontal=12, vertical=12),
                                visible=False)
        self.typing = ft.Text(strings.typing_indicator, key="chat-typing", size=12, italic=True,
                              color=MUTED)
        self.typing_row = ft.Container(self.typing, key="chat-typing-row", visible=False,
                                       padding=ft.Padding.only(left=16, bottom=4))
        self.controls = [self.empty, self.list, self.typing_row]
        self.set_welcome(None)

    @property
    def messages(self) -> list[Any]:
        """The shown messages, oldest first."""
        return [b.message for b in self._ordered()]

    def has(self, message_id: int) -> bool:
        """Whether the message with this id is shown."""
        return message_id in self._bubbles

    def add(self, messages: Iterable[Any]) -> list[Any]:
        """Show the messages not shown yet (any order); return those that were new."""
        new = [m for m in messages if m.id not in self._bubbles]
        for message in new:
            self._bubbles[message.id] = MessageBubble(message, self._palette, self._strings)
        if new:
            self._relayout()
        return new

    def set_welcome(self, welcome_message: str | None) -> None:
        """The empty state: the branding's welcome, else the fallback over the hint."""
        text = (welcome_message or "").strip()
        self.welcome.value = text or self._strings.welcome_fallback
        self.empty_hint.visible = not text

    def paint(self, palette: Palette) -> None:
        """Recolor every bubble."""
        self._palette = palette
        for bubble in self._bubbles.values():
            bubble.paint(palette)

    def show_typing(self, name: str | None = None) -> None:
        """Show "Agent is typing…" (with the agent's name when known)."""
        self.typing.value = (self._strings.typing_indicator_named.format(name=name) if name
                             else self._strings.typing_indicator)
        self.typing_row.visible = True

    def hide_typing(self) -> None:
        self.typing_row.visible = False

    def _ordered(self) -> list[MessageBubble]:
        return sorted(self._bubbles.values(), key=lambda b: (b.message.created_at, b.message.id))

    def _relayout(self) -> None:
        today = self._clock().date()
        rows: list[ft.Control] = []
        last_day: date | None = None
        for bubble in self._ordered():
            day = bubble.message.created_at.astimezone().date()
            if day != last_day:
                separator = self._separators.setdefault(day, DaySeparator(day))
                separator.label.value = day_label(day, today, self._strings)
                rows.append(separator)
                last_day = day
            rows.append(bubble)
        self.list.controls = rows
        self.list.visible = bool(rows)
        self.empty.visible = not rows
