"""The rating card (CSAT): five stars and an optional comment once the conversation is
resolved; it thanks the visitor once the rating is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, Palette

__all__ = ["STAR_OFF", "STAR_ON", "RatingCard"]

STAR_ON, STAR_OFF = "#F59E0B", "#D1D5DB"
COMMENT_MAX = 1000  # the server's limit


class RatingCard(ft.Container):
    """Hidden until `offer(True)`. `on_submit(score, comment)` stores the rating and returns
    None, or the reason it was refused (shown as text; the card stays for another try)."""

    def __init__(self, strings: ChatStrings,
                 on_submit: Callable[[int, str | None], Awaitable[str | None]]) -> None:
        super().__init__(key="rating", visible=False, bgcolor="#FFFFFF",
                         padding=ft.Padding.symmetric(horizontal=14, vertical=10))
        self._strings, self._on_submit = strings, on_submit
        self.score = 0
        self.stars = [ft.IconButton(ft.Icons.STAR_ROUNDED, key=f"rating-star-{n}",
                                    icon_color=STAR_OFF, tooltip=strings.rating_star.format(n=n),
                                    data=n, on_click=self._star_clicked) for n in range(1, 6)]
        self.comment = ft.TextField(key="rating-comment", label=strings.rating_comment,
                                    multiline=True, min_lines=1, max_lines=3,
                                    max_length=COMMENT_MAX)
        self.error = ft.Text("", key="rating-error", color=ERROR, visible=False)
        self.submit_button = ft.FilledButton(strings.rating_submit, key="rating-submit",
                                             disabled=True, on_click=self._submit_clicked)
        self.form = ft.Column([
            ft.Text(strings.rating_title, key="rating-title", weight=ft.FontWeight.W_600),
            ft.Row([ft.MergeSemantics(s) for s in self.stars], spacing=0),
            self.comment, self.error, self.submit_button,
        ], spacing=6, tight=True, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        self.thanks = ft.Text(strings.rating_thanks, key="rating-thanks")
        self.content = self.form
        self.paint(Palette())

    def paint(self, palette: Palette) -> None:
        self.submit_button.bgcolor, self.submit_button.color = palette.primary, palette.on_primary

    @property
    def thanked(self) -> bool:
        """Whether the rating was stored (the card shows its thank-you)."""
        return self.content is self.thanks

    def offer(self, ask: bool) -> None:
        """Show a fresh card (the conversation was resolved) or hide it (reopened)."""
        if ask and self.visible and not self.thanked:
            return  # already asking: keep what the visitor picked or typed
        self.visible = ask
        self.content = self.form
        self.pick(0)
        self.comment.value = ""
        self.error.visible = False

    def pick(self, score: int) -> None:
        """Select `score` stars (0: none); Send is enabled once one is picked."""
        self.score = score
        for n, star in enumerate(self.stars, start=1):
            star.icon_color = STAR_ON if n <= score else STAR_OFF
            star.selected = n <= score
        self.submit_button.disabled = score == 0

    async def submit(self) -> None:
        """Hand the score and comment on; thank the visitor, or show why it was refused."""
        if not self.score:
            return
        self.submit_button.disabled = True
        self.error.visible = False
        refused = await self._on_submit(self.score, (self.comment.value or "").strip() or None)
        if refused is None:
            self.content = self.thanks
            return
        self.error.value, self.error.visible = refused, True
        self.submit_button.disabled = False

    async def _star_clicked(self, e: ft.Event[Any]) -> None:
        self.pick(int(e.control.data))

    async def _submit_clicked(self, e: ft.Event[Any]) -> None:
        await self.submit()
