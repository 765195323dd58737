"""AgentClient / AsyncAgentClient against the real server: REST in process (WSGI transport),
realtime on a real socket (the `live` server): a visitor's ChatClient writes, the agent
hears it; reconnect through a cut TCP proxy catches up without duplicates."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app_flet.headless import (
    AgentClient,
    AsyncAgentClient,
    AuthError,
    ChatClient,
    ChatError,
    ChatSession,
    ConflictError,
    ConnectionChanged,
    ContactUpdated,
    ForbiddenError,
    Invite,
    MessageCreated,
    MintedKey,
    NotFoundError,
    ProtocolError,
    TicketCreated,
    TicketPage,
    TicketUpdated,
    ValidationError,
    VisitorOffline,
    VisitorOnline,
    VisitorTyping,
)
from app_flet.headless.agent_models import decode_agent_event
from app_flet.headless.api import parse
from server.db import session_scope
from server.models import ChatSession as ServerChatSession
from server.models import utcnow
from tests.headless.conftest import (
    FAST,
    PASSWORD,
    Collector,
    Login,
    TcpProxy,
    make_login,
    new_visitor,
    settle,
)


@pytest.fixture
def visitor_chat(app: Any, biz: dict[str, Any]) -> Any:
    """A visitor's ChatClient on the in-process transport."""
    client = ChatClient(biz["pk"], "http://testserver", transport=httpx.WSGITransport(app=app))
    yield client
    client.close()


def wsgi_agent(app: Any, **credential: Any) -> AgentClient:
    return AgentClient("http://testserver", transport=httpx.WSGITransport(app=app), **credential)


# ---------- who ---------------------------------------------------------------------------


def test_login_keeps_the_token_and_says_who(app: Any, biz: dict[str, Any], ann: Login) -> None:
    with wsgi_agent(app) as client:
        assert client.token is None
        me = client.login(ann.email, PASSWORD)
        assert client.token is not None and client.token.startswith("at_")
        assert me.agent is not None and me.agent.id == ann.id and me.agent.email == ann.email
        assert (me.agent.role, me.agent.active, me.agent.invited) == ("agent", True, False)
        assert (me.business_id, me.mode) == (biz["id"], "test")
        assert me.realtime.channel == f"private-business.{biz['id']}"
        assert client.me() is me  # cached
        assert client.list_tickets().total is not None  # the token works


def test_bad_credentials_raise_auth_error(app: Any, ann: Login) -> None:
    with wsgi_agent(app) as client:
        with pytest.raises(AuthError) as err:
            client.login(ann.email, "not the password")
        assert err.value.status == 401 and client.token is None
    with wsgi_agent(app, token="at_forged.token.here") as forged:
        with pytest.raises(AuthError):
            forged.me()


def test_secret_key_is_nobody(app: Any, biz: dict[str, Any]) -> None:
    with wsgi_agent(app, secret_key=biz["sk"]) as client:
        me = client.me()
        assert me.agent is None and me.business_id == biz["id"] and client.token is None
        with pytest.raises(ValidationError) as err:
            client.list_tickets(assigned_to="me")
        assert err.value.field == "assigned_to"


def test_token_and_secret_key_together_is_a_mistake() -> None:
    with pytest.raises(ValueError):
        AgentClient("http://testserver", token="at_x", secret_key="sk_test_x")


# ---------- tickets -----------------------------------------------------------------------


def start(chat: ChatClient, text: str = "Hi, my order is late") -> ChatSession:
    session = chat.start_session(new_visitor(), name="Vera", email="vera@example.com")
    session.send(text)
    return session


def test_list_read_reply(inbox: AgentClient, visitor_chat: ChatClient) -> None:
    session = start(visitor_chat)
    page = inbox.list_tickets(status="open", per_page=100)
    ticket = next(t for t in page.tickets if t.id == session.conversation_id)
    assert ticket.unread_count == 1 and ticket.last_message_preview == "Hi, my order is late"
    assert ticket.customer.name == "Vera" and ticket.customer.visitor_id == session.visitor_id
    assert (ticket.channel, ticket.assigned_to, ticket.resolved_at) == ("widget", None, None)

    detail = inbox.get_ticket(ticket.id)
    assert detail.ticket.id == ticket.id and detail.next_cursor is None
    assert [(m.content, m.from_visitor) for m in detail.messages] == [
        ("Hi, my order is late", True)]
    again = inbox.list_tickets(per_page=100)
    assert next(t for t in again.tickets if t.id == ticket.id).unread_count == 0  # read

    reply = inbox.reply(ticket.id, "On its way!")
    assert reply.direction == "outbound" and reply.sender is not None
    assert (reply.sender.role, reply.sender.name) == ("agent", "Agent Smith")
    history = session.load_history()
    assert [m.content for m in history.messages] == ["On its way!", "Hi, my order is late"]


