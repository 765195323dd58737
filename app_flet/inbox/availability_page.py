"""The owner's Availability page: the business's timezone, opening ranges per weekday and
the offline message the widget, the visitor app and the bot show outside those hours."""

from __future__ import annotations

import re
from typing import Any

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import AvailabilitySettings
from app_flet.inbox.pages import SAVED, Panel, action
from app_flet.ui.theme import MUTED

__all__ = ["DAYS", "AvailabilityPage", "format_ranges", "parse_ranges"]

DAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
        "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
_RANGE = re.compile(r"\s*(\d{1,2}:\d\d)\s*[-–]\s*(\d{1,2}:\d\d)\s*")
HINT = "e.g. 09:00-12:00, 13:00-17:30; empty: closed; 24:00 ends a day"


def format_ranges(ranges: tuple[tuple[str, str], ...]) -> str:
    """(("09:00", "12:00"), ("13:00", "17:30")) as "09:00-12:00, 13:00-17:30"."""
    return ", ".join(f"{start}-{end}" for start, end in ranges)


def parse_ranges(text: str) -> list[list[str]] | None:
    """"09:00-12:00, 13:00-17:30" as [["09:00", "12:00"], ...]; None when it is not ranges
    (the server checks the times themselves: order, overlaps, at most four)."""
    if not text.strip():
        return []
    found = [_RANGE.fullmatch(part) for part in text.split(",")]
    if not all(found):
        return None
    return [[m.group(1).zfill(5), m.group(2).zfill(5)] for m in found if m]


class AvailabilityPage(Panel):
    """Timezone, one field of ranges per day and the offline message; "Save hours" saves."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "availability-page")
        self.timezone = ft.TextField(label="Timezone (IANA, e.g. Europe/Berlin)",
                                     key="availability-timezone", on_change=self._edited)
        self.days = {day: ft.TextField(label=name, key=f"availability-{day}", hint_text=HINT,
                                       on_change=self._edited)
                     for day, name in DAYS.items()}
        self.offline = ft.TextField(label="Offline message", key="availability-offline",
                                    multiline=True, min_lines=2, max_length=500,
                                    on_change=self._edited)
        self.save_button = ft.FilledButton("Save hours", key="save-availability",
                                           on_click=self._save)
        self.controls = [
            ft.Text("Availability", size=20, weight=ft.FontWeight.W_600),
            ft.Text("Outside these hours the widget says when you are back, asks visitors "
                    "for an email, and the bot posts the offline message once.", color=MUTED),
            self.timezone, *self.days.values(), self.offline,
            ft.Row([self.save_button, self.status]),
        ]

    async def load(self) -> None:
        """Fill the fields from the business's current hours."""
        settings = await self.attempt(self.client.get_availability())
        if settings is not None:
            self._fill(settings)
        self.push()

    def _fill(self, settings: AvailabilitySettings) -> None:
        self.timezone.value = settings.timezone
        for day, field in self.days.items():
            field.value = format_ranges(settings.hours.get(day, ()))
            field.error = None
        self.offline.value = settings.offline_message

    def _hours(self) -> dict[str, list[list[str]]] | None:
        """The week from the fields; None (and the bad fields marked) when one is not ranges."""
        week: dict[str, list[list[str]]] = {}
        for day, field in self.days.items():
            ranges = parse_ranges(field.value or "")
            field.error = None if ranges is not None else "Write ranges like 09:00-17:30"
            if ranges is not None:
                week[day] = ranges
        return week if len(week) == len(self.days) else None

    async def _edited(self, e: ft.Event[Any]) -> None:
        self.say("")

    @action
    async def _save(self, e: ft.Event[Any]) -> None:
        week = self._hours()
        if week is None:
            self.say("Some days are not ranges like 09:00-17:30.", error=True)
            return
        saved = await self.attempt(self.client.update_availability(
            timezone=(self.timezone.value or "").strip(), hours=week,
            offline_message=self.offline.value or ""))
        if saved is not None:
            self._fill(saved)
            self.say(SAVED)
