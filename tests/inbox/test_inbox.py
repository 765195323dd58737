"""The agent inbox against the real server: the real AsyncAgentClient, real visitors on
the widget's chat client, realtime over a real socket. Controls are driven directly
(which also proves they tolerate not being mounted) and, for the app and the window
title, on an in-memory Flet page."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import flet as ft
import pytest
from sqlalchemy import update

from app_flet.headless import (
    AsyncAgentClient,
    ConnectionChanged,
    ConversationUpdated,
    MessageCreated,
    TypingStarted,
)
from app_flet.inbox.app import DEFAULT_PORT, build_app, parse_args
from app_flet.inbox.conversation import NOTE_BG, MessageRow
from app_flet.inbox.shell import InboxScreen, InboxShell, title_for
from app_flet.inbox.ticket_list import TicketList, TicketRow
from server.db import session_scope
from server.models import ChatSession, Message, utcnow
from server.services import bot
from tests.conftest import Agent
from tests.flet_page import InMemoryPage, find_all
from tests.inbox.conftest import AGENT_EMAIL, OWNER_EMAIL, PASSWORD, Team, logged_in, settle
from tests.ui.conftest import fire, run, until


def row_keys(ticket_list: TicketList) -> list[str]:
    return [str(c.key) for c in ticket_list.rows.controls]


def badge(shell: InboxShell, ticket_id: int) -> str | None:
    """The row's badge text, None when the badge is hidden."""
    row = shell.list.row(ticket_id)
    assert row is not None, f"no row for ticket {ticket_id}"
    return row.badge_text.value if row.unread_badge.visible else None


def thread_keys(shell: InboxShell) -> list[str]:
    return [str(c.key) for c in shell.conversation.thread.controls]


# ---------- log in ----------


def test_login_shows_the_inbox(inbox_client: AsyncAgentClient, team: Team,
                               visitors: Any) -> None:
    async def scenario() -> None:
        visitor = await visitors("Dana")
        await visitor.say("Hello?")
        screen = InboxScreen(inbox_client)
        screen.login.email.value, screen.login.password.value = AGENT_EMAIL, PASSWORD
        await fire(screen.login.button)
        assert screen.shell is not None and screen.controls == [screen.shell]
        assert inbox_client.token is not None and inbox_client.token.startswith("at_")
        assert row_keys(screen.shell.list) == [f"ticket-{visitor.conversation_id}"]
        # an agent sees the inbox and canned responses: the owner pages are not there
        assert list(screen.shell.nav) == ["Inbox", "Canned responses"]
        await fire(screen.shell.logout_button)
        assert screen.shell is None and screen.controls == [screen.login]
        assert inbox_client.token is None
    run(scenario)


def test_owner_gets_the_owner_pages(inbox_client: AsyncAgentClient, team: Team) -> None:
    async def scenario() -> None:
        shell = await logged_in(inbox_client, OWNER_EMAIL)
        assert list(shell.nav) == ["Inbox", "Canned responses", "Branding", "Keys", "Team",
                                   "Webhooks", "Availability", "Bot", "Knowledge"]
        await fire(shell.nav["Team"])
        assert shell.body.content is shell.pages["Team"]
        await fire(shell.nav["Inbox"])
        assert shell.body.content is shell.inbox
        shell.close()
    run(scenario)


def test_bad_password_shows_the_error_and_changes_nothing(
        inbox_client: AsyncAgentClient, team: Team) -> None:
    async def scenario() -> None:
        screen = InboxScreen(inbox_client)
        screen.login.email.value, screen.login.password.value = AGENT_EMAIL, "wrong-password"
        assert not await screen.login.submit()
        assert screen.login.error.visible and screen.login.error.value
        assert screen.shell is None and screen.controls == [screen.login]
        assert inbox_client.token is None
        assert screen.login.email.value == AGENT_EMAIL  # what was typed stays
        # and the right password still works afterwards
        screen.login.password.value = PASSWORD
        assert await screen.login.submit()
        assert screen.shell is not None and not screen.login.error.visible
        screen.shell.close()
    run(scenario)


# ---------- the list ----------