def test_reply_with_the_same_key_is_sent_once(inbox: AgentClient,
                                              visitor_chat: ChatClient) -> None:
    session = start(visitor_chat)
    first = inbox.reply(session.conversation_id, "Once", idempotency_key="agent-retry-1")
    second = inbox.reply(session.conversation_id, "Once", idempotency_key="agent-retry-1")
    assert first.id == second.id
    assert [m.content for m in session.load_history().messages].count("Once") == 1


def test_assign_resolve_reopen_tags(inbox: AgentClient, visitor_chat: ChatClient,
                                    ann: Login) -> None:
    ticket_id = start(visitor_chat).conversation_id
    assert inbox.assign(ticket_id, ann.id).assigned_to == ann.id
    mine = inbox.list_tickets(assigned_to="me", per_page=100).tickets
    unassigned = inbox.list_tickets(assigned_to="unassigned", per_page=100).tickets
    assert ticket_id in {t.id for t in mine} and ticket_id not in {t.id for t in unassigned}
    assert all(t.assigned_to == ann.id for t in mine)

    resolved = inbox.resolve(ticket_id)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    reopened = inbox.reopen(ticket_id)
    assert reopened.status == "open" and reopened.resolved_at is None
    assert inbox.set_status(ticket_id, "pending").status == "pending"
    assert inbox.set_tags(ticket_id, ["vip", "billing"]).tags == ("billing", "vip")
    assert ticket_id in {t.id for t in inbox.list_tickets(tag="vip").tickets}
    assert inbox.assign(ticket_id, None).assigned_to is None


def test_ticket_list_pages_by_cursor(inbox: AgentClient, visitor_chat: ChatClient) -> None:
    for _ in range(3):
        start(visitor_chat)
    first = inbox.list_tickets(per_page=2)
    assert len(first.tickets) == 2 and first.next_cursor is not None
    second = inbox.list_tickets(per_page=2, cursor=first.next_cursor)
    assert second.total is None  # a cursor page does not count
    assert not {t.id for t in first.tickets} & {t.id for t in second.tickets}


@pytest.mark.parametrize(("call", "error", "field"), [
    (lambda c: c.get_ticket(10**8), NotFoundError, None),
    (lambda c: c.set_status(10**8, "open"), NotFoundError, None),
    (lambda c: c.list_tickets(status="lost"), ValidationError, "status"),
    (lambda c: c.list_tickets(sort="random"), ValidationError, "sort"),
])
def test_bad_input_raises_the_named_error(inbox: AgentClient, call: Any,
                                          error: type[ChatError], field: str | None) -> None:
    with pytest.raises(error) as err:
        call(inbox)
    assert err.value.field == field


def test_bad_status_changes_nothing(inbox: AgentClient, visitor_chat: ChatClient) -> None:
    ticket_id = start(visitor_chat).conversation_id
    with pytest.raises(ValidationError) as err:
        inbox.set_status(ticket_id, "closed-forever")
    assert err.value.field == "status"
    assert inbox.get_ticket(ticket_id).ticket.status == "open"


# ---------- team, keys, branding ----------------------------------------------------------


def test_team(app: Any, boss: Login, ann: Login) -> None:
    with wsgi_agent(app, token=boss.token) as owner:
        assert {ann.id, boss.id} <= {a.id for a in owner.list_agents()}
        invite = owner.invite_agent("newbie@acme.test", "Newbie")
        assert isinstance(invite, Invite) and invite.token
        assert invite.token not in repr(invite)
        assert invite.agent.invited and invite.agent.role == "agent"
        gone = owner.deactivate_agent(invite.agent.id)
        assert gone.id == invite.agent.id and not gone.active
        listed = {a.id: a for a in owner.list_agents()}
        assert not listed[invite.agent.id].active


