"""Realtime against the live server: events via on() and events(), sync and async; dedupe;
catch-up after a real disconnect (a TCP proxy cut, then restored); dead-socket detection;
credentials refused stop reconnecting."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app_flet.headless import (
    AsyncChatClient,
    AuthError,
    BrandingUpdated,
    ChatClient,
    ChatConnectionError,
    ChatSession,
    ConnectionChanged,
    ConversationUpdated,
    Event,
    MessageCreated,
    PresenceUpdated,
    RealtimeOptions,
    TypingStarted,
)
from server.db import session_scope
from server.models import Message
from tests.conftest import Agent, make_business
from tests.headless.conftest import FAST, Collector, TcpProxy, new_visitor, settle


def connected(session: ChatSession) -> Collector:
    collector = Collector()
    session.on(collector)
    session.connect(wait=True, timeout=5)
    return collector


def test_agent_reply_arrives_via_on(remote: ChatClient, agent: Agent) -> None:
    session = remote.start_session(new_visitor())
    collector = connected(session)
    reply = agent.reply(session.conversation_id, "Hello from support")
    message = collector.message("Hello from support")
    assert message.id == reply["id"] and not message.from_visitor
    assert message.sender is not None and message.sender.role == "agent"
    # callbacks run on the session's event thread, never the caller's
    assert collector.threads == {f"chatdock-events-{session.session_id}"}
    assert threading.current_thread().name not in collector.threads
    assert [s.state for s in collector.states()] == ["connecting", "connected"]


def test_agent_reply_arrives_via_events(remote: ChatClient, agent: Agent) -> None:
    session = remote.start_session(new_visitor())
    events = session.events()
    session.connect(wait=True, timeout=5)
    agent.reply(session.conversation_id, "Via the iterator")
    watchdog = threading.Timer(10, session.close)  # a missing event fails, never hangs
    watchdog.start()
    seen: list[Event] = []
    for event in events:
        seen.append(event)
        if isinstance(event, MessageCreated):
            break
    watchdog.cancel()
    assert isinstance(seen[-1], MessageCreated) and seen[-1].message.content == "Via the iterator"
    threading.Timer(0.1, session.close).start()
    rest = list(events)  # ends when the session closes
    assert rest and rest[-1] == ConnectionChanged("closed")


def test_async_flavour(live: str, biz: dict[str, Any], agent: Agent) -> None:
    async def main() -> tuple[list[Event], list[Event]]:
        async with AsyncChatClient(biz["pk"], live, realtime_options=FAST) as client:
            config = await client.fetch_config()
            assert config.business.name == "Acme"
            session = await client.start_session(new_visitor(), name="Ann")
            on_events = Collector()
            session.on(on_events)
            stream = session.events()
            await session.connect()
            await asyncio.to_thread(agent.reply, session.conversation_id, "Async hello")
            mine = await session.send("Async mine")
            got: list[Event] = []

            async def until_both() -> None:
                async for event in stream:
                    got.append(event)
                    if {e.message.content for e in got if isinstance(e, MessageCreated)} \
                            == {"Async hello", "Async mine"}:
                        return
            await asyncio.wait_for(until_both(), timeout=5)
            assert mine.from_visitor
            page = await session.load_history()
            assert [m.content for m in page.messages] == ["Async mine", "Async hello"]
            assert (await session.identify(email="ann@example.com")).name == "Ann"
            await session.send_typing()
            await session.heartbeat()
            await session.close()
            tail = await asyncio.wait_for(_drain(stream), timeout=5)  # ends with the session
            assert tail[-1] == ConnectionChanged("closed")
            return got, on_events.events
    got, on_events = asyncio.run(main())
    assert [e for e in got if isinstance(e, MessageCreated)] == \
        [e for e in on_events if isinstance(e, MessageCreated)]


async def _drain(stream: AsyncIterator[Event]) -> list[Event]:
    return [e async for e in stream]


def test_from_client_shares_the_sync_client(remote: ChatClient) -> None:
    async def main() -> None:
        client = AsyncChatClient.from_client(remote)
        session = await client.start_session(new_visitor())
        assert session.sync in set(remote._sessions)
        await client.close()
        assert remote.closed and session.closed
    asyncio.run(main())


def test_own_send_appears_once(remote: ChatClient) -> None:
    session = remote.start_session(new_visitor())
    collector = connected(session)
    sent = [session.send(f"mine {i}") for i in range(5)]
    for message in sent:
        collector.message(message.content)
    settle()
    assert [m.id for m in collector.messages()] == [m.id for m in sent]


def test_typing_status_branding_and_presence_events(remote: ChatClient, agent: Agent) -> None:
    session = remote.start_session(new_visitor())
    collector = connected(session)
    # a newly subscribed channel is told how many agents are online (the server polls ~2 s)
    assert collector.wait_for(lambda e: isinstance(e, PresenceUpdated)) == PresenceUpdated(0)
    agent.typing(session.conversation_id)
    typing = collector.wait_for(lambda e: isinstance(e, TypingStarted))
    assert typing == TypingStarted("agent", "Acme")
    agent.set_status(session.conversation_id, "resolved")
    updated = collector.wait_for(lambda e: isinstance(e, ConversationUpdated))
    assert isinstance(updated, ConversationUpdated) and updated.status == "resolved"
    assert updated.resolved_at is not None and updated.resolved_at.tzinfo is not None
    agent.brand(primary_color="#123456", welcome_message="Welcome back")
    branding = collector.wait_for(lambda e: isinstance(e, BrandingUpdated))
    assert isinstance(branding, BrandingUpdated)
    assert branding.branding.primary_color == "#123456"
    assert branding.branding.welcome_message == "Welcome back"
    assert branding.business.name == "Acme"


def test_first_subscribe_catches_up_after_loaded_history(remote: ChatClient, agent: Agent
                                                         ) -> None:
    session = remote.start_session(new_visitor())
    session.send("before")
    session.load_history()  # the watermark: everything up to "before" is on screen
    agent.reply(session.conversation_id, "while nobody listened")
    collector = connected(session)
    message = collector.message("while nobody listened")
    settle()
    assert collector.messages() == [message]


def test_first_subscribe_without_history_only_sets_the_watermark(remote: ChatClient,
                                                                 agent: Agent) -> None:
    session = remote.start_session(new_visitor())
    agent.reply(session.conversation_id, "old news")  # the consumer loads history for this
    collector = connected(session)
    agent.reply(session.conversation_id, "fresh")
    collector.message("fresh")
    settle()
    assert [m.content for m in collector.messages()] == ["fresh"]


def test_reply_during_disconnect_arrives_once_after_reconnect(proxy: TcpProxy, biz: dict[str, Any],
                                                             agent: Agent) -> None:
    client = ChatClient(biz["pk"], proxy.url, realtime_options=FAST)
    session = client.start_session(new_visitor())
    assert session.details.realtime.port == proxy.port  # the socket goes through the proxy
    collector = connected(session)
    agent.reply(session.conversation_id, "before the cut")
    collector.message("before the cut")
    mark = len(collector.events)

    proxy.cut()
    collector.state("reconnecting", after=mark)
    agent.reply(session.conversation_id, "during the cut")  # straight to the server
    time.sleep(0.8)  # several failed attempts: the schedule climbs to its cap
    proxy.restore()
    collector.message("during the cut")
    collector.state("connected", after=mark)
    agent.reply(session.conversation_id, "after the cut")
    collector.message("after the cut")
    settle()

    assert [m.content for m in collector.messages()] == \
        ["before the cut", "during the cut", "after the cut"]
    outage = [e for e in collector.events[mark:]
              if isinstance(e, ConnectionChanged) and e.state == "reconnecting"]
    assert [e.retry_in for e in outage][:3] == [0.1, 0.2, 0.3]
    assert {e.retry_in for e in outage[3:]} <= {0.3}
    assert all(isinstance(e.error, ChatConnectionError) for e in outage)

    # the schedule starts over after a successful subscribe
    mark = len(collector.events)
    proxy.cut()
    assert collector.state("reconnecting", after=mark).retry_in == 0.1
    proxy.restore()
    collector.state("connected", after=mark)
    client.close()
    assert collector.states()[-1] == ConnectionChanged("closed")


def test_dead_socket_is_noticed_by_ping(proxy: TcpProxy, biz: dict[str, Any],
                                        agent: Agent) -> None:
    options = dataclasses.replace(FAST, ping_interval=0.3, pong_timeout=0.3)
    with ChatClient(biz["pk"], proxy.url, realtime_options=options) as client:
        session = client.start_session(new_visitor())
        collector = connected(session)
        mark = len(collector.events)
        proxy.freeze()  # the TCP connection stays up, nothing gets through
        agent.reply(session.conversation_id, "into the void")
        down = collector.state("reconnecting", after=mark)
        assert down.error is not None and "pong" in down.error.message
        assert down.retry_in == 0.0  # Pusher's rule: a missed pong reconnects at once
        collector.message("into the void")
        settle()
        assert [m.content for m in collector.messages()] == ["into the void"]


def test_connect_wait_times_out_then_recovers(proxy: TcpProxy, biz: dict[str, Any]) -> None:
    with ChatClient(biz["pk"], proxy.url, realtime_options=FAST) as client:
        session = client.start_session(new_visitor())
        proxy.cut()
        with pytest.raises(ChatConnectionError):
            session.connect(wait=True, timeout=0.5)
        proxy.restore()
        session.connect(wait=True, timeout=5)  # it kept trying in the background
        assert session.connection_state == "connected"


def test_wrong_app_key_stops_with_auth_error(remote: ChatClient) -> None:
    session = remote.start_session(new_visitor())
    details = dataclasses.replace(session.details, realtime=dataclasses.replace(
        session.details.realtime, key="not-our-app"))
    broken = ChatSession(remote, details)
    collector = Collector()
    broken.on(collector)
    with pytest.raises(AuthError):
        broken.connect(wait=True, timeout=5)
    closed = collector.state("closed")
    assert isinstance(closed.error, AuthError) and closed.error.is_auth_error
    settle()
    assert [s.state for s in collector.states()] == ["connecting", "closed"]  # no retries
    broken.close()


def test_refused_channel_auth_stops(remote: ChatClient) -> None:
    session = remote.start_session(new_visitor())
    forged = ChatSession(remote, dataclasses.replace(session.details, session_token="st_x"))
    with pytest.raises(AuthError) as caught:
        forged.connect(wait=True, timeout=5)
    assert caught.value.code == "invalid_session"
    assert forged.connection_state == "closed"
    forged.close()


def test_revoked_key_closes_the_socket_for_good(app: Any, live: str) -> None:
    doomed = make_business(app, "Doomed")  # its own keys: the module's stay valid
    with ChatClient(doomed["pk"], live, realtime_options=FAST) as client:
        session = client.start_session(new_visitor())
        collector = connected(session)
        Agent(live, doomed["sk"]).revoke(doomed["pk_id"])
        closed = collector.state("closed", timeout=10)  # revocations are polled every 2 s
        assert isinstance(closed.error, AuthError)
        assert "reconnecting" not in [s.state for s in collector.states()]


def test_listener_errors_do_not_stop_delivery(remote: ChatClient, agent: Agent) -> None:
    session = remote.start_session(new_visitor())

    def broken(event: Event) -> None:
        raise RuntimeError("a buggy listener")
    session.on(broken)
    collector = connected(session)
    unsubscribe = session.on(lambda e: None)
    unsubscribe()
    agent.reply(session.conversation_id, "still delivered")
    collector.message("still delivered")


def test_realtime_options_schedule() -> None:
    options = RealtimeOptions()
    assert [options.delay(i) for i in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_reconnect_catches_up_a_message_whose_event_never_came(
        proxy: TcpProxy, app: Any, biz: dict[str, Any], agent: Agent) -> None:
    """A worker killed between commit and publish (bench/chaos.py found it): the message is
    stored, its event never sent, and a later one arrives; reconnecting must fill the gap."""
    client = ChatClient(biz["pk"], proxy.url, realtime_options=FAST)
    session = client.start_session(new_visitor())
    collector = connected(session)
    with session_scope(app) as db:  # committed, and no event published for it
        db.add(Message(conversation_id=session.conversation_id, direction="outbound",
                       content="no event for me", sender_role="agent"))
    agent.reply(session.conversation_id, "a later reply")
    collector.message("a later reply")
    mark = len(collector.events)
    proxy.cut()
    collector.state("reconnecting", after=mark)
    proxy.restore()
    collector.message("no event for me")
    settle()
    assert [m.content for m in collector.messages()] == ["a later reply", "no event for me"]
    client.close()


def test_reconnect_does_not_replay_older_history(proxy: TcpProxy, biz: dict[str, Any],
                                                 agent: Agent) -> None:
    """Catch-up fills gaps since the first subscribe, never pages the consumer has not
    loaded (older than its first page of history)."""
    client = ChatClient(biz["pk"], proxy.url, realtime_options=FAST)
    session = client.start_session(new_visitor())
    for i in range(5):
        agent.reply(session.conversation_id, f"old {i}")
    session.load_history(limit=2)  # the consumer shows the newest two
    collector = connected(session)
    mark = len(collector.events)
    proxy.cut()
    collector.state("reconnecting", after=mark)
    proxy.restore()
    collector.state("connected", after=mark)
    agent.reply(session.conversation_id, "new")
    collector.message("new")
    settle()
    assert [m.content for m in collector.messages()] == ["new"]
    client.close()
