"""The visitor's CSAT rating as the inbox shows it: "Rated 4/5 ★★★★☆" and the comment."""

from __future__ import annotations

from typing import Any

import flet as ft

from app_flet.ui.theme import INK, MUTED

__all__ = ["RATING_COLOR", "RatingBadge", "rating_stars", "rating_text"]

RATING_COLOR = "#B45309"  # amber, readable on white


def rating_stars(score: int) -> str:
    """Five stars, `score` of them filled."""
    return "★" * score + "☆" * (5 - score)


def rating_text(rating: Any) -> str:
    """'Rated 4/5 ★★★★☆' for a TicketRating; '' for None."""
    if rating is None:
        return ""
    return f"Rated {rating.score}/5 {rating_stars(rating.score)}"


class RatingBadge(ft.Column):
    """The rating in the conversation header: the score, then the comment if any (plain
    text, never markup). Hidden while the ticket has no rating."""

    def __init__(self, key: str = "conversation-rating") -> None:
        super().__init__(key=key, spacing=0, tight=True, visible=False)
        self.score = ft.Text("", key=f"{key}-score", size=12, color=RATING_COLOR,
                             weight=ft.FontWeight.W_600)
        self.comment = ft.Text("", key=f"{key}-comment", size=12, color=INK, italic=True,
                               max_lines=3, overflow=ft.TextOverflow.ELLIPSIS, visible=False)
        self.controls = [self.score, self.comment]

    def show(self, rating: Any) -> None:
        """Paint a TicketRating (or hide for None)."""
        self.visible = rating is not None
        self.score.value = rating_text(rating)
        self.comment.value = f"“{rating.comment}”" if rating is not None and rating.comment else ""
        self.comment.visible = bool(self.comment.value)
        self.score.tooltip = None if rating is None else "The visitor's rating"
        self.score.color = RATING_COLOR if rating is not None else MUTED