def test_an_agent_may_not_manage_the_team(inbox: AgentClient) -> None:
    with pytest.raises(ForbiddenError):
        inbox.invite_agent("someone@acme.test", "Someone")


def test_keys_minted_once_and_revoked(app: Any, boss: Login, biz: dict[str, Any]) -> None:
    with wsgi_agent(app, token=boss.token) as owner:
        minted = owner.create_key("secret", "test", "ci", scopes=["tickets:read"])
        assert isinstance(minted, MintedKey) and minted.secret.startswith("sk_test_")
        assert minted.secret not in repr(minted)
        assert minted.key.scopes == ("tickets:read",) and minted.key.kind == "secret"
        listed = {k.id: k for k in owner.list_keys()}
        assert listed[minted.key.id].prefix == minted.key.prefix
        assert {biz["pk_id"], biz["sk_id"]} <= set(listed)
        with wsgi_agent(app, secret_key=minted.secret) as ci:
            assert ci.me().business_id == biz["id"]
            revoked = owner.revoke_key(minted.key.id)
            assert revoked.revoked
            with pytest.raises(AuthError):
                ci.list_tickets()


def test_branding(app: Any, boss: Login, biz: dict[str, Any]) -> None:
    with wsgi_agent(app, token=boss.token) as owner:
        before = owner.get_branding()
        assert before.business_id == biz["id"] and before.name == "Acme"
        after = owner.update_branding(primary_color="#112233", welcome_message="Hej!")
        assert (after.primary_color, after.welcome_message) == ("#112233", "Hej!")
        assert owner.get_branding() == after
        with pytest.raises(ValidationError) as err:
            owner.update_branding(primary_color="red; x")
        assert err.value.field == "primary_color" and owner.get_branding() == after


# ---------- realtime (a real socket) ------------------------------------------------------


@pytest.fixture
def visitors(live: str, biz: dict[str, Any]) -> Any:
    client = ChatClient(biz["pk"], live, realtime_options=FAST)
    yield client
    client.close()


def listening(client: AgentClient) -> Collector:
    collector = Collector()
    client.on(collector)
    client.connect(wait=True, timeout=5)
    return collector


def test_visitor_message_reaches_the_agent(live_inbox: AgentClient,
                                           visitors: ChatClient) -> None:
    events = listening(live_inbox)
    one, two = visitors.start_session(new_visitor()), visitors.start_session(new_visitor())
    only_one: list[MessageCreated] = []
    unsubscribe = live_inbox.on(one.conversation_id, "message", only_one.append)
    two.send("from two")
    sent = one.send("from one")
    got = events.message("from one")
    events.message("from two")
    assert got.id == sent.id and got.conversation_id == one.conversation_id and got.from_visitor
    settle()
    assert [e.message.content for e in only_one] == ["from one"]
    unsubscribe()
    one.send("nobody listens for this one")
    events.message("nobody listens for this one")
    settle()
    assert [e.message.content for e in only_one] == ["from one"]
    assert events.threads == {"chatdock-agent-events"}
    assert [s.state for s in events.states()] == ["connecting", "connected"]


def test_ticket_events(live_inbox: AgentClient, visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor(), name="Tom")
    created = events.wait_for(lambda e: isinstance(e, TicketCreated)
                              and e.conversation_id == session.conversation_id)
    assert isinstance(created, TicketCreated) and created.customer.name == "Tom"
    live_inbox.resolve(session.conversation_id)
    updated = events.wait_for(lambda e: isinstance(e, TicketUpdated)
                              and e.ticket.id == session.conversation_id)
    assert isinstance(updated, TicketUpdated) and updated.ticket.status == "resolved"


def test_visitor_typing(live_inbox: AgentClient, visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor())
    session.send_typing()
    events.wait_for(lambda e: e == VisitorTyping(session.conversation_id))


def test_contact_updated(live_inbox: AgentClient, visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor())
    session.identify(name="Nina", email="nina@example.com")
    changed = events.wait_for(lambda e: isinstance(e, ContactUpdated)
                              and e.conversation_id == session.conversation_id)
    assert isinstance(changed, ContactUpdated)
    assert (changed.contact.name, changed.contact.email) == ("Nina", "nina@example.com")
    assert changed.conversation_ids == (session.conversation_id,)


