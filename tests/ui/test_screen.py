"""ChatScreen's states with the real AsyncChatClient against the real server (no page:
the screen is driven directly, which also proves it tolerates not being mounted)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import flet as ft
import httpx

from app_flet.headless import AsyncChatClient, ChatClient, ConnectionChanged
from app_flet.ui import ChatScreen, ChatStrings
from app_flet.ui.theme import INK, WHITE
from server import create_app
from tests.conftest import (
    Agent,
    agent_token,
    auth,
    free_port,
    make_business,
    serving,
    start_visitor,
)
from tests.e2e.png import solid_png
from tests.flet_page import find
from tests.ui.conftest import PDF, Picker, fire, picked, run, until


def screen_for(client: Any, visitor_id: str = "v-1", **kwargs: Any) -> ChatScreen:
    return ChatScreen(client, visitor_id=visitor_id, autostart=False, **kwargs)


def texts(screen: ChatScreen) -> list[str]:
    return [m.content for m in screen.messages.messages]


def test_start_paints_branding_loads_history_and_connects(
        chat_client: AsyncChatClient, agent: Agent, live: str, biz: dict[str, Any]) -> None:
    agent.brand(primary_color="#0E7490", accent_color="#FDE047",
                welcome_message="Welcome to Acme!")
    earlier = start_visitor(live, biz["pk"], "v-1")
    httpx.post(f"{live}/api/v1/chat/sessions/{earlier['conversation_id']}/messages",
               json={"content": "from an earlier visit"},
               headers=auth(biz["pk"], earlier["session_token"])).raise_for_status()
    agent.reply(earlier["conversation_id"], "an earlier answer")

    async def scenario() -> None:
        screen = screen_for(chat_client)
        assert screen.state == "loading"
        await screen.start()
        assert screen.state == "chat"
        assert screen.header.name.value == "Acme" and screen.header.bgcolor == "#0E7490"
        assert screen.header.name.color == WHITE
        assert screen.composer.send_button.bgcolor == "#FDE047"
        assert screen.composer.send_button.icon_color == INK
        assert screen.composer.max_length == 8000
        assert texts(screen) == ["from an earlier visit", "an earlier answer"]
        assert screen.session.connection_state == "connected"
        await screen.close()
        assert screen.session is None
    run(scenario)


def test_empty_conversation_shows_welcome(chat_client: AsyncChatClient, agent: Agent) -> None:
    agent.brand(welcome_message="Hi there! We usually answer in minutes.")

    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        assert screen.messages.empty.visible
        assert screen.messages.welcome.value == "Hi there! We usually answer in minutes."
        await screen.close()
    run(scenario)


def test_send_and_receive_dedupes_by_id(chat_client: AsyncChatClient, agent: Agent) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        screen.composer.field.value = "Where is my order? **#123** <b>now</b>"
        assert await screen.composer.submit()
        assert screen.composer.field.value == ""
        agent.reply(screen.session.conversation_id, "Let me check _that_ for you.")
        await until(lambda: len(screen.messages.messages) == 2, what="the agent's reply")
        mine, theirs = (screen.messages._bubbles[m.id] for m in screen.messages.messages)
        assert mine.text.value == "Where is my order? **#123** <b>now</b>" and mine.mine
        assert theirs.text.value == "Let me check _that_ for you." and not theirs.mine
        # the send's result, its realtime echo and the history page: one bubble each
        history = await screen.session.load_history()
        screen.messages.add(history.messages)
        assert len(screen.messages.messages) == 2
        assert [c.key for c in screen.messages.list.controls] == [
            f"day-{mine.message.created_at.astimezone().date().isoformat()}",
            f"msg-{mine.message.id}", f"msg-{theirs.message.id}"]
        await screen.close()
    run(scenario)


def test_typing_indicator_until_the_reply(chat_client: AsyncChatClient, agent: Agent) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        conversation = screen.session.conversation_id
        agent.typing(conversation)
        await until(lambda: screen.messages.typing_row.visible, what="the typing row")
        assert screen.messages.typing.value.endswith("is typing…")
        agent.reply(conversation, "Done!")
        await until(lambda: not screen.messages.typing_row.visible, what="typing to hide")
        assert texts(screen) == ["Done!"]
        await screen.close()
    run(scenario)


def test_typing_indicator_times_out(chat_client: AsyncChatClient, agent: Agent) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client, typing_timeout=0.3)
        await screen.start()
        agent.typing(screen.session.conversation_id)
        await until(lambda: screen.messages.typing_row.visible, what="the typing row")
        await until(lambda: not screen.messages.typing_row.visible, timeout=3,
                    what="the typing row to time out")
        await screen.close()
    run(scenario)


def test_presence_repaints_live(chat_client: AsyncChatClient, app: Any, live: str,
                                biz: dict[str, Any]) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        assert screen.header.status.value == ChatStrings().offline
        token = agent_token(app, biz["id"])  # an agent is here
        httpx.post(f"{live}/api/v1/agents/heartbeat",
                   headers=auth(token)).raise_for_status()
        await until(lambda: screen.header.status.value == ChatStrings().online, timeout=10,
                    what="the server's PresenceUpdated (it polls every 2 s)")
        assert screen.config is not None and screen.config.agents_online == 1
        await screen.close()
    run(scenario)


def test_branding_repaints_live(chat_client: AsyncChatClient, agent: Agent) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        assert screen.header.avatar.visible and screen.header.initial.value == "A"
        agent.brand(name="Zenith Books", primary_color="#FDE047", accent_color="#1E3A8A",
                    welcome_message="Books, fast.", logo_url="https://cdn.example/z.png")
        await until(lambda: screen.header.name.value == "Zenith Books", what="the repaint")
        assert screen.header.bgcolor == "#FDE047" and screen.header.name.color == INK
        assert screen.header.logo.visible and not screen.header.avatar.visible
        assert screen.header.logo.src == "https://cdn.example/z.png"
        assert screen.composer.send_button.bgcolor == "#1E3A8A"
        assert screen.composer.send_button.icon_color == WHITE
        assert screen.messages.welcome.value == "Books, fast."
        await screen.close()
    run(scenario)


def test_prechat_form_when_identification_is_required(
        chat_client: AsyncChatClient, agent: Agent) -> None:
    agent.brand(require_identification=True)

    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        assert screen.state == "prechat" and screen.session is None
        screen.prechat.email.value = "nope"
        await screen.prechat.submit()
        assert screen.state == "prechat" and screen.prechat.email.error
        screen.prechat.name.value, screen.prechat.email.value = "Ana", "ana@example.com"
        await screen.prechat.submit()
        assert screen.state == "chat" and screen.session is not None
        assert screen.session.contact.email == "ana@example.com"
        assert screen.session.contact.name == "Ana"
        await screen.close()
    run(scenario)


def test_no_prechat_form_when_the_app_identifies_the_visitor(
        chat_client: AsyncChatClient, agent: Agent) -> None:
    agent.brand(require_identification=True)

    async def scenario() -> None:
        screen = screen_for(chat_client, email="known@example.com")
        await screen.start()
        assert screen.state == "chat" and screen.session.contact.email == "known@example.com"
        await screen.close()
    run(scenario)


def test_refused_key_shows_the_error_state(app: Any, live: str) -> None:
    locked = make_business(app, "Locked", origins=["https://shop.example"])

    async def scenario() -> None:
        async with AsyncChatClient(locked["pk"], live) as client:
            screen = screen_for(client)
            await screen.start()
            assert screen.state == "error"
            assert screen.error_view.message.value == ChatStrings().error_generic
            assert screen.error_view.retry_button.content == "Try again"
    run(scenario)


def test_try_again_after_the_server_comes_back(app: Any, biz: dict[str, Any]) -> None:
    port = free_port()
    strings = ChatStrings(try_again="Réessayer")

    async def scenario() -> None:
        async with AsyncChatClient(biz["pk"], f"http://127.0.0.1:{port}", timeout=2) as client:
            screen = screen_for(client, strings=strings)
            await screen.start()
            assert screen.state == "error"
            assert screen.error_view.message.value == strings.error_no_connection
            assert screen.error_view.retry_button.content == "Réessayer"
            with serving(app, port):
                await fire(screen.error_view.retry_button)
                assert screen.state == "chat"
                await screen.close()
    run(scenario)


def test_rate_limited_send_keeps_the_text(tmp_path: Path) -> None:
    limited = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}", "PUBLIC_URL": "",
                          "RATE_LIMIT_REQUESTS": 8, "RATE_LIMIT_WINDOW_SECONDS": 60})
    shop = make_business(limited, "Shop")

    async def scenario(base: str) -> None:
        async with AsyncChatClient(shop["pk"], base) as client:
            screen = screen_for(client)
            await screen.start()
            assert screen.state == "chat"
            for i in range(20):
                screen.composer.field.value = f"message {i}"
                if not await screen.composer.submit():
                    break
            else:
                raise AssertionError("the limiter never answered 429")
            assert screen.composer.field.value == f"message {i}"
            assert screen.composer.notice.visible
            assert screen.composer.notice.value == ChatStrings().error_rate_limited
            assert f"message {i}" not in texts(screen)
            await screen.close()

    with serving(limited) as base:
        run(lambda: scenario(base))


def test_reconnecting_banner(chat_client: AsyncChatClient) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        # "connecting" then "connected" arrive through the loop: the banner comes and goes
        await until(lambda: not screen.banner.visible, what="the banner to hide")
        await screen.handle_event(ConnectionChanged("reconnecting", retry_in=1.0))
        assert screen.banner.visible and screen.banner.text.value == "Reconnecting…"
        await screen.handle_event(ConnectionChanged("connected"))
        assert not screen.banner.visible
        await screen.close()
    run(scenario)


def test_events_from_another_thread_reach_an_unmounted_screen(
        chat_client: AsyncChatClient) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        thread = threading.Thread(
            target=screen._deliver, args=(ConnectionChanged("reconnecting"),))
        thread.start()
        thread.join()
        await until(lambda: screen.banner.visible, what="the pushed event")
        await screen.close()
        screen._deliver(ConnectionChanged("connected"))  # after close: ignored, no crash
    run(scenario)


def test_sync_client_is_accepted(live: str, biz: dict[str, Any]) -> None:
    async def scenario() -> None:
        with ChatClient(biz["pk"], live) as sync_client:
            screen = screen_for(sync_client)
            assert isinstance(screen.client, AsyncChatClient)
            await screen.start()
            assert screen.state == "chat"
            await screen.close()
    run(scenario)


# ---------- attachments ----------

PNG = solid_png(40, 30, (14, 116, 144))
def test_attach_sends_a_picked_file_image_inline_file_as_link(
        chat_client: AsyncChatClient, agent: Agent, tmp_path: Path) -> None:
    picker = Picker()
    (tmp_path / "photo.png").write_bytes(PNG)
    picker.files = [picked("photo.png", data=PNG, path=tmp_path / "photo.png"),  # desktop
                    picked("terms.pdf", data=PDF)]  # web: bytes only

    async def scenario() -> None:
        screen = screen_for(chat_client, pick_file=picker)
        await screen.start()
        assert screen.composer.attach_button.visible  # /chat/config: file_uploads
        await fire(screen.composer.attach_button)
        await fire(screen.composer.attach_button)
        [photo, terms] = screen.messages.messages
        image = find(screen, f"msg-{photo.id}-att-{photo.attachments[0].id}")
        assert isinstance(image, ft.Image) and image.semantics_label == "photo.png"
        assert httpx.get(str(image.src)).content == PNG  # the signed URL serves the file
        link = find(screen, f"msg-{terms.id}-att-{terms.attachments[0].id}")
        assert isinstance(link, ft.TextButton) and link.content.value == "terms.pdf"
        assert httpx.get(str(link.url)).content == PDF
        assert not screen.composer.upload_status.visible and not screen.composer.notice.visible

        ticket = agent.ticket(screen.session.conversation_id)  # what the agent sees
        assert [[a["file_name"] for a in m["attachments"]] for m in ticket["messages"]] == [
            ["photo.png"], ["terms.pdf"]]
        assert ticket["messages"][0]["attachments"][0]["mime_type"] == "image/png"
        await screen.close()
    run(scenario)


def test_attach_refuses_too_large_early_and_shows_the_servers_refusal(
        chat_client: AsyncChatClient, agent: Agent) -> None:
    picker = Picker()

    async def scenario() -> None:
        screen = screen_for(chat_client, pick_file=picker)
        await screen.start()
        limit = screen.config.limits.max_upload_kb
        picker.files = [picked("huge.png", data=PNG, size=limit * 1024 + 1),
                        picked("tool.exe", data=b"MZ\x90\x00" + bytes(200)), None]
        await fire(screen.composer.attach_button)
        assert screen.composer.notice.value == f"huge.png is too large (at most {limit} KB)."
        await fire(screen.composer.attach_button)
        notice = screen.composer.notice.value
        assert notice != ChatStrings().error_generic and "type" in notice.lower()
        await fire(screen.composer.attach_button)  # cancelled dialog: nothing happens
        assert screen.messages.messages == []
        assert agent.ticket(screen.session.conversation_id)["messages"] == []
        await screen.close()
    run(scenario)


def test_agents_file_arrives_live_inline(chat_client: AsyncChatClient, agent: Agent,
                                        live: str, biz: dict[str, Any]) -> None:
    async def scenario() -> None:
        screen = screen_for(chat_client)
        await screen.start()
        resp = httpx.post(f"{live}/api/v1/tickets/{screen.session.conversation_id}/attachments",
                          files={"file": ("map.png", PNG, "image/png")},
                          data={"content": "Our shop"}, headers=auth(biz["sk"]))
        assert resp.status_code == 201, resp.text
        await until(lambda: screen.messages.messages, what="the agent's file")
        [message] = screen.messages.messages
        bubble = find(screen, f"msg-{message.id}")
        assert bubble.text.value == "Our shop"
        assert find(bubble, f"msg-{message.id}-att-{message.attachments[0].id}").src == \
            resp.json()["data"]["attachment"]["signed_url"]
        await screen.close()
    run(scenario)
