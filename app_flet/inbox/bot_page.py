"""The owner's Bot page: the answer bot on / off, its name and messages, the words that hand
a conversation to a person, the knowledge collections it answers from, the score a passage
needs, when a quiet conversation closes, and the TALKR endpoint switch.

Like the pages in pages.py it takes the AsyncAgentClient, fills itself in `await load()`,
and shows the server's words for a refused save on its status line and under the field the
server names (`ValidationError.field`); server text is shown as `ft.Text(value=…)`.
"""

from __future__ import annotations

from typing import Any

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import BotSettings, KnowledgeCollection
from app_flet.headless.errors import ChatError
from app_flet.inbox.pages import SAVED, Panel, action
from app_flet.ui.theme import ERROR, MUTED

__all__ = ["BotPage", "keywords_text", "number"]


def keywords_text(keywords: tuple[str, ...]) -> str:
    """("human", "talk to a person") as "human, talk to a person"."""
    return ", ".join(keywords)


def number(text: str) -> int | float | str:
    """The field's number (int when whole); text that is no number is sent as it is, so the
    server's words say what it must be (one error path, no second copy of its rules)."""
    clean = text.strip()
    for kind in (int, float):
        try:
            return kind(clean)
        except ValueError:
            pass
    return clean


def _field(label: str, key: str, **more: Any) -> ft.TextField:
    return ft.TextField(label=label, key=key, **more)


class BotPage(Panel):
    """Every bot setting on one page; "Save bot" saves them all at once."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "bot-page")
        self.enabled = ft.Switch(label="Answer new widget conversations with the bot",
                                 key="bot-enabled")
        self.name = _field("Bot name", "bot-name", max_length=100)
        self.welcome = _field("Welcome message (the TALKR endpoint's first answer)",
                              "bot-welcome", multiline=True, min_lines=2)
        self.fallback = _field("Fallback message (no team to hand to)", "bot-fallback",
                               multiline=True, min_lines=2)
        self.handoff = _field("Handoff message", "bot-handoff", multiline=True, min_lines=2)
        self.keywords = _field("Handoff keywords (comma-separated, any case)", "bot-keywords")
        self.collections = ft.Column(key="bot-collections", spacing=2)
        self.min_score = _field("Minimum score (0 to 1)", "bot-min-score", width=220,
                                hint_text="e.g. 0.1")
        self.inactivity = _field("Close quiet conversations after (minutes)",
                                 "bot-inactivity", width=320)
        self.public_api = ft.Switch(label="TALKR endpoint (public API)", key="bot-public-api")
        self.save_button = ft.FilledButton("Save bot", key="save-bot", on_click=self._save)
        self.boxes: dict[int, ft.Checkbox] = {}
        self.known: list[KnowledgeCollection] = []  # the collections the boxes stand for
        self.fields: dict[str, ft.TextField] = {
            "name": self.name, "welcome_message": self.welcome,
            "fallback_message": self.fallback, "handoff_message": self.handoff,
            "handoff_keywords": self.keywords, "min_score": self.min_score,
            "inactivity_minutes": self.inactivity}
        self.collections_error = ft.Text("", key="bot-collections-error", visible=False,
                                         color=ERROR)
        self.controls = [
            ft.Text("Bot", size=20, weight=ft.FontWeight.W_600),
            ft.Text("The bot answers visitors from the knowledge base; it hands the "
                    "conversation to the team when asked for a person or when no passage "
                    "scores the minimum.", color=MUTED),
            self.enabled, self.name, self.welcome, self.fallback, self.handoff, self.keywords,
            ft.Text("Collections it answers from (none ticked: every collection)",
                    color=MUTED),
            self.collections, self.collections_error,
            ft.Row([self.min_score, self.inactivity], wrap=True),
            self.public_api, ft.Row([self.save_button, self.status]),
        ]

    async def load(self) -> None:
        """Fill the page from the bot's settings and the business's collections."""
        settings = await self.attempt(self.client.get_bot())
        collections = await self.attempt(self.client.knowledge_collections())
        if settings is not None and collections is not None:
            self._fill(settings, collections)
        self.push()

    def _fill(self, settings: BotSettings, collections: list[KnowledgeCollection]) -> None:
        self.enabled.value, self.public_api.value = settings.enabled, settings.public_api_enabled
        self.name.value, self.welcome.value = settings.name, settings.welcome_message
        self.fallback.value, self.handoff.value = (settings.fallback_message,
                                                   settings.handoff_message)
        self.keywords.value = keywords_text(settings.handoff_keywords)
        self.known = collections
        self.min_score.value = f"{settings.min_score:g}"
        self.inactivity.value = str(settings.inactivity_minutes)
        self.boxes = {c.id: ft.Checkbox(label=c.name, key=f"bot-collection-{c.id}",
                                        value=c.id in settings.collection_ids)
                      for c in collections}
        self.collections.controls = list(self.boxes.values()) or [
            ft.Text("No collections yet: add some on the Knowledge page.", color=MUTED)]
        self._mark(None)

    def changes(self) -> dict[str, Any]:
        """What "Save bot" sends: every setting as the fields hold it."""
        words = [w.strip() for w in (self.keywords.value or "").split(",")]
        return {"enabled": bool(self.enabled.value), "name": self.name.value or "",
                "welcome_message": self.welcome.value or "",
                "fallback_message": self.fallback.value or "",
                "handoff_message": self.handoff.value or "",
                "handoff_keywords": [w for w in words if w],
                "collection_ids": [i for i, box in self.boxes.items() if box.value],
                "min_score": number(self.min_score.value or ""),
                "inactivity_minutes": number(self.inactivity.value or ""),
                "public_api_enabled": bool(self.public_api.value)}

    def _mark(self, err: ChatError | None) -> None:
        """The server's words under the field it names (the others cleared)."""
        named = err.field if err is not None else None
        for name, field in self.fields.items():
            field.error = err.message if err is not None and name == named else None
        wrong = err is not None and named == "collection_ids"
        self.collections_error.value = err.message if err is not None and wrong else ""
        self.collections_error.visible = wrong

    @action
    async def _save(self, e: ft.Event[Any]) -> None:
        try:
            saved = await self.client.update_bot(**self.changes())
        except ChatError as err:  # nothing changed on the server; the fields keep the text
            self._mark(err)
            self.say(err.message, error=True)
            return
        self._fill(saved, self.known)
        self.say(SAVED)