def test_list_shows_tickets_newest_first_with_badges(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana, eli = await visitors("Dana"), await visitors("Eli")
        await dana.say("Where is my order?")
        await eli.say("Hi")
        await eli.say("<b>anyone</b> **there**?")
        shell = await logged_in(inbox_client)
        assert row_keys(shell.list) == [f"ticket-{eli.conversation_id}",
                                        f"ticket-{dana.conversation_id}"]
        assert badge(shell, eli.conversation_id) == "2"
        assert badge(shell, dana.conversation_id) == "1"
        row = shell.list.row(eli.conversation_id)
        assert row is not None and row.name.value == "Eli"
        assert row.preview.value == "<b>anyone</b> **there**?"  # shown as typed
        assert shell.title == "(2) chatdock inbox"
        shell.close()
    run(scenario)


def test_a_visitor_message_moves_the_row_up_and_badges_it_live(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana, eli = await visitors("Dana"), await visitors("Eli")
        await dana.say("first")
        await eli.say("second")
        shell = await logged_in(inbox_client)
        assert row_keys(shell.list)[0] == f"ticket-{eli.conversation_id}"
        message = await dana.say("are you there?")
        await until(lambda: badge(shell, dana.conversation_id) == "2", what="Dana's badge")
        assert row_keys(shell.list)[0] == f"ticket-{dana.conversation_id}"
        row = shell.list.row(dana.conversation_id)
        assert row is not None and row.preview.value == "are you there?"
        assert message.id > 0
        # a conversation the list has not seen yet arrives as a new row
        fay = await visitors("Fay")
        await fay.say("new here")
        await until(lambda: row_keys(shell.list)[0] == f"ticket-{fay.conversation_id}",
                    what="Fay's new row")
        assert badge(shell, fay.conversation_id) == "1"
        assert shell.title == "(3) chatdock inbox"
        shell.close()
    run(scenario)


def test_views_status_filter_and_search(inbox_client: AsyncAgentClient, team: Team,
                                        visitors: Any) -> None:
    async def scenario() -> None:
        dana, eli = await visitors("Dana"), await visitors("Eli")
        await dana.say("my invoice is wrong")
        await eli.say("shipping question")
        shell = await logged_in(inbox_client)
        await inbox_client.assign(dana.conversation_id, team.agent_id)
        await inbox_client.resolve(eli.conversation_id)
        await fire(shell.list.view_buttons["Mine"])
        assert row_keys(shell.list) == [f"ticket-{dana.conversation_id}"]
        await fire(shell.list.view_buttons["Unassigned"])
        assert row_keys(shell.list) == [f"ticket-{eli.conversation_id}"]
        await fire(shell.list.view_buttons["All"])
        shell.list.status_filter.value = "resolved"
        await fire(shell.list.status_filter, "select")
        assert row_keys(shell.list) == [f"ticket-{eli.conversation_id}"]
        shell.list.status_filter.value = "any"
        await fire(shell.list.status_filter, "select")
        shell.list.search.value = "invoice"
        await fire(shell.list.search, "submit")
        assert row_keys(shell.list) == [f"ticket-{dana.conversation_id}"]
        shell.close()
    run(scenario)


def test_load_more_follows_the_cursor(inbox_client: AsyncAgentClient, team: Team,
                                      visitors: Any) -> None:
    async def scenario() -> None:
        people = [await visitors(f"P{i}") for i in range(3)]
        for person in people:
            await person.say("hello")
        me = await inbox_client.login(AGENT_EMAIL, PASSWORD)

        async def nothing(ticket_id: int) -> None:
            return None
        ticket_list = TicketList(inbox_client, me, nothing, per_page=2)
        await ticket_list.load()
        assert len(ticket_list.rows.controls) == 2 and ticket_list.more_button.visible
        await fire(ticket_list.more_button)
        assert row_keys(ticket_list) == [f"ticket-{p.conversation_id}"
                                         for p in reversed(people)]
        assert not ticket_list.more_button.visible
    run(scenario)


def test_reconnect_reloads_the_list(inbox_client: AsyncAgentClient, team: Team,
                                    visitors: Any) -> None:
    async def scenario() -> None:
        shell = await logged_in(inbox_client)
        await settle()  # the first "connected" and its reload are done
        assert row_keys(shell.list) == []
        assert shell._unsubscribe is not None
        shell._unsubscribe()  # away: events of this time never reach the shell
        dana = await visitors("Dana")
        await dana.say("while you were away")
        await settle()
        assert row_keys(shell.list) == []
        await shell.handle_event(ConnectionChanged("reconnecting", retry_in=1.0))
        assert shell.banner.visible and shell.banner.text.value == "Reconnecting…"
        await shell.handle_event(ConnectionChanged("connected"))
        assert not shell.banner.visible
        assert row_keys(shell.list) == [f"ticket-{dana.conversation_id}"]
        assert badge(shell, dana.conversation_id) == "1"
        shell.close()
    run(scenario)


# ---------- the conversation ----------


def test_open_clears_the_badge_and_shows_history_by_day(
        app: Any, inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        old = await dana.say("two days ago")
        new = await dana.say("today")
        with session_scope(app) as session:  # the first message was written two days back
            session.execute(update(Message).where(Message.id == old.id).values(
                created_at=old.created_at.replace(tzinfo=None) - timedelta(days=2)))
        shell = await logged_in(inbox_client)
        assert badge(shell, dana.conversation_id) == "2"
        await fire(shell.list.row(dana.conversation_id))
        assert badge(shell, dana.conversation_id) is None
        keys = thread_keys(shell)
        assert [k.split("-")[0] for k in keys] == ["day", "msg", "day", "msg"]
        assert keys[1] == f"msg-{old.id}" and keys[3] == f"msg-{new.id}"
        assert shell.conversation.thread.controls[2].label.value == "Today"
        row = shell.conversation.thread.row(new.id)
        assert row is not None and row.kind == "visitor" and row.text.value == "today"
        assert shell.conversation.name.value == "Dana"
        # read on the server too: a fresh list has no badge
        page = await inbox_client.list_tickets()
        assert [t.unread_count for t in page.tickets] == [0]
        # the open conversation's new messages land in the thread, not on a badge
        live = await dana.say("still here")
        await until(lambda: shell.conversation.thread.row(live.id) is not None,
                    what="the live message in the thread")
        assert badge(shell, dana.conversation_id) is None and shell.title == "chatdock inbox"
        # ...and read on the server: a reload (or a teammate's list) shows no badge either
        async def read_on_server() -> bool:
            return [t.unread_count for t in (await inbox_client.list_tickets()).tickets] == [0]
        deadline = asyncio.get_running_loop().time() + 5
        while not await read_on_server():
            assert asyncio.get_running_loop().time() < deadline, "still unread on the server"
            await asyncio.sleep(0.05)
        shell.close()
    run(scenario)


def test_load_older_shows_the_earlier_window(inbox_client: AsyncAgentClient, team: Team,
                                             visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        sent = [await dana.say(f"message {i}") for i in range(5)]
        me = await inbox_client.login(AGENT_EMAIL, PASSWORD)
        from app_flet.inbox.conversation import CannedResponses, ConversationView
        view = ConversationView(inbox_client, me, CannedResponses(inbox_client), window=2)
        assert await view.open(dana.conversation_id)
        shown = [c.message.id for c in view.thread.controls if isinstance(c, MessageRow)]
        assert shown == [m.id for m in sent[-2:]]
        # only the newest page was fetched: a long conversation opens at its end
        assert [m.id for m in view.thread.messages] == [m.id for m in sent[-2:]]
        assert view.thread.controls[0] is view.thread.older_button
        await fire(view.thread.older_button)
        await fire(view.thread.older_button)
        shown = [c.message.id for c in view.thread.controls if isinstance(c, MessageRow)]
        assert shown == [m.id for m in sent] and view.thread.older_button not in (
            view.thread.controls)
    run(scenario)


def test_reply_with_enter_reaches_the_visitor(inbox_client: AsyncAgentClient, team: Team,
                                              visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        field = shell.conversation.composer.field
        assert field.label == "Reply" and field.multiline and field.shift_enter
        field.value = "Hello Dana, *how* can I help?"
        await fire(field, "submit")  # Enter
        assert field.value == ""
        got = await until(lambda: [e.message for e in dana.events
                                   if isinstance(e, MessageCreated)
                                   and not e.message.from_visitor],
                          what="the reply at the visitor")
        assert [m.content for m in got] == ["Hello Dana, *how* can I help?"]
        row = shell.conversation.thread.row(got[0].id)
        assert row is not None and row.kind == "agent" and row.label.value == "Ann"
        shell.close()
    run(scenario)


def test_shortcut_expands_the_canned_response(inbox_client: AsyncAgentClient, team: Team,
                                              visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await inbox_client.create_canned_response("thanks", "Thank you for waiting!")
        await shell.open_ticket(dana.conversation_id)
        field = shell.conversation.composer.field
        field.value = "/thanks "  # a space after the shortcut
        await fire(field, "change")
        assert field.value == "Thank you for waiting!"
        field.value = "Sure. /THANKS"  # Enter after the shortcut expands, does not send
        await fire(field, "submit")
        assert field.value == "Sure. Thank you for waiting!"
        field.value = "see /nothing-here "  # unknown: stays as typed
        await fire(field, "change")
        assert field.value == "see /nothing-here "
        await settle()
        ticket = await inbox_client.get_ticket(dana.conversation_id)
        assert [m.content for m in ticket.messages] == ["hi"]
        shell.close()
    run(scenario)


def test_typing_both_ways(inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client, typing_timeout=0.5)
        await shell.open_ticket(dana.conversation_id)
        typing = shell.conversation.typing
        assert not typing.visible
        await dana.session.send_typing()
        await until(lambda: typing.visible, what="Visitor is typing…")
        assert typing.value == "Visitor is typing…"
        await until(lambda: not typing.visible, timeout=5, what="the typing line to hide")
        # the agent types: the visitor hears it (the composer pings at most every 3 s)
        field = shell.conversation.composer.field
        field.value = "Let me"
        await fire(field, "change")
        field.value = "Let me check"
        await fire(field, "change")
        await until(lambda: any(isinstance(e, TypingStarted) for e in dana.events),
                    what="TypingStarted at the visitor")
        await settle(0.5)
        assert [e.role for e in dana.events if isinstance(e, TypingStarted)] == ["agent"]
        shell.close()
    run(scenario)


def test_resolve_and_reopen_reach_the_visitor(inbox_client: AsyncAgentClient, team: Team,
                                              visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        assert view.resolve_button.visible and not view.reopen_button.visible
        await fire(view.resolve_button)
        assert view.reopen_button.visible and not view.resolve_button.visible
        assert view.status.value == "Resolved"
        await until(lambda: [e.status for e in dana.events
                             if isinstance(e, ConversationUpdated)] == ["resolved"],
                    what="ConversationUpdated(resolved) at the visitor")
        await fire(view.reopen_button)
        await until(lambda: [e.status for e in dana.events if isinstance(
            e, ConversationUpdated)] == ["resolved", "open"], what="the reopen")
        row = shell.list.row(dana.conversation_id)
        assert row is not None and row.ticket.status == "open"
        # resolved again, then the visitor writes: the server reopens it, the view follows
        await fire(view.resolve_button)
        shell.list.status_filter.value = "resolved"
        await fire(shell.list.status_filter, "select")
        assert row_keys(shell.list) == [f"ticket-{dana.conversation_id}"]
        await dana.say("one more thing")
        await until(lambda: view.status.value == "Open", what="the visitor's reopen")
        assert view.resolve_button.visible and not view.reopen_button.visible
        assert row_keys(shell.list) == []  # not resolved any more
        shell.close()
    run(scenario)


def test_assign_and_tags(inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        assert {o.text for o in view.assignee.options} >= {"Unassigned", "Ann"}
        await fire(view.assign_me)
        assert view.assignee.value == str(team.agent_id) and not view.assign_me.visible
        view.assignee.value = "none"
        await fire(view.assignee, "select")
        assert view.ticket.assigned_to is None and view.assign_me.visible
        view.tags.value = "VIP, billing ,"
        await fire(view.save_tags)
        assert view.tags.value == "billing, vip"
        view.tags.value = "not a tag!"
        await fire(view.save_tags)
        assert view.notice.visible and view.notice.value
        ticket = await inbox_client.get_ticket(dana.conversation_id)
        assert ticket.ticket.tags == ("billing", "vip") or list(ticket.ticket.tags) == [
            "billing", "vip"]
        shell.close()
    run(scenario)


def test_note_is_marked_and_the_visitor_never_sees_it(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        view.note.value = "VIP customer, <i>be nice</i>"
        await fire(view.add_note_button)
        assert view.note.value == ""
        (note,) = [r for r in view.thread.controls
                   if isinstance(r, MessageRow) and r.kind == "note"]
        assert note.label.value == "Note · Ann" and note.box.bgcolor == NOTE_BG
        assert note.text.value == "VIP customer, <i>be nice</i>"
        # plain text, and not selectable: Flutter would show a selectable text to the
        # accessibility tree as an empty read-only field, hiding the words from a screen reader
        assert type(note.text) is ft.Text and not note.text.selectable
        # the list is not touched by a note: no preview, no badge
        row = shell.list.row(dana.conversation_id)
        assert row is not None and row.preview.value == "hi"
        view.composer.field.value = "a reply after the note"
        await fire(view.composer.field, "submit")
        await until(lambda: any(isinstance(e, MessageCreated) and not e.message.from_visitor
                                for e in dana.events), what="the reply at the visitor")
        await settle()
        seen = [e.message.content for e in dana.events if isinstance(e, MessageCreated)]
        assert "VIP customer, <i>be nice</i>" not in seen
        history = await dana.session.load_history()
        assert [m.content for m in history.messages] == ["a reply after the note", "hi"]
        shell.close()
    run(scenario)


# ---------- the window title and the app ----------


def test_title_counts_unread_conversations_not_on_screen(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    assert title_for(0) == "chatdock inbox" and title_for(3) == "(3) chatdock inbox"

    async def scenario() -> None:
        dana, eli = await visitors("Dana"), await visitors("Eli")
        await dana.say("one")
        await eli.say("two")
        async with InMemoryPage() as fp:
            screen = InboxScreen(inbox_client)
            fp.page.add(screen)
            fp.type_into("login-email", AGENT_EMAIL)
            fp.type_into("login-password", PASSWORD)
            await fp.click("login-submit")
            await fp.wait_for(lambda: fp.page.title == "(2) chatdock inbox",
                              what="the title with two unread")
            await fp.click(f"ticket-{dana.conversation_id}")
            await fp.wait_for(lambda: fp.page.title == "(1) chatdock inbox",
                              what="one left once Dana is open")
            await dana.say("more from Dana")  # on screen: not counted
            await eli.say("more from Eli")  # already counted
            await fp.wait_for(lambda: fp.find(f"badge-{eli.conversation_id}")
                              .content.value == "2", what="Eli's badge")
            assert fp.page.title == "(1) chatdock inbox"
            assert fp.sent("(1) chatdock inbox")
            assert not fp.visible(f"badge-{dana.conversation_id}")
            assert screen.shell is not None
            screen.shell.close()
    run(scenario)


def test_parse_args_defaults() -> None:
    args = parse_args(["--server", "http://127.0.0.1:8000"])
    assert (args.server, args.web, args.host, args.port, args.mode) == (
        "http://127.0.0.1:8000", False, "127.0.0.1", DEFAULT_PORT, "test")
    with pytest.raises(SystemExit):
        parse_args([])


def test_app_logs_in_on_a_page_and_marks_timing(
        live: str, team: Team, visitors: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHATDOCK_TIMING", "1")

    async def scenario() -> tuple[int, int]:
        dana = await visitors("Dana")
        await dana.say("hello")
        async with InMemoryPage() as fp:
            await build_app(parse_args(["--server", live]))(fp.page)
            assert fp.page.title == "chatdock inbox"
            assert fp.visible("login-email") and fp.sent("Log in")
            fp.type_into("login-email", AGENT_EMAIL)
            fp.type_into("login-password", PASSWORD)
            await fp.click("login-submit")
            await fp.wait_for(lambda: fp.visible(f"ticket-{dana.conversation_id}"),
                              what="the list")
            message = await dana.say("again")
            await fp.wait_for(lambda: fp.find(f"badge-{dana.conversation_id}")
                              .content.value == "2", what="the live badge")
            (screen,) = find_all(fp.page, "inbox-screen")
            assert isinstance(screen, InboxScreen) and screen.shell is not None
            assert isinstance(screen.shell.list.row(dana.conversation_id), TicketRow)
            screen.shell.close()
            await screen.client.close()
        return dana.conversation_id, message.id

    ticket_id, message_id = run(scenario)
    marks = [line.split()[1:] for line in capsys.readouterr().err.splitlines()
             if line.startswith("chatdock-timing ")]
    assert [m[0] for m in marks][:3] == ["main", "login_done", "list_shown"]
    assert ["badge", str(ticket_id), str(message_id)] in [m[:3] for m in marks]



def test_the_cleared_reply_and_note_reach_the_client(inbox_client: AsyncAgentClient, team: Team,
                                                      visitors: Any) -> None:
    """Flet sends a value only when it differs from the last it sent: a field cleared after
    each send must still be cleared on the client, twice in a row."""
    def cleared(fp: InMemoryPage, since: int) -> bool:
        """Whether a patch since then set some control's value to "" (only one changed)."""
        return any(op[2:] == ["value", ""] for frame in fp.connection.sent[since:]
                   if frame[0] == 2 for op in frame[1]["patch"][1:])

    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        async with InMemoryPage() as fp:
            screen = InboxScreen(inbox_client)
            fp.page.add(screen)
            fp.type_into("login-email", AGENT_EMAIL)
            fp.type_into("login-password", PASSWORD)
            await fp.click("login-submit")
            await fp.wait_for(lambda: fp.visible(f"ticket-{dana.conversation_id}"), what="row")
            await fp.click(f"ticket-{dana.conversation_id}")
            reply, note = fp.find("reply"), fp.find("note")
            for text in ("first", "second"):
                fp.type_into("reply", text)
                since = len(fp.connection.sent)
                await fp.click("send")
                assert reply.value == "" and cleared(fp, since), text
                fp.type_into("note", f"note {text}")
                since = len(fp.connection.sent)
                await fp.click("add-note")
                assert note.value == "" and cleared(fp, since), text
            assert screen.shell is not None
            screen.shell.close()
    run(scenario)


def test_visitor_online_dot_follows_the_visitor(app: Any, inbox_client: AsyncAgentClient,
                                                team: Team, visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("hi")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        dot, row = shell.conversation.online, shell.list.row(dana.conversation_id)
        assert row is not None
        assert dot.visible and row.online.visible  # the session start put her online
        with session_scope(app) as session:  # her sessions go silent: the watcher sweeps
            session.execute(update(ChatSession).where(
                ChatSession.conversation_id == dana.conversation_id).values(
                last_seen_at=utcnow() - timedelta(hours=1)))
        await until(lambda: not dot.visible, timeout=15, what="VisitorOffline")
        assert not row.online.visible
        await dana.session.heartbeat()
        await until(lambda: dot.visible and row.online.visible, what="VisitorOnline")
        shell.close()
    run(scenario)


def test_contact_panel_shows_the_customer_and_opens_past_conversations(
        live: str, biz: dict[str, Any], inbox_client: AsyncAgentClient, team: Team) -> None:
    api = Agent(live, biz["sk"])
    first, second = (api._call("POST", "/tickets", 201, json={
        "customer": {"email": "dana@example.com", "name": "Dana"}, "message": text,
        "subject": text}) for text in ("Invoice missing", "Refund please"))

    async def scenario() -> None:
        shell = await logged_in(inbox_client)
        await shell.open_ticket(first["id"])
        panel = shell.contact
        assert panel.name.value == "Dana" and panel.email.value == "dana@example.com"
        (past,) = find_all(panel, lambda c: str(c.key or "").startswith("past-"))
        assert past.key == f"past-{second['id']}"
        await fire(past)
        assert shell.conversation.ticket_id == second["id"]
        assert shell.list.open_id == second["id"]
        assert [m.content for m in shell.conversation.thread.messages] == ["Refund please"]
        row = shell.conversation.thread.row(shell.conversation.thread.messages[0].id)
        assert row is not None and row.label.value == "Dana"  # the contact's name
        shell.close()
    run(scenario)


def test_a_conversation_the_bot_hands_off_shows_in_unassigned_open(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any, app: Any,
        biz: dict[str, Any]) -> None:
    with session_scope(app) as session:
        bot.do_update_settings(session, biz["id"], {"enabled": True})

    async def scenario() -> None:
        gail = await visitors("Gail")  # the bot's: pending
        shell = await logged_in(inbox_client)
        await fire(shell.list.view_buttons["Unassigned"])
        shell.list.status_filter.value = "open"
        await fire(shell.list.status_filter, "select")
        assert row_keys(shell.list) == []
        await gail.say("can I talk to a human?")  # the bot hands it to the team
        await until(lambda: row_keys(shell.list) == [f"ticket-{gail.conversation_id}"],
                    what="the handed-off conversation in Unassigned, open")
        row = shell.list.row(gail.conversation_id)
        assert row is not None and row.ticket.bot_active is False
        shell.close()
    run(scenario)
