"""The visitor's rating in the inbox: the conversation header and the ticket row show it
as soon as the visitor rates (the business channel's ConversationUpdated), and on open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app_flet.headless import AsyncAgentClient, TicketRating
from app_flet.inbox.rating import RatingBadge, rating_text
from tests.inbox.conftest import Team, logged_in
from tests.ui.conftest import fire, run, until


def test_the_badge_shows_score_and_comment_as_plain_text() -> None:
    badge = RatingBadge()
    badge.show(None)
    assert badge.visible is False
    badge.show(TicketRating(4, "<b>fast</b> & kind", datetime(2026, 12, 1, tzinfo=UTC)))
    assert badge.visible
    assert badge.score.value == "Rated 4/5 ★★★★☆"
    assert badge.comment.visible and badge.comment.value == "“<b>fast</b> & kind”"
    badge.show(TicketRating(2, None, datetime(2026, 12, 1, tzinfo=UTC)))
    assert badge.score.value == "Rated 2/5 ★★☆☆☆" and badge.comment.visible is False
    assert rating_text(None) == ""


def test_a_rating_shows_live_in_the_header_and_the_row(inbox_client: AsyncAgentClient,
                                                        team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("thanks for the help")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        row = shell.list.row(dana.conversation_id)
        assert row is not None
        assert view.rating.visible is False and row.rating.visible is False
        await fire(view.resolve_button)
        await dana.session.rate(4, "Quick answer")
        await until(lambda: view.rating.visible, what="the rating in the header")
        assert view.rating.score.value == "Rated 4/5 ★★★★☆"
        assert view.rating.comment.value == "“Quick answer”"
        await until(lambda: row.rating.visible, what="the rating in the list")
        assert row.rating.value == "★4" and row.rating.tooltip == "Rated 4/5 ★★★★☆"
        shell.close()

        # a fresh inbox reads it from the API
        again = await logged_in(inbox_client)
        await again.open_ticket(dana.conversation_id)
        assert again.conversation.rating.score.value == "Rated 4/5 ★★★★☆"
        again.close()
    run(scenario)
