"""ChatSession.rate against the real server: the visitor hears the resolve on its socket,
rates once, and the agent's inbox hears the ticket with its rating."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app_flet.headless import (
    AgentClient,
    AsyncChatClient,
    ChatClient,
    ConflictError,
    ConversationUpdated,
    Rating,
    TicketUpdated,
    ValidationError,
)
from tests.headless.conftest import FAST, Collector, new_visitor


@pytest.fixture
def visitors(live: str, biz: dict[str, Any]) -> Iterator[ChatClient]:
    client = ChatClient(biz["pk"], live, realtime_options=FAST)
    yield client
    client.close()


def test_rate_once_after_the_resolve_and_the_inbox_hears_it(
        live_inbox: AgentClient, visitors: ChatClient) -> None:
    agent_events, visitor_events = Collector(), Collector()
    live_inbox.on(agent_events)
    live_inbox.connect(wait=True, timeout=5)
    session = visitors.start_session(new_visitor())
    session.on(visitor_events)
    session.connect(wait=True, timeout=5)
    assert session.rating_status().pending is False
    with pytest.raises(ConflictError, match="not resolved"):
        session.rate(5)

    live_inbox.resolve(session.conversation_id)
    visitor_events.wait_for(lambda e: isinstance(e, ConversationUpdated)
                            and e.status == "resolved")
    assert session.rating_status().pending is True
    rating = session.rate(4, "Fast, thanks")
    assert isinstance(rating, Rating) and (rating.score, rating.comment) == (4, "Fast, thanks")

    heard = agent_events.wait_for(
        lambda e: isinstance(e, TicketUpdated) and e.ticket.id == session.conversation_id
        and e.ticket.rating is not None)
    assert isinstance(heard, TicketUpdated) and heard.ticket.rating is not None
    assert (heard.ticket.rating.score, heard.ticket.rating.comment) == (4, "Fast, thanks")
    shown = live_inbox.get_ticket(session.conversation_id).ticket.rating
    assert shown is not None and shown.created_at == rating.created_at
    status = session.rating_status()
    assert (status.pending, status.rating) == (False, rating)
    with pytest.raises(ConflictError, match="already rated"):
        session.rate(1)
    with pytest.raises(ValidationError):
        session.rate(9)
    session.close()


def test_async_rate(live: str, biz: dict[str, Any], live_inbox: AgentClient) -> None:
    async def main() -> Rating:
        async with AsyncChatClient(biz["pk"], live) as chat:
            session = await chat.start_session(new_visitor())
            live_inbox.resolve(session.conversation_id)
            return await session.rate(2)

    rating = asyncio.run(main())
    assert (rating.score, rating.comment) == (2, None)
