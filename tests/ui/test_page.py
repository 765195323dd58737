"""ChatWidget.show on an in-memory Flet page, against the real server."""

from __future__ import annotations

from typing import Any

import flet as ft

from app_flet.ui import ChatScreen, ChatWidget
from tests.flet_page import InMemoryPage, find_all
from tests.ui.conftest import Agent, run


def test_show_mounts_sends_and_receives(chat_client: Any, agent: Agent) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            screen = ChatWidget.show(fp.page, chat_client, visitor_id="page-visitor")
            assert isinstance(fp.page.views[-1], ft.View)
            assert fp.page.views[-1].controls == [screen]
            await fp.wait_for(lambda: screen.state == "chat" and screen.session
                              and screen.session.connection_state == "connected",
                              what="the chat to open and connect")
            assert fp.visible("chat-input") and fp.visible("chat-empty")

            fp.type_into("chat-input", "Hello from the page")
            await fp.click("chat-send")
            assert fp.find("chat-input").value == ""
            texts = [c.value for c in find_all(fp.page, lambda c: str(c.key or "").endswith("-text"))
                     if isinstance(c, ft.Text)]
            assert "Hello from the page" in texts

            agent.reply(screen.session.conversation_id, "Hi, how can I help?")
            await fp.wait_for(
                lambda: any(getattr(c, "value", None) == "Hi, how can I help?"
                            for c in find_all(fp.page, lambda c: isinstance(c, ft.Text))),
                what="the agent's reply")
            await screen.close()
    run(scenario)
