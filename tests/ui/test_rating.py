"""The rating card: on its own (control tree, handlers fired as Flet fires them), and in the
chat screen against the real server (the agent resolves, the visitor rates, the ticket
shows it)."""

from __future__ import annotations

from typing import Any

from app_flet.headless import AsyncChatClient
from app_flet.ui import ChatScreen, ChatStrings
from app_flet.ui.rating import STAR_OFF, STAR_ON, RatingCard
from tests.conftest import Agent
from tests.flet_page import find
from tests.ui.conftest import fire, run, until

STRINGS = ChatStrings()


class Store:
    """An on_submit that records what it got and answers `refusal` (None: stored)."""

    def __init__(self, refusal: str | None = None) -> None:
        self.got: list[tuple[int, str | None]] = []
        self.refusal = refusal

    async def __call__(self, score: int, comment: str | None) -> str | None:
        self.got.append((score, comment))
        return self.refusal


def test_the_card_is_hidden_until_offered_and_send_waits_for_a_star() -> None:
    card = RatingCard(STRINGS, Store())
    assert card.visible is False
    card.offer(True)
    assert card.visible and find(card, "rating-title").value == "How did we do?"
    assert [s.tooltip for s in card.stars] == [f"{n} of 5" for n in range(1, 6)]
    assert find(card, "rating-comment").label == "Comment (optional)"
    assert find(card, "rating-comment").max_length == 1000
    assert find(card, "rating-submit").disabled is True
    card.offer(False)
    assert card.visible is False


def test_pick_four_with_a_comment_then_thanks() -> None:
    store = Store()
    card = RatingCard(STRINGS, store)
    card.offer(True)

    async def scenario() -> None:
        await fire(find(card, "rating-star-4"))
        assert card.score == 4
        assert [s.icon_color for s in card.stars] == [STAR_ON] * 4 + [STAR_OFF]
        assert find(card, "rating-submit").disabled is False
        find(card, "rating-comment").value = "  Helpful  "
        await fire(find(card, "rating-submit"))
    run(scenario)
    assert store.got == [(4, "Helpful")]
    assert card.thanked and find(card, "rating-thanks").value == "Thank you for your rating!"
    card.offer(True)  # resolved again after a reopen: a fresh card
    assert not card.thanked and card.score == 0 and card.comment.value == ""


def test_a_refusal_is_shown_and_the_card_stays() -> None:
    card = RatingCard(STRINGS, Store("This conversation was already rated."))
    card.offer(True)

    async def scenario() -> None:
        await fire(find(card, "rating-star-2"))
        await fire(find(card, "rating-submit"))
    run(scenario)
    error = find(card, "rating-error")
    assert error.visible and error.value == "This conversation was already rated."
    assert not card.thanked and find(card, "rating-submit").disabled is False


def test_offering_again_while_asking_keeps_the_pick() -> None:
    card = RatingCard(STRINGS, Store())
    card.offer(True)
    card.pick(3)
    card.offer(True)  # a second ConversationUpdated(resolved), e.g. after a reconnect
    assert card.score == 3


def test_the_screen_offers_the_card_on_resolve_and_rates(chat_client: AsyncChatClient,
                                                          agent: Agent) -> None:
    async def scenario() -> dict[str, Any]:
        screen = ChatScreen(chat_client, visitor_id="v-rate", autostart=False)
        await screen.start()
        conversation = screen.session.conversation_id
        assert find(screen, "rating").visible is False
        agent.set_status(conversation, "resolved")
        await until(lambda: screen.rating.visible, what="the rating card")
        await fire(find(screen, "rating-star-4"))
        find(screen, "rating-comment").value = "Quick answer"
        await fire(find(screen, "rating-submit"))
        assert screen.rating.thanked
        # another try of the same resolution: the server's refusal, as text
        screen.rating.offer(False)
        screen.rating.offer(True)
        await fire(find(screen, "rating-star-1"))
        await fire(find(screen, "rating-submit"))
        assert "already rated" in find(screen, "rating-error").value
        # writing again reopens the conversation: the card goes
        screen.composer.field.value = "One more thing"
        assert await screen.composer.submit()
        assert screen.rating.visible is False
        await screen.close()
        return agent.ticket(conversation)
    ticket = run(scenario)
    assert ticket["rating"]["score"] == 4 and ticket["rating"]["comment"] == "Quick answer"
