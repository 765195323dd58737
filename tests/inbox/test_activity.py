"""The contact panel's "Recent activity": what the visitor's app tracked (ChatClient.track,
the real headless client) shown to an agent (the real AsyncAgentClient), on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import flet as ft
import pytest

from app_flet.headless import AnalyticsOptions, ChatClient
from app_flet.headless.agent import AgentClient, AsyncAgentClient
from app_flet.inbox.contact_panel import ACTIVITY_LIMIT, ContactPanel
from tests.conftest import agent_token
from tests.ui.conftest import run

QUIET = AnalyticsOptions(interval=60.0, buffer_limit=1000)  # only flush() sends


@pytest.fixture
def agent_client(app: Any, live: str, biz: dict[str, Any]) -> Iterator[AsyncAgentClient]:
    """What the shell injects after an agent logged in."""
    client = AsyncAgentClient.from_client(AgentClient(live, token=agent_token(app, biz["id"])))
    yield client
    client.sync.close()


def visitor_app(live: str, pk: str, agent: AgentClient, visitor_id: str,
                tracked: list[dict[str, Any]]) -> int:
    """A visitor's app: tracks the first half of the events before its first chat, the rest
    after; returns the contact id the chat made."""
    half = len(tracked) // 2
    with ChatClient(pk, live, analytics_options=QUIET) as chat:
        chat.set_visitor_id(visitor_id)
        for fields in tracked[:half]:
            chat.track(**fields)
        chat.flush()
        session = chat.start_session(visitor_id)
        for fields in tracked[half:]:
            chat.track(**fields)
        # close() flushes the rest
    contact_id = agent.get_ticket(session.conversation_id).ticket.customer.id
    assert contact_id is not None
    return contact_id


async def nothing(ticket_id: int) -> None:
    raise AssertionError("nothing to open")


def rows(panel: ContactPanel) -> list[str]:
    return [c.value for c in panel.activity.controls if isinstance(c, ft.Text)]


def test_recent_activity_shows_the_latest_ten_events_newest_first(
        live: str, biz: dict[str, Any], agent_client: AsyncAgentClient) -> None:
    tracked: list[dict[str, Any]] = [{"type": "screen_view", "title": f"Screen {i}"}
                                     for i in range(11)]
    tracked.append({"type": "page_view", "url": "https://shop.test/cart"})
    tracked.append({"type": "tap", "element_label": "Buy", "element_key": "buy_btn"})
    tracked.append({"type": "screen_view", "title": "**Bold** <b>not markup</b>"})
    contact_id = visitor_app(live, biz["pk"], agent_client.sync, "v-activity", tracked)
    visitor_app(live, biz["pk"], agent_client.sync, "v-other", [
        {"type": "screen_view", "title": "Someone else's"}] * 2)

    async def scenario() -> None:
        panel = ContactPanel(agent_client, nothing)
        await panel.show(contact_id)
        shown = rows(panel)
        assert len(shown) == ACTIVITY_LIMIT == 10
        assert shown[0].endswith(" · screen_view · **Bold** <b>not markup</b>")  # verbatim
        assert shown[1].endswith(" · tap · Buy")
        assert shown[2].endswith(" · page_view · https://shop.test/cart")
        assert [r.rsplit(" · ", 1)[1] for r in shown[3:]] == [
            f"Screen {i}" for i in range(10, 3, -1)]
        assert not any("Someone else's" in r for r in shown)
        assert panel.status.visible is False  # no error
    run(scenario)


def test_a_contact_without_activity_says_so(live: str, biz: dict[str, Any],
                                            agent_client: AsyncAgentClient) -> None:
    contact_id = visitor_app(live, biz["pk"], agent_client.sync, "v-quiet", [])

    async def scenario() -> None:
        panel = ContactPanel(agent_client, nothing)
        await panel.show(contact_id)
        assert rows(panel) == ["No activity yet."]
        await panel.show(999_999)  # a missing contact: nothing of the last one stays
        assert panel.activity.controls == []
    run(scenario)