def test_own_reply_is_delivered_once(live_inbox: AgentClient, visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor())
    reply = live_inbox.reply(session.conversation_id, "just once")
    events.message("just once")
    settle()
    assert [m.id for m in events.messages()].count(reply.id) == 1


def test_reconnect_catches_up_without_duplicates(live_inbox: AgentClient, ann: Login,
                                                 visitors: ChatClient,
                                                 proxy: TcpProxy) -> None:
    with AgentClient(proxy.url, token=ann.token, realtime_options=FAST) as client:
        events = listening(client)
        session = visitors.start_session(new_visitor())
        session.send("before the cut")
        events.message("before the cut")
        mark = len(events.events)
        proxy.cut()
        events.state("reconnecting", after=mark)
        written = [session.send(f"while cut {i}").id for i in range(3)]
        written.append(live_inbox.add_note(session.conversation_id, "noted while cut").id)
        proxy.restore()
        connected = events.state("connected", after=mark, timeout=10)
        assert connected.error is None
        settle()
        got = [m.id for m in events.messages()]
        assert [got.count(i) for i in written] == [1, 1, 1, 1]
        # caught up before "connected" was announced (a UI reloads its list then)
        order = [e.message.id if isinstance(e, MessageCreated) else e
                 for e in events.events[mark:]]
        assert order.index(connected) > max(order.index(i) for i in written)
        session.send("after the restore")
        events.message("after the restore")
        assert proxy.accepted >= 2  # it really reconnected


def test_logout_ends_events(app: Any, live: str, biz: dict[str, Any]) -> None:
    leaver = make_login(app, live, biz["id"])  # logging out ends every token of theirs
    client = AgentClient(live, realtime_options=FAST)
    client.login(leaver.email, PASSWORD)
    token = client.token
    iterator = client.events()
    client.connect(wait=True, timeout=5)
    watchdog = threading.Timer(10, client.close)  # a hang fails, never blocks the suite
    watchdog.start()
    threading.Timer(0.2, client.logout).start()
    rest = list(iterator)  # ends at logout
    watchdog.cancel()
    assert rest[-1] == ConnectionChanged("closed") and client.token is None
    with AgentClient(live, token=token) as old, pytest.raises(AuthError):
        old.me()
    client.close()


def test_refused_credentials_stop_realtime(app: Any, live: str, biz: dict[str, Any]) -> None:
    victim = make_login(app, live, biz["id"])
    with AgentClient(live, token=victim.token, realtime_options=FAST) as client:
        events = listening(client)
        with AgentClient(live, token=victim.token) as same:
            same.logout()  # the token dies everywhere, open sockets too
        closed = events.state("closed", timeout=10)
        assert isinstance(closed.error, AuthError)


def test_async_flavour(live: str, ann: Login, visitors: ChatClient) -> None:
    async def main() -> tuple[str, list[str]]:
        async with AsyncAgentClient(live, token=ann.token, realtime_options=FAST) as client:
            me = await client.me()
            assert me.agent is not None and me.agent.id == ann.id
            stream = client.events()
            await client.connect(timeout=5)
            session = await asyncio.to_thread(visitors.start_session, new_visitor())
            await asyncio.to_thread(session.send, "async hello")
            seen: list[str] = []
            async for event in stream:
                if isinstance(event, MessageCreated):
                    seen.append(event.message.content)
                    if event.message.content == "async hello":
                        break
            reply = await client.reply(session.conversation_id, "async answer")
            return reply.content, seen

    content, seen = asyncio.run(asyncio.wait_for(main(), 20))
    assert content == "async answer" and seen[-1] == "async hello"


# ---------- notes -------------------------------------------------------------------------


