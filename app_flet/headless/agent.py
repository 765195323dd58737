"""The agent-side client: AgentClient (an agent's login token, or a secret key) and its asyncio
flavour AsyncAgentClient. The inbox's counterpart of ChatClient, on the same HTTP core,
event thread, dedupe ledger and realtime connection (never imports flet).

Threading: HTTP calls run on the caller's thread. Realtime (`private-business.<id>`) runs on
one reader thread; listeners (`on`, `events`) are called on the client's event thread, one
event at a time and in order.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, overload

import httpx

from app_flet.headless.agent_models import (
    Agent,
    AgentContact,
    AgentEvent,
    AnalyticsPage,
    ApiKey,
    AvailabilitySettings,
    BotPreview,
    BotSettings,
    BrandingSettings,
    CannedResponse,
    CreatedWebhook,
    DeliveryPage,
    Invite,
    KnowledgeCollection,
    KnowledgeDocument,
    KnowledgePassage,
    Me,
    MessageFeed,
    MintedKey,
    Ticket,
    TicketDetail,
    TicketPage,
    WebhookDelivery,
    WebhookEndpoint,
    decode_agent_event,
)
from app_flet.headless.aio import AsyncEvents, AsyncWrapper, threaded
from app_flet.headless.api import VERSION, ApiClient, Uploadable, parse, present
from app_flet.headless.errors import ChatError, ValidationError
from app_flet.headless.events import (
    Dispatcher,
    EventIterator,
    MessageLedger,
    dispatch_channel_event,
)
from app_flet.headless.models import ChatMessage, MessageCreated, MessagePage
from app_flet.headless.realtime import RealtimeConnection, RealtimeOptions

__all__ = ["AgentClient", "AgentListener", "AsyncAgentClient"]

log = logging.getLogger("chatdock.client")

AgentListener = Callable[[AgentEvent], None]
FEED_PAGE = 100
LIST_PAGE = 100  # the server's largest per_page


def _params(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in present(**values).items()}


def _data(body: dict[str, Any]) -> Any:
    return body.get("data")


class AgentClient(ApiClient):
    """An agent's (or a secret key's) client for the agent API and the business channel.

    Give `token` (an agent token from an earlier login), `secret_key`, or neither and call
    `login`. `transport` replaces the network (tests: `httpx.WSGITransport(app=flask_app)`);
    realtime needs a real socket. `realtime_options` tunes reconnect timing.
    """

    def __init__(self, base_url: str, *, token: str | None = None,
                 secret_key: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None) -> None:
        if token and secret_key:
            raise ValueError("Give token or secret_key, not both.")
        super().__init__(base_url, token or secret_key, timeout=timeout, transport=transport)
        self.realtime_options = realtime_options or RealtimeOptions()
        self._token = token
        self._me: Me | None = None
        self._lock = threading.RLock()
        self._realtime: RealtimeConnection | None = None
        self._dispatcher: Dispatcher[AgentEvent]
        self._ledger: MessageLedger
        self._new_feed()

    def __repr__(self) -> str:
        return f"AgentClient(base_url={self.base_url!r})"

    @property
    def token(self) -> str | None:
        """The agent token (from `login` or the constructor); None for a secret key."""
        return self._token

    # ---------- who ----------------------------------------------------------

    def login(self, email: str, password: str, *, business: str | None = None,
              mode: str = "test") -> Me:
        """Log in as an agent (`business`: its slug, when the email is in several); keep
        the token for every later call and return who it is."""
        body = self.call("POST", "auth/login", json={
            "email": email, "password": password, "mode": mode,
            **({"business": business} if business else {})})
        token = parse(lambda d: str(d["token"]), _data(body))
        me = parse(Me.from_json, _data(body))  # the answer says who, as GET /auth/me would
        with self._lock:
            self._token, self._me = token, me
            self._set_credential(token)
        return me

    def logout(self) -> None:
        """End the agent's token on the server, forget it here and stop realtime (event
        iterators end). A later `login` starts over. Realtime stops first, so the consumer
        sees a plain "closed", never the server refusing the dead token on the socket."""
        with self._lock:
            token, self._token, self._me = self._token, None, None
        self._stop_realtime()
        try:
            if token is not None:
                self.call("POST", "auth/logout")
        finally:
            with self._lock:
                self._set_credential(None)
            self._new_feed()

    def me(self) -> Me:
        """Who the credential is (fetched once, then cached)."""
        if self._me is None:
            me = parse(Me.from_json, _data(self.call("GET", "auth/me", retries=1)))
            with self._lock:
                self._me = me
        return self._me

    # ---------- tickets --------------------------------------------------------

    def list_tickets(self, *, status: str | None = None, assigned_to: int | str | None = None,
                     tag: str | None = None, q: str | None = None, channel: str | None = None,
                     contact_id: int | None = None, sort: str = "updated_desc",
                     per_page: int = 25, cursor: str | None = None) -> TicketPage:
        """A page of tickets; `assigned_to` is an agent id, "unassigned" or "me"."""
        if assigned_to == "me":
            agent = self.me().agent
            if agent is None:
                raise ValidationError("A secret key is nobody: assigned_to='me' needs an "
                                      "agent's login.", field="assigned_to")
            assigned_to = agent.id
        params = _params(status=status, assigned_to=assigned_to, tag=tag, q=q, channel=channel,
                         contact_id=contact_id, sort=sort, per_page=per_page, cursor=cursor)
        return parse(TicketPage.from_json, self.call("GET", "tickets", params=params,
                                                     retries=1))

    def get_ticket(self, ticket_id: int, cursor: str | None = None) -> TicketDetail:
        """A ticket with its messages and notes, oldest first; marks it read on the server."""
        return parse(TicketDetail.from_json, self.call(
            "GET", f"tickets/{ticket_id}", params=_params(cursor=cursor), retries=1))

    def ticket_messages(self, ticket_id: int, cursor: str | None = None,
                        limit: int = 50) -> MessagePage:
        """The ticket's history newest first, notes included (`next_cursor`: older ones);
        marks nothing read. Opens a long conversation at its end."""
        return parse(MessagePage.from_json, self.call(
            "GET", f"tickets/{ticket_id}/messages",
            params=_params(cursor=cursor, limit=limit), retries=1))

    def reply(self, ticket_id: int, content: str, *,
              idempotency_key: str | None = None) -> ChatMessage:
        """Answer the visitor (it reaches their channel). Sent with an Idempotency-Key (a
        uuid4 unless given) and re-sent once after a network failure: never twice."""
        return self._post_message(f"tickets/{ticket_id}/messages", content, idempotency_key)

    def upload(self, ticket_id: int, path_or_bytes: Uploadable, file_name: str | None = None, *,
               content: str | None = None) -> ChatMessage:
        """Send the visitor a file (a path, or bytes named by file_name), with an optional
        caption; returns the `attachment` message (it reaches their channel)."""
        body = self.upload_form(f"tickets/{ticket_id}/attachments", path_or_bytes, file_name,
                                data=present(content=content))
        message = parse(lambda d: ChatMessage.from_json(d["message"]), _data(body))
        self._ledger.deliver([message], advance=False)
        return message

    def add_note(self, ticket_id: int, content: str, *,
                 idempotency_key: str | None = None) -> ChatMessage:
        """A private note for the team (`type == "note"`), never shown to the visitor."""
        return self._post_message(f"tickets/{ticket_id}/notes", content, idempotency_key)

    def typing(self, ticket_id: int) -> None:
        """Show the visitor that an agent is typing (the server debounces)."""
        self.call("POST", f"tickets/{ticket_id}/typing")

    def assign(self, ticket_id: int, agent_id: int | None) -> Ticket:
        """Assign the ticket to an agent, or unassign it with None."""
        return self._patch_ticket(ticket_id, {"assigned_to": agent_id})

    def mark_read(self, ticket_id: int) -> Ticket:
        """Set the ticket's unread_count to 0 without fetching its messages (a conversation
        on screen while the visitor writes)."""
        return parse(Ticket.from_json, _data(self.call("POST", f"tickets/{ticket_id}/read",
                                                       retries=1)))

    def resolve(self, ticket_id: int) -> Ticket:
        """Mark the ticket resolved."""
        return self.set_status(ticket_id, "resolved")

    def reopen(self, ticket_id: int) -> Ticket:
        """Open a resolved (or pending) ticket again."""
        return self.set_status(ticket_id, "open")

    def set_status(self, ticket_id: int, status: str) -> Ticket:
        """Set the status: open, pending or resolved."""
        return self._patch_ticket(ticket_id, {"status": status})

    def set_tags(self, ticket_id: int, tags: list[str]) -> Ticket:
        """Replace the ticket's tags."""
        return self._patch_ticket(ticket_id, {"tags": list(tags)})

    def _post_message(self, path: str, content: str, key: str | None) -> ChatMessage:
        body = self.call("POST", path, json={"content": content},
                         idempotency_key=key or str(uuid.uuid4()), retries=1)
        message = parse(ChatMessage.from_json, _data(body))
        self._ledger.deliver([message], advance=False)  # listeners see it once, now
        return message

    def _patch_ticket(self, ticket_id: int, changes: dict[str, Any]) -> Ticket:
        body = self.call("PATCH", f"tickets/{ticket_id}", json=changes,
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(Ticket.from_json, _data(body))

    # ---------- contacts, team, canned responses, owner pages -----------------------

    def get_contact(self, contact_id: int) -> AgentContact:
        """A contact (a ticket's `customer.id`)."""
        return parse(AgentContact.from_json,
                     _data(self.call("GET", f"contacts/{contact_id}", retries=1)))

    def update_contact(self, contact_id: int, **fields: Any) -> AgentContact:
        """Change name, email, phone or custom_fields (only the ones given)."""
        return parse(AgentContact.from_json,
                     _data(self.call("PATCH", f"contacts/{contact_id}", json=fields)))

    def analytics_events(self, *, visitor_id: str | None = None, contact_id: int | None = None,
                         type: str | None = None, since: datetime | str | None = None,
                         per_page: int = 25, cursor: str | None = None) -> AnalyticsPage:
        """A page of the visitors' analytics events, newest first (needs contacts:read);
        `contact_id` means that contact's visitor id."""
        if isinstance(since, datetime):
            since = since.isoformat()
        params = _params(visitor_id=visitor_id, contact_id=contact_id, type=type, since=since,
                         per_page=per_page, cursor=cursor)
        return parse(AnalyticsPage.from_json, self.call("GET", "analytics/events",
                                                        params=params, retries=1))

    def list_agents(self) -> list[Agent]:
        """Every agent of the business."""
        return [parse(Agent.from_json, row) for row in self._all_pages("agents")]

    def invite_agent(self, email: str, name: str, role: str = "agent") -> Invite:
        """Invite a teammate; hand them `Invite.token` (POST /auth/accept-invite)."""
        body = self.call("POST", "agents", json={"email": email, "name": name, "role": role})
        return parse(Invite.from_json, _data(body))

    def deactivate_agent(self, agent_id: int) -> Agent:
        """Deactivate an agent: their tokens and sockets stop at once."""
        return parse(Agent.from_json, _data(self.call("DELETE", f"agents/{agent_id}")))

    def canned_responses(self, q: str | None = None) -> list[CannedResponse]:
        """The business's canned responses by shortcut (`q`: a shortcut prefix)."""
        rows = _data(self.call("GET", "canned-responses", params=_params(q=q), retries=1))
        return [parse(CannedResponse.from_json, row) for row in parse(list, rows)]

    def create_canned_response(self, shortcut: str, content: str) -> CannedResponse:
        """Save an answer under a shortcut (a taken one: ConflictError)."""
        body = self.call("POST", "canned-responses",
                         json={"shortcut": shortcut, "content": content})
        return parse(CannedResponse.from_json, _data(body))

    def update_canned_response(self, id: int, *, shortcut: str | None = None,
                               content: str | None = None) -> CannedResponse:
        """Change a canned response's shortcut and / or content."""
        body = self.call("PATCH", f"canned-responses/{id}",
                         json=present(shortcut=shortcut, content=content))
        return parse(CannedResponse.from_json, _data(body))

    def delete_canned_response(self, id: int) -> None:
        """Delete a canned response."""
        self.call("DELETE", f"canned-responses/{id}")

    def get_branding(self) -> BrandingSettings:
        """The business's widget branding."""
        return parse(BrandingSettings.from_json, _data(self.call("GET", "branding", retries=1)))

    def update_branding(self, **fields: Any) -> BrandingSettings:
        """Change branding fields (primary_color, accent_color, welcome_message, logo_url,
        require_identification); connected widgets repaint."""
        return parse(BrandingSettings.from_json, _data(self.call("PUT", "branding",
                                                                 json=fields)))

    def get_availability(self) -> AvailabilitySettings:
        """The business's hours, timezone and offline message."""
        return parse(AvailabilitySettings.from_json,
                     _data(self.call("GET", "availability", retries=1)))

    def update_availability(self, *, timezone: str | None = None,
                            hours: Mapping[str, Sequence[Sequence[str]]] | None = None,
                            offline_message: str | None = None) -> AvailabilitySettings:
        """Change what is given; `hours` replaces the whole week (a day left out is closed)."""
        week = None if hours is None else {day: [list(r) for r in ranges]
                                           for day, ranges in hours.items()}
        body = present(timezone=timezone, hours=week, offline_message=offline_message)
        return parse(AvailabilitySettings.from_json,
                     _data(self.call("PUT", "availability", json=body)))

    def list_keys(self) -> list[ApiKey]:
        """Every API key of the business (prefixes, never secrets), revoked ones too."""
        return [parse(ApiKey.from_json, row) for row in self._all_pages("keys")]

    def create_key(self, kind: str, mode: str, name: str = "", *,
                   scopes: list[str] | None = None, origins: list[str] | None = None,
                   bundle_ids: list[str] | None = None) -> MintedKey:
        """Mint a publishable or secret key; its plaintext (`secret`) is shown this once."""
        body = self.call("POST", "keys", json={
            "type": kind, "mode": mode, "name": name,
            **present(scopes=scopes, origins=origins, bundle_ids=bundle_ids)})
        return parse(MintedKey.from_json, _data(body))

    def revoke_key(self, key_id: int) -> ApiKey:
        """Revoke a key, at once on every server process and open socket."""
        return parse(ApiKey.from_json, _data(self.call("DELETE", f"keys/{key_id}")))

    # ---------- webhooks (owner or secret key: webhooks:write) -----------------------

    def list_webhooks(self) -> list[WebhookEndpoint]:
        """The business's webhook endpoints in the credential's mode, oldest first."""
        rows = _data(self.call("GET", "webhooks", retries=1))
        return [parse(WebhookEndpoint.from_json, row) for row in parse(list, rows)]

    def create_webhook(self, url: str, events: list[str],
                       description: str | None = None) -> CreatedWebhook:
        """Register an endpoint (`events`: types, or ["*"]); its secret is shown this once."""
        body = self.call("POST", "webhooks", json={
            "url": url, "events": list(events), **present(description=description)},
            idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(CreatedWebhook.from_json, _data(body))

    def update_webhook(self, id: int, **fields: Any) -> WebhookEndpoint:
        """Change url, events, description and / or enabled (True re-enables it, its
        failure count back to 0; False disables it)."""
        body = self.call("PATCH", f"webhooks/{id}", json=fields,
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(WebhookEndpoint.from_json, _data(body))

    def delete_webhook(self, id: int) -> None:
        """Delete an endpoint and its delivery log."""
        self.call("DELETE", f"webhooks/{id}")

    def send_test_webhook(self, id: int) -> WebhookDelivery:
        """Queue a `webhook.test` event for this endpoint alone: its pending delivery."""
        body = self.call("POST", f"webhooks/{id}/test", idempotency_key=str(uuid.uuid4()),
                         retries=1)
        return parse(WebhookDelivery.from_json, _data(body))

    def webhook_deliveries(self, id: int, *, page: int = 1, per_page: int = 25
                           ) -> DeliveryPage:
        """A page of the endpoint's delivery log, newest first."""
        return parse(DeliveryPage.from_json, self.call(
            "GET", f"webhooks/{id}/deliveries", params=_params(page=page, per_page=per_page),
            retries=1))

    def retry_delivery(self, id: int, delivery_id: int) -> WebhookDelivery:
        """Make a pending or failed delivery due now (one more attempt)."""
        body = self.call("POST", f"webhooks/{id}/deliveries/{delivery_id}/retry",
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(WebhookDelivery.from_json, _data(body))

    # ---------- the answer bot and the knowledge base (writes: bot:write, knowledge:write) --

    def get_bot(self) -> BotSettings:
        """The answer bot's settings (the defaults, the bot off, on first read)."""
        return parse(BotSettings.from_json, _data(self.call("GET", "bot", retries=1)))

    def update_bot(self, **fields: Any) -> BotSettings:
        """Change the given settings (the API's names: enabled, name, avatar_url,
        welcome_message, fallback_message, handoff_message, handoff_keywords, collection_ids,
        min_score, inactivity_minutes; public_api_enabled=bool for public_api{enabled})."""
        if "public_api_enabled" in fields:
            fields["public_api"] = {"enabled": fields.pop("public_api_enabled")}
        for many in ("handoff_keywords", "collection_ids"):
            if many in fields:
                fields[many] = list(fields[many])
        return parse(BotSettings.from_json, _data(self.call("PUT", "bot", json=fields)))

    def preview_bot(self, question: str) -> BotPreview:
        """What the bot would answer to question now, and the passages it ranked; sends
        nothing to anyone."""
        body = self.call("POST", "bot/preview", json={"question": question}, retries=1)
        return parse(BotPreview.from_json, _data(body))

    def knowledge_collections(self) -> list[KnowledgeCollection]:
        """The business's knowledge collections by name."""
        rows = _data(self.call("GET", "knowledge/collections", retries=1))
        return [parse(KnowledgeCollection.from_json, row) for row in parse(list, rows)]

    def create_collection(self, name: str, description: str | None = None
                          ) -> KnowledgeCollection:
        """A new collection (a name in use: ConflictError)."""
        body = self.call("POST", "knowledge/collections",
                         json={"name": name, **present(description=description)},
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(KnowledgeCollection.from_json, _data(body))

    def update_collection(self, id: int, **fields: Any) -> KnowledgeCollection:
        """Change a collection's name and / or description."""
        body = self.call("PATCH", f"knowledge/collections/{id}", json=fields,
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(KnowledgeCollection.from_json, _data(body))

    def delete_collection(self, id: int) -> None:
        """Delete a collection with its documents (no search finds them after)."""
        self.call("DELETE", f"knowledge/collections/{id}")

    def documents(self, collection_id: int) -> list[KnowledgeDocument]:
        """Every document of the collection, newest first."""
        rows = self._all_pages(f"knowledge/collections/{collection_id}/documents")
        return [parse(KnowledgeDocument.from_json, row) for row in rows]

    def add_document(self, collection_id: int, title: str, text: str | None = None,
                     chunks: Sequence[str] | None = None) -> KnowledgeDocument:
        """Add a document from text (the server cuts it into passages) or from passages
        already cut (`chunks`): exactly one of the two."""
        body = self.call("POST", f"knowledge/collections/{collection_id}/documents",
                         json={"title": title, **present(
                             text=text, chunks=None if chunks is None else list(chunks))},
                         idempotency_key=str(uuid.uuid4()), retries=1)
        return parse(KnowledgeDocument.from_json, _data(body))

    def upload_document(self, collection_id: int, path_or_bytes: Uploadable,
                        file_name: str | None = None, *, title: str | None = None
                        ) -> KnowledgeDocument:
        """Add a .txt, .md or .html file (a path, or bytes named by file_name); the title
        defaults to the file name without its extension."""
        body = self.upload_form(f"knowledge/collections/{collection_id}/documents",
                                path_or_bytes, file_name, data=present(title=title))
        return parse(KnowledgeDocument.from_json, _data(body))

    def delete_document(self, collection_id: int, doc_id: int) -> None:
        """Delete a document and its passages."""
        self.call("DELETE", f"knowledge/collections/{collection_id}/documents/{doc_id}")

    def search_knowledge(self, q: str, collection_id: int | None = None, limit: int = 5
                         ) -> list[KnowledgePassage]:
        """Passages ranked against q (any text), best first."""
        rows = _data(self.call("GET", "knowledge/search", retries=1, params=_params(
            q=q, collection_id=collection_id, limit=limit)))
        return [parse(KnowledgePassage.from_json, row) for row in parse(list, rows)]

    def _all_pages(self, path: str) -> list[Any]:
        rows: list[Any] = []
        page = 1
        while True:
            body = self.call("GET", path, params=_params(page=page, per_page=LIST_PAGE),
                             retries=1)
            batch = parse(list, _data(body))
            rows += batch
            total = parse(lambda m: int(m["total"]), body.get("meta"))
            if not batch or len(rows) >= total:
                return rows
            page += 1

    # ---------- realtime -------------------------------------------------------

    def connect(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Start realtime on the business channel (idempotent). With `wait`, block until
        subscribed and caught up, or raise (AuthError when refused, ChatConnectionError on
        timeout; it keeps retrying in the background)."""
        if self._closed:
            raise ChatError("The client is closed.", code="client_closed")
        config = self.me().realtime
        with self._lock:
            if self._realtime is None:
                self._realtime = RealtimeConnection(
                    config, authorize=self._authorize, on_event=self._on_channel_event,
                    on_subscribed=self._catch_up, on_state=self._dispatcher.put,
                    options=self.realtime_options, version=VERSION,
                    name=f"chatdock-realtime-{config.channel}")
                self._realtime.start()
            realtime = self._realtime
        if wait:
            realtime.wait_connected(timeout)

    @property
    def connection_state(self) -> str:
        """idle (never started), connecting, connected, reconnecting or closed."""
        if self._closed:
            return "closed"
        return self._realtime.state if self._realtime else "idle"

    @overload
    def on(self, callback: AgentListener, /) -> Callable[[], None]: ...

    @overload
    def on(self, conversation_id: int, kind: Literal["message"],
           callback: Callable[[MessageCreated], None], /) -> Callable[[], None]: ...

    def on(self, *args: Any) -> Callable[[], None]:
        """`on(fn)`: call `fn(event)` for every event; `on(conversation_id, "message", fn)`:
        `fn(MessageCreated)` for that conversation's messages only. Returns the
        unsubscribe function. Callbacks run on the client's event thread (a UI hops to its
        own loop, Flet: `page.run_task`). Starts realtime if needed."""
        remove = self._add_listener(_listener(*args))
        self.connect(wait=False)
        return remove

    def events(self) -> EventIterator[AgentEvent]:
        """A blocking iterator over events (`.get(timeout)` polls); it ends at `close` or
        `logout`. Starts realtime if needed."""
        iterator: EventIterator[AgentEvent] = EventIterator(self._add_listener)
        self.connect(wait=False)
        return iterator

    def _add_listener(self, callback: AgentListener, on_end: Callable[[], None] | None = None
                      ) -> Callable[[], None]:
        if self._closed:
            raise ChatError("The client is closed.", code="client_closed")
        return self._dispatcher.add(callback, on_end)

    def _authorize(self, socket_id: str, channel: str) -> dict[str, str]:
        return self.authorize_channel(self.me().realtime.auth_endpoint, socket_id, channel)

    def _on_channel_event(self, name: str, data: Any) -> None:
        dispatch_channel_event(decode_agent_event, name, data, self._ledger, self._dispatcher.put)

    def _feed(self, after_id: int | None) -> MessageFeed:
        params = _params(after_id=after_id, limit=FEED_PAGE)
        return parse(MessageFeed.from_json, self.call("GET", "messages", params=params,
                                                      retries=1))

    def _catch_up(self) -> None:
        """After every subscribe: deliver the business's messages written while we were not
        listening. The first time only note the newest id (the consumer loads lists itself).
        Runs on the reader thread, before "connected" is announced (a UI reloads its list
        then: tickets created or changed meanwhile are not replayed)."""
        with self._lock:
            mark = self._ledger.mark
        if mark is None:
            newest = self._feed(None).last_id
            with self._lock:
                self._ledger.mark = max(self._ledger.mark or 0, newest)
            return
        delivered = 0
        while True:
            page = self._feed(mark)
            delivered += self._ledger.deliver(page.messages, advance=True)
            if not page.has_more or page.last_id <= mark:
                break
            mark = page.last_id
        if delivered:
            log.info("caught up %d message(s) after subscribing", delivered)

    # ---------- lifecycle ------------------------------------------------------

    def _new_feed(self) -> None:
        """A fresh event thread and ledger (at start, and after logout ended the old)."""
        self._dispatcher = Dispatcher("chatdock-agent-events")
        self._ledger = MessageLedger(self._lock, self._dispatcher.put)

    def _stop_realtime(self) -> None:
        with self._lock:
            realtime, self._realtime = self._realtime, None
        if realtime is not None:
            realtime.close()
        self._dispatcher.close()

    def close(self) -> None:
        """Stop realtime, end event iterators, close HTTP. Idempotent; the token stays
        valid on the server (use `logout` to end it)."""
        if self._closed:
            return
        self._stop_realtime()
        super().close()


def _listener(*args: Any) -> AgentListener:
    """on()'s arguments as one listener: a callback, or (conversation_id, "message", fn)."""
    if len(args) == 1 and callable(args[0]):
        listener: AgentListener = args[0]
        return listener
    if len(args) == 3 and args[1] == "message" and callable(args[2]):
        conversation_id, _, fn = args

        def one_conversation(event: AgentEvent) -> None:
            if (isinstance(event, MessageCreated)
                    and event.message.conversation_id == conversation_id):
                fn(event)
        return one_conversation
    raise TypeError("on(callback) or on(conversation_id, 'message', callback)")


# ---------- the asyncio flavour ------------------------------------------------------------

class AsyncAgentClient(AsyncWrapper[AgentClient]):
    """AgentClient for asyncio code, with the same arguments and methods as coroutines; it
    delegates to (and exposes as `sync`) one AgentClient: one copy of the logic."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 secret_key: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 realtime_options: RealtimeOptions | None = None) -> None:
        super().__init__(AgentClient(base_url, token=token, secret_key=secret_key,
                                     timeout=timeout, transport=transport,
                                     realtime_options=realtime_options))

    @property
    def token(self) -> str | None:
        return self.sync.token

    @property
    def connection_state(self) -> str:
        return self.sync.connection_state

    login = threaded(AgentClient.login)
    logout = threaded(AgentClient.logout)
    me = threaded(AgentClient.me)
    list_tickets = threaded(AgentClient.list_tickets)
    get_ticket = threaded(AgentClient.get_ticket)
    ticket_messages = threaded(AgentClient.ticket_messages)
    reply = threaded(AgentClient.reply)
    upload = threaded(AgentClient.upload)
    add_note = threaded(AgentClient.add_note)
    typing = threaded(AgentClient.typing)
    assign = threaded(AgentClient.assign)
    mark_read = threaded(AgentClient.mark_read)
    resolve = threaded(AgentClient.resolve)
    reopen = threaded(AgentClient.reopen)
    set_status = threaded(AgentClient.set_status)
    set_tags = threaded(AgentClient.set_tags)
    get_contact = threaded(AgentClient.get_contact)
    update_contact = threaded(AgentClient.update_contact)
    analytics_events = threaded(AgentClient.analytics_events)
    list_agents = threaded(AgentClient.list_agents)
    invite_agent = threaded(AgentClient.invite_agent)
    deactivate_agent = threaded(AgentClient.deactivate_agent)
    canned_responses = threaded(AgentClient.canned_responses)
    create_canned_response = threaded(AgentClient.create_canned_response)
    update_canned_response = threaded(AgentClient.update_canned_response)
    delete_canned_response = threaded(AgentClient.delete_canned_response)
    get_branding = threaded(AgentClient.get_branding)
    update_branding = threaded(AgentClient.update_branding)
    get_availability = threaded(AgentClient.get_availability)
    update_availability = threaded(AgentClient.update_availability)
    list_keys = threaded(AgentClient.list_keys)
    create_key = threaded(AgentClient.create_key)
    revoke_key = threaded(AgentClient.revoke_key)
    list_webhooks = threaded(AgentClient.list_webhooks)
    create_webhook = threaded(AgentClient.create_webhook)
    update_webhook = threaded(AgentClient.update_webhook)
    delete_webhook = threaded(AgentClient.delete_webhook)
    send_test_webhook = threaded(AgentClient.send_test_webhook)
    webhook_deliveries = threaded(AgentClient.webhook_deliveries)
    retry_delivery = threaded(AgentClient.retry_delivery)
    get_bot = threaded(AgentClient.get_bot)
    update_bot = threaded(AgentClient.update_bot)
    preview_bot = threaded(AgentClient.preview_bot)
    knowledge_collections = threaded(AgentClient.knowledge_collections)
    create_collection = threaded(AgentClient.create_collection)
    update_collection = threaded(AgentClient.update_collection)
    delete_collection = threaded(AgentClient.delete_collection)
    documents = threaded(AgentClient.documents)
    add_document = threaded(AgentClient.add_document)
    upload_document = threaded(AgentClient.upload_document)
    delete_document = threaded(AgentClient.delete_document)
    search_knowledge = threaded(AgentClient.search_knowledge)
    connect = threaded(AgentClient.connect)

    @overload
    def on(self, callback: AgentListener, /) -> Callable[[], None]: ...

    @overload
    def on(self, conversation_id: int, kind: Literal["message"],
           callback: Callable[[MessageCreated], None], /) -> Callable[[], None]: ...

    def on(self, *args: Any) -> Callable[[], None]:
        """As AgentClient.on: callbacks run on the client's event thread, not the loop."""
        return self.sync.on(*args)

    def events(self) -> AsyncIterator[AgentEvent]:
        """An async iterator over events, ending at close or logout (starts realtime)."""
        events: AsyncEvents[AgentEvent] = AsyncEvents(self.sync._add_listener,
                                                      self.sync.connect)
        return events
