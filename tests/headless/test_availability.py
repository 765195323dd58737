"""Business hours through the headless clients: AgentClient reads / writes them and
ChatClient's config carries availability (sync and async)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AgentClient,
    AsyncAgentClient,
    AsyncChatClient,
    Availability,
    ChatClient,
    ValidationError,
)
from tests.conftest import make_business

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def shop(app: Any) -> dict[str, Any]:
    """A business of its own: its hours change, the module's shared one stays always open."""
    return make_business(app, "Hours")


def clients(app: Any, shop: dict[str, Any]) -> tuple[AgentClient, ChatClient]:
    transport = httpx.WSGITransport(app=app)
    return (AgentClient("http://testserver", secret_key=shop["sk"], transport=transport),
            ChatClient(shop["pk"], "http://testserver", transport=transport))


def test_hours_round_trip_and_reach_the_config(app: Any, shop: dict[str, Any]) -> None:
    agent, chat = clients(app, shop)
    with agent, chat:
        before = agent.get_availability()
        assert before.timezone == "UTC" and before.offline_message == ""
        assert before.hours == {day: (("00:00", "24:00"),) for day in DAYS}
        assert chat.fetch_config().availability == Availability(True, None, "")
        tomorrow = DAYS[(datetime.now(UTC).weekday() + 1) % 7]
        after = agent.update_availability(timezone="Europe/Berlin",
                                          hours={tomorrow: [("09:00", "17:00")]},
                                          offline_message="Back tomorrow")
        assert after.hours[tomorrow] == (("09:00", "17:00"),)
        assert all(ranges == () for day, ranges in after.hours.items() if day != tomorrow)
        assert agent.get_availability() == after
        config = chat.fetch_config()
        assert config.availability is not None
        assert config.availability.open is False
        assert config.availability.offline_message == "Back tomorrow"
        opens = config.availability.next_open_at
        assert opens is not None and opens.tzinfo is not None
        assert timedelta(0) < opens - datetime.now(UTC) < timedelta(days=2)
        with pytest.raises(ValidationError) as err:
            agent.update_availability(timezone="Nowhere/Special")
        assert err.value.field == "timezone"
        assert agent.get_availability() == after


def test_async_flavours(app: Any, shop: dict[str, Any]) -> None:
    async def run() -> tuple[Any, Any]:
        transport = httpx.WSGITransport(app=app)
        agent = AsyncAgentClient("http://testserver", secret_key=shop["sk"],
                                 transport=transport)
        chat = AsyncChatClient(shop["pk"], "http://testserver", transport=transport)
        try:
            saved = await agent.update_availability(hours={})
            return saved, await chat.fetch_config()
        finally:
            await agent.close()
            await chat.close()

    saved, config = asyncio.run(run())
    assert all(ranges == () for ranges in saved.hours.values())
    assert config.availability == Availability(False, None, "")