def test_note_is_for_the_team(inbox: AgentClient, visitor_chat: ChatClient) -> None:
    session = start(visitor_chat, "Can I pay by invoice?")
    before = next(t for t in inbox.list_tickets(per_page=100).tickets
                  if t.id == session.conversation_id)
    note = inbox.add_note(session.conversation_id, "Check with billing first")
    assert (note.type, note.direction, note.content) == ("note", "outbound",
                                                         "Check with billing first")
    assert note.sender is not None and (note.sender.role, note.sender.name) == (
        "agent", "Agent Smith")
    after = inbox.get_ticket(session.conversation_id)
    assert [(m.type, m.content) for m in after.messages] == [
        ("text", "Can I pay by invoice?"), ("note", "Check with billing first")]
    assert (after.ticket.status, after.ticket.last_message_preview) == (
        before.status, before.last_message_preview)
    assert [m.content for m in session.load_history().messages] == ["Can I pay by invoice?"]


def test_a_secret_key_writes_no_notes(app: Any, biz: dict[str, Any],
                                      visitor_chat: ChatClient) -> None:
    ticket_id = start(visitor_chat).conversation_id
    with wsgi_agent(app, secret_key=biz["sk"]) as server_side:
        with pytest.raises(ForbiddenError):
            server_side.add_note(ticket_id, "from a script")
        assert [m.type for m in server_side.get_ticket(ticket_id).messages] == ["text"]


def test_note_reaches_agents_never_the_visitor(live_inbox: AgentClient,
                                               visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor())
    visitor_events = Collector()
    session.on(visitor_events)
    session.connect(wait=True, timeout=5)
    note = live_inbox.add_note(session.conversation_id, "internal: VIP customer")
    live_inbox.reply(session.conversation_id, "Hello there")
    heard = events.wait_for(lambda e: isinstance(e, MessageCreated) and e.message.id == note.id)
    assert isinstance(heard, MessageCreated) and heard.message.type == "note"
    visitor_events.message("Hello there")  # written after the note: the note had its chance
    settle()
    assert [m.content for m in visitor_events.messages()] == ["Hello there"]
    assert [m.id for m in events.messages()].count(note.id) == 1


# ---------- business channel payloads -----------------------------------------------------


def test_business_events_decode() -> None:
    assert decode_agent_event("TypingStarted", '{"conversation_id": 4, "role": "visitor"}') == (
        VisitorTyping(4))
    assert decode_agent_event("TypingStarted", {"conversation_id": 4, "role": "bot"}) is None
    assert decode_agent_event("VisitorOffline", {"conversation_id": 4}) == VisitorOffline(4)
    assert decode_agent_event("ContactDeleted", {"id": 1}) is None  # not one of ours
    by_agent = decode_agent_event("ContactUpdated", {
        "contact_id": 9, "conversation_ids": [4, 5],
        "contact": {"id": 9, "name": "Ola", "email": None, "phone": "+4712345678"}})
    assert isinstance(by_agent, ContactUpdated) and by_agent.conversation_id is None
    assert by_agent.conversation_ids == (4, 5) and by_agent.contact.id == 9
    assert by_agent.contact.phone == "+4712345678"
    with pytest.raises(KeyError):
        decode_agent_event("ConversationUpdated", {"id": 4})  # a ticket without its fields


def test_a_bad_answer_is_a_protocol_error(app: Any, ann: Login) -> None:
    # A real answer of another endpoint where a ticket page is expected.
    with wsgi_agent(app, token=ann.token) as client:
        with pytest.raises(ProtocolError):
            parse(TicketPage.from_json, client.call("GET", "auth/me"))


# ---------- canned responses --------------------------------------------------------------


def test_canned_responses(inbox: AgentClient) -> None:
    tag = uuid.uuid4().hex[:6]
    made = inbox.create_canned_response(f"Refund-{tag}", "Your refund is on its way.")
    assert made.shortcut == f"refund-{tag}"  # lower-cased by the server
    other = inbox.create_canned_response(f"rma-{tag}", "Here is your RMA number.")
    assert [c.id for c in inbox.canned_responses(q=f"refund-{tag}")] == [made.id]
    assert {made.id, other.id} <= {c.id for c in inbox.canned_responses()}

    with pytest.raises(ConflictError) as err:
        inbox.create_canned_response(f"refund-{tag}", "A second one")
    assert (err.value.status, err.value.field) == (409, "shortcut")
    with pytest.raises(ValidationError) as bad:
        inbox.update_canned_response(made.id, shortcut="has space")
    assert bad.value.field == "shortcut"

    changed = inbox.update_canned_response(made.id, content="Refunded today.")
    assert (changed.shortcut, changed.content) == (f"refund-{tag}", "Refunded today.")
    inbox.delete_canned_response(made.id)
    assert made.id not in {c.id for c in inbox.canned_responses()}
    with pytest.raises(NotFoundError):
        inbox.delete_canned_response(made.id)


