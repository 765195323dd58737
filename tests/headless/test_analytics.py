"""ChatClient.track: buffered and flushed like the Tickki SDK's TickkiAnalytics (every
interval, at buffer_limit events, at most max_batch per call, re-queued on failure), against
the real server; events read back with AgentClient.analytics_events. No flet needed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from app_flet.headless import AgentClient, AnalyticsOptions, AsyncChatClient, ChatClient
from tests.headless.conftest import TcpProxy, new_visitor

QUIET = AnalyticsOptions(interval=60.0, buffer_limit=1000)  # only flush() sends


class Counting(httpx.WSGITransport):
    """The real app in-process, remembering how many events each /chat/events call carried."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.batches: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/events"):
            self.batches.append(len(json.loads(request.read())["events"]))
        return super().handle_request(request)


def client_on(app: Any, pk: str, options: AnalyticsOptions) -> tuple[ChatClient, Counting]:
    transport = Counting(app)
    return ChatClient(pk, "http://testserver", transport=transport,
                      analytics_options=options), transport


def stored(inbox: AgentClient, visitor_id: str) -> list[str]:
    """The types the server holds for this visitor, oldest first."""
    page = inbox.analytics_events(visitor_id=visitor_id, per_page=100)
    return [e.type for e in reversed(page.events)]


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_track_and_flush_store_the_sdks_fields(app: Any, biz: dict[str, Any],
                                               inbox: AgentClient) -> None:
    chat, _ = client_on(app, biz["pk"], QUIET)
    chat.track("screen_view")  # no visitor id yet: dropped, as the SDK drops it
    assert chat.pending_events == 0
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    chat.track("screen_view", title="CheckoutScreen", url="tickki://CheckoutScreen")
    chat.track("tap", element_label="Add to cart", element_type="button",
               element_key="add_to_cart_btn", meta={"product_id": "sku-123"})
    chat.track("add_to_cart", value=19.99)
    assert chat.pending_events == 3
    assert chat.flush() == 3 and chat.pending_events == 0
    add, tap, screen = inbox.analytics_events(visitor_id=visitor).events
    assert (screen.type, screen.title, screen.url) == ("screen_view", "CheckoutScreen",
                                                       "tickki://CheckoutScreen")
    assert (tap.element_label, tap.element_key, tap.meta) == (
        "Add to cart", "add_to_cart_btn", {"product_id": "sku-123"})
    assert add.value == 19.99 and add.contact_id is None
    chat.close()


def test_start_session_sets_the_visitor_id(app: Any, biz: dict[str, Any],
                                           inbox: AgentClient) -> None:
    chat, _ = client_on(app, biz["pk"], QUIET)
    visitor = new_visitor()
    chat.start_session(visitor)
    chat.track("page_view")
    chat.flush()
    [e] = inbox.analytics_events(visitor_id=visitor).events
    assert e.visitor_id == visitor and e.contact_id is not None  # the session made a contact
    assert [x.id for x in inbox.analytics_events(contact_id=e.contact_id).events] == [e.id]
    chat.close()


def test_twenty_events_flush_without_waiting_for_the_interval(app: Any, biz: dict[str, Any],
                                                              inbox: AgentClient) -> None:
    chat, transport = client_on(app, biz["pk"], AnalyticsOptions(interval=60.0))
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    for _ in range(19):
        chat.track("tick")
    time.sleep(0.3)
    assert transport.batches == [] and chat.pending_events == 19
    chat.track("tick")
    assert eventually(lambda: len(stored(inbox, visitor)) == 20)
    assert transport.batches == [20]
    chat.close()


def test_the_interval_flushes_a_single_event(app: Any, biz: dict[str, Any],
                                             inbox: AgentClient) -> None:
    chat, _ = client_on(app, biz["pk"], AnalyticsOptions(interval=0.2))
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    chat.track("lonely")
    assert eventually(lambda: stored(inbox, visitor) == ["lonely"])
    chat.close()


def test_at_most_fifty_per_call_in_order(app: Any, biz: dict[str, Any],
                                         inbox: AgentClient) -> None:
    chat, transport = client_on(app, biz["pk"], QUIET)
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    for i in range(120):
        chat.track(f"e{i}")
    assert chat.flush() == 120
    assert transport.batches == [50, 50, 20]
    types: list[str] = []
    cursor = None
    while True:
        page = inbox.analytics_events(visitor_id=visitor, per_page=100, cursor=cursor)
        types += [e.type for e in page.events]
        if (cursor := page.next_cursor) is None:
            break
    assert types == [f"e{i}" for i in reversed(range(120))]
    chat.close()


def test_a_failed_flush_requeues_and_sends_once_later(live: str, biz: dict[str, Any],
                                                      inbox: AgentClient) -> None:
    proxy = TcpProxy(live)
    chat = ChatClient(biz["pk"], proxy.url, timeout=2.0, analytics_options=QUIET)
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    try:
        proxy.cut()
        for i in range(5):
            chat.track(f"e{i}")
        assert chat.flush() == 0
        assert chat.pending_events == 5  # kept, at the head of the buffer
        chat.track("e5")
        proxy.restore()
        assert chat.flush() == 6
        assert stored(inbox, visitor) == [f"e{i}" for i in range(6)]
    finally:
        chat.close()
        proxy.close()


def test_the_buffer_is_bounded_while_the_server_is_away(live: str,
                                                        biz: dict[str, Any]) -> None:
    proxy = TcpProxy(live)
    chat = ChatClient(biz["pk"], proxy.url, timeout=2.0, analytics_options=AnalyticsOptions(
        interval=60.0, buffer_limit=1000, max_buffered=10))
    chat.set_visitor_id(new_visitor())
    proxy.cut()
    try:
        for i in range(15):
            chat.track(f"e{i}")
        assert chat.pending_events == 10
        assert chat.flush() == 0 and chat.pending_events == 10
    finally:
        chat.close()
        proxy.close()


def test_a_refused_batch_is_dropped_not_retried(app: Any, biz: dict[str, Any],
                                                inbox: AgentClient) -> None:
    chat, transport = client_on(app, biz["pk"], QUIET)
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    chat.track("has space")  # the server refuses the type: 400, sending again cannot help
    assert chat.flush() == 0 and chat.pending_events == 0
    chat.track("fine")
    assert chat.flush() == 1
    assert transport.batches == [1, 1] and stored(inbox, visitor) == ["fine"]
    chat.close()


def test_close_flushes_what_is_left(app: Any, biz: dict[str, Any],
                                    inbox: AgentClient) -> None:
    chat, _ = client_on(app, biz["pk"], QUIET)
    visitor = new_visitor()
    chat.set_visitor_id(visitor)
    chat.track("a")
    chat.track("b")
    chat.close()
    assert stored(inbox, visitor) == ["a", "b"]
    chat.track("after close")  # dropped: nothing runs after close
    assert chat.pending_events == 0


def test_async_client_tracks_and_flushes(app: Any, biz: dict[str, Any],
                                         inbox: AgentClient) -> None:
    visitor = new_visitor()

    async def main() -> int:
        async with AsyncChatClient(biz["pk"], "http://testserver",
                                   transport=httpx.WSGITransport(app=app),
                                   analytics_options=QUIET) as chat:
            chat.set_visitor_id(visitor)
            await chat.track("async_view", title="Home")
            assert chat.pending_events == 1
            return await chat.flush()

    assert asyncio.run(main()) == 1
    [e] = inbox.analytics_events(visitor_id=visitor).events
    assert (e.type, e.title) == ("async_view", "Home")
