"""ChatWidget.show on an in-memory Flet page (tests/flet_page.py), against the real server:
the page is driven the way the Flutter client drives it (property patches for typing,
control events for clicks) and asserted on what would reach the client."""

from __future__ import annotations

from typing import Any

import flet as ft

from app_flet.headless import AsyncChatClient
from app_flet.ui import ChatScreen, ChatWidget
from tests.conftest import Agent
from tests.flet_page import InMemoryPage
from tests.ui.conftest import run


async def opened(fp: InMemoryPage, client: Any, **kwargs: Any) -> ChatScreen:
    screen = ChatWidget.show(fp.page, client, visitor_id=kwargs.pop("visitor_id", "pv"),
                             **kwargs)
    await fp.wait_for(lambda: screen.state == "chat" and screen.session is not None
                      and screen.session.connection_state == "connected",
                      what="the chat to open and connect")
    return screen


def test_show_pushes_a_full_page_view(chat_client: AsyncChatClient) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            fp.page.add(ft.Text("the developer's own page"))
            screen = await opened(fp, chat_client)
            view = fp.page.views[-1]
            assert len(fp.page.views) == 2 and view.controls == [screen]
            assert view.fullscreen_dialog and view.padding == 0 and screen.expand
            assert fp.visible("chat-input") and fp.visible("chat-send")
            assert fp.visible("chat-empty") and fp.visible("chat-close")
            assert fp.sent("Type a message…") and fp.sent("Acme")
            await screen.close()
    run(scenario)


def test_the_cleared_field_reaches_the_client_send_after_send(
        chat_client: AsyncChatClient) -> None:
    """Flet sends a value only when it differs from the last it sent, not from what the
    user typed since: without the composer's resync the second clear never reaches the
    browser, and the next message carries the previous one's text."""
    def cleared(fp: InMemoryPage, since: int) -> bool:
        return any(op[2:] == ["value", ""] for frame in fp.connection.sent[since:]
                   if frame[0] == 2 for op in frame[1]["patch"][1:])

    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client, visitor_id="pv-resync")
            for text in ("first", "second", "third"):
                fp.type_into("chat-input", text)
                since = len(fp.connection.sent)
                await fp.click("chat-send")
                assert fp.find("chat-input").value == "" and cleared(fp, since), text
            await screen.close()
    run(scenario)


def test_typing_and_clicking_send_posts_a_message(chat_client: AsyncChatClient,
                                                   agent: Agent, live: str,
                                                   biz: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client)
            fp.type_into("chat-input", "Hello from the page")
            await fp.click("chat-send")
            assert fp.find("chat-input").value == ""
            (message,) = screen.messages.messages
            assert fp.find(f"msg-{message.id}-text").value == "Hello from the page"
            assert fp.sent("Hello from the page")
            # Enter in the field (on_submit) sends too
            fp.type_into("chat-input", "and with Enter")
            await fp.event("chat-input", "submit")
            ticket = agent.ticket(screen.session.conversation_id)
            assert [m["content"] for m in ticket["messages"]] == ["Hello from the page",
                                                                  "and with Enter"]
            await screen.close()
    run(scenario)


def test_agent_reply_arrives_through_realtime(chat_client: AsyncChatClient,
                                              agent: Agent) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client)
            agent.typing(screen.session.conversation_id)
            await fp.wait_for(lambda: fp.visible("chat-typing"), what="the typing row")
            reply = agent.reply(screen.session.conversation_id, "Hi, how can I help?")
            await fp.wait_for(lambda: fp.find(f"msg-{reply['id']}-text").value
                              == "Hi, how can I help?", what="the agent's reply")
            assert not fp.visible("chat-typing")
            await fp.wait_for(lambda: fp.sent("Hi, how can I help?"),
                              what="the reply to reach the client")
            await screen.close()
    run(scenario)


def test_branding_change_repaints_the_page(chat_client: AsyncChatClient,
                                           agent: Agent) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client)
            agent.brand(name="Zenith", primary_color="#14532D")
            await fp.wait_for(lambda: fp.sent("Zenith") and fp.sent("#14532D"),
                              what="the repaint to reach the client")
            assert fp.find("chat-header").bgcolor == "#14532D"
            await screen.close()
    run(scenario)


def test_prechat_form_on_the_page(chat_client: AsyncChatClient, agent: Agent) -> None:
    agent.brand(require_identification=True)

    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = ChatWidget.show(fp.page, chat_client, visitor_id="pv-form")
            await fp.wait_for(lambda: fp.visible("prechat-submit"), what="the pre-chat form")
            fp.type_into("prechat-name", "Ana")
            fp.type_into("prechat-email", "ana@example.com")
            await fp.click("prechat-submit")
            await fp.wait_for(lambda: fp.visible("chat-input"), what="the chat")
            assert screen.session.contact.email == "ana@example.com"
            await screen.close()
    run(scenario)


def test_close_button_closes_the_session_and_pops_the_view(
        chat_client: AsyncChatClient) -> None:
    closed: list[bool] = []

    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client, on_close=lambda: closed.append(True))
            session = screen.session
            await fp.click("chat-close")
            assert closed == [True] and screen.closed and session.closed
            assert len(fp.page.views) == 1
    run(scenario)


def test_removing_the_screen_closes_the_session(chat_client: AsyncChatClient) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = await opened(fp, chat_client)
            session = screen.session
            fp.page.views.pop()
            fp.page.update()  # unmounts the screen
            await fp.wait_for(lambda: session.closed, what="the session to close")
            assert fp.page.on_close is None and fp.page.on_disconnect is None  # unhooked
            # a late push for the removed screen is dropped without error
            screen._deliver(object())
    run(scenario)


def test_page_disconnect_pauses_the_heartbeat_and_expiry_closes(
        chat_client: AsyncChatClient) -> None:
    seen: list[str] = []

    async def scenario() -> None:
        async with InMemoryPage() as fp:
            fp.page.on_disconnect = lambda e: seen.append("app's own handler")
            screen = await opened(fp, chat_client)
            session = screen.session
            # started once connect() has returned on the loop: a moment after the reader
            # thread reports "connected" (a loaded CI run saw the gap)
            await fp.wait_for(lambda: session.sync._heartbeat is not None,
                              what="the heartbeat to start")
            await fp.session.dispatch_event(fp.page._i, "disconnect", None)
            assert session.sync._heartbeat is None and seen == ["app's own handler"]
            await fp.session.dispatch_event(fp.page._i, "connect", None)
            assert session.sync._heartbeat is not None
            await fp.session.dispatch_event(fp.page._i, "close", None)
            assert screen.closed and session.closed
    run(scenario)