# ---------- contacts and visitor presence -------------------------------------------------


def test_contact_behind_a_ticket(inbox: AgentClient, visitor_chat: ChatClient) -> None:
    session = start(visitor_chat)
    again = visitor_chat.start_session(new_visitor())  # someone else
    ticket = inbox.get_ticket(session.conversation_id).ticket
    assert ticket.customer.id is not None
    contact = inbox.get_contact(ticket.customer.id)
    assert (contact.name, contact.email, contact.visitor_id, contact.conversations) == (
        "Vera", "vera@example.com", session.visitor_id, 1)
    changed = inbox.update_contact(contact.id, phone="+4712345678",
                                   custom_fields={"plan": "pro"})
    assert (changed.phone, changed.custom_fields, changed.name) == (
        "+4712345678", {"plan": "pro"}, "Vera")
    with pytest.raises(ValidationError) as err:
        inbox.update_contact(contact.id, email="not an address")
    assert err.value.field == "email" and inbox.get_contact(contact.id) == changed
    theirs = inbox.list_tickets(contact_id=contact.id).tickets
    assert [t.id for t in theirs] == [session.conversation_id]
    assert again.conversation_id not in {t.id for t in theirs}


def silence(app: Any, conversation_id: int) -> None:
    """Every session of the conversation last seen an hour ago."""
    with session_scope(app) as s:
        s.execute(update(ServerChatSession)
                  .where(ServerChatSession.conversation_id == conversation_id)
                  .values(last_seen_at=utcnow() - timedelta(hours=1)))


def test_visitor_online_then_offline(app: Any, live_inbox: AgentClient,
                                     visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor())
    events.wait_for(lambda e: e == VisitorOnline(session.conversation_id))
    assert live_inbox.get_ticket(session.conversation_id).ticket.visitor_online
    silence(app, session.conversation_id)
    events.wait_for(lambda e: e == VisitorOffline(session.conversation_id), timeout=10)
    assert not live_inbox.get_ticket(session.conversation_id).ticket.visitor_online
    mark = len(events.events)
    session.heartbeat()  # back: online again, announced once
    session.heartbeat()
    events.wait_for(lambda e: e == VisitorOnline(session.conversation_id), after=mark)
    settle()
    assert events.events[mark:].count(VisitorOnline(session.conversation_id)) == 1


def test_agent_edit_of_a_contact_is_heard(live_inbox: AgentClient,
                                          visitors: ChatClient) -> None:
    events = listening(live_inbox)
    session = visitors.start_session(new_visitor(), name="Otto")
    contact_id = live_inbox.get_ticket(session.conversation_id).ticket.customer.id
    assert contact_id is not None
    live_inbox.update_contact(contact_id, name="Otto Hansen")
    heard = events.wait_for(lambda e: isinstance(e, ContactUpdated)
                            and e.contact.id == contact_id)
    assert isinstance(heard, ContactUpdated) and heard.conversation_id is None
    assert heard.contact.name == "Otto Hansen"
    assert heard.conversation_ids == (session.conversation_id,)


def test_async_logout_ends_the_async_iterator(app: Any, live: str,
                                              biz: dict[str, Any]) -> None:
    leaver = make_login(app, live, biz["id"])

    async def main() -> list[Any]:
        sync = AgentClient(live, realtime_options=FAST)
        client = AsyncAgentClient.from_client(sync)
        assert client.sync is sync and client.connection_state == "idle"
        me = await client.login(leaver.email, PASSWORD)
        assert me.agent is not None and client.token == sync.token
        stream = client.events()
        await client.connect(timeout=5)
        assert client.connection_state == "connected"
        async def log_out_soon() -> None:
            await asyncio.sleep(0.2)
            await client.logout()
        logout = asyncio.create_task(log_out_soon())
        seen = [event async for event in stream]  # ends at logout
        await logout
        assert client.token is None
        await client.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 20))
    assert seen[-1] == ConnectionChanged("closed")
