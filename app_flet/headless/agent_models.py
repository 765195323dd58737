"""What the agent API and the business channel send, as frozen dataclasses (one `from_json`
each), following the rules of models.py: required fields fail loudly, nullable ones default
to None. ChatMessage, MessageCreated, RealtimeConfig and ConnectionChanged are reused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from app_flet.headless.models import (
    ChatMessage,
    ConnectionChanged,
    Json,
    MessageCreated,
    RealtimeConfig,
    decode_payload,
    obj,
    opt_str,
    parse_time,
)

__all__ = [
    "Agent", "AgentContact", "AgentEvent", "AnalyticsEvent", "AnalyticsPage", "ApiKey",
    "AvailabilitySettings", "BotPreview", "BotSettings", "BrandingSettings", "CannedResponse",
    "ContactUpdated", "CreatedWebhook", "Customer", "DeliveryPage", "Invite",
    "KnowledgeCollection", "KnowledgeDocument", "KnowledgePassage", "Me", "MessageFeed",
    "MintedKey",
    "Ticket", "TicketCreated", "TicketDetail", "TicketPage", "TicketRating", "TicketUpdated",
    "VisitorOffline", "VisitorOnline", "VisitorTyping", "WebhookDelivery", "WebhookEndpoint",
    "decode_agent_event",
]


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


@dataclass(frozen=True, slots=True)
class Agent:
    """A person of the business's team (role agent or owner)."""

    id: int
    email: str
    name: str
    role: str
    online: bool = False
    active: bool = True
    invited: bool = False  # invited, has not set a password yet

    @classmethod
    def from_json(cls, j: Json) -> Agent:
        return cls(id=int(j["id"]), email=str(j["email"]), name=str(j.get("name") or ""),
                   role=str(j["role"]), online=j.get("online") is True,
                   active=j.get("active") is not False, invited=j.get("invited") is True)


@dataclass(frozen=True, slots=True)
class Me:
    """Who the credential is: an agent (None for a secret key), its business and mode, and
    where its realtime channel (`private-business.<id>`) is."""

    agent: Agent | None
    business_id: int
    mode: str
    realtime: RealtimeConfig

    @classmethod
    def from_json(cls, j: Json) -> Me:
        agent = j.get("agent")
        return cls(agent=None if agent is None else Agent.from_json(obj(agent)),
                   business_id=int(j["business_id"]), mode=str(j["mode"]),
                   realtime=RealtimeConfig.from_json(obj(j["realtime"])))


@dataclass(frozen=True, slots=True)
class Customer:
    """The contact behind a ticket; `id` is for AgentClient.get_contact."""

    id: int | None
    name: str | None
    email: str | None
    visitor_id: str | None
    phone: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> Customer:
        return cls(id=_opt_int(j.get("id")), name=opt_str(j.get("name")),
                   email=opt_str(j.get("email")), visitor_id=opt_str(j.get("visitor_id")),
                   phone=opt_str(j.get("phone")))


@dataclass(frozen=True, slots=True)
class TicketRating:
    """The visitor's newest CSAT rating of a ticket (its latest rated resolution's)."""

    score: int
    comment: str | None
    created_at: datetime

    @classmethod
    def from_json(cls, j: Json) -> TicketRating:
        return cls(score=int(j["score"]), comment=opt_str(j.get("comment")),
                   created_at=parse_time(j["created_at"]))


@dataclass(frozen=True, slots=True)
class Ticket:
    """A conversation as the agent API shows it. `unread_count` is shared by the team."""

    id: int
    status: str
    channel: str
    subject: str | None
    created_at: datetime
    updated_at: datetime
    customer: Customer
    assigned_to: int | None
    tags: tuple[str, ...]
    last_message_preview: str | None
    unread_count: int
    visitor_online: bool
    resolved_at: datetime | None
    rating: TicketRating | None = None
    bot_active: bool = False  # the answer bot holds it

    @classmethod
    def from_json(cls, j: Json) -> Ticket:
        rating = j.get("rating")
        return cls(id=int(j["id"]), status=str(j["status"]), channel=str(j["channel"]),
                   subject=opt_str(j.get("subject")), created_at=parse_time(j["created_at"]),
                   updated_at=parse_time(j["updated_at"]),
                   customer=Customer.from_json(obj(j.get("customer") or {})),
                   assigned_to=_opt_int(j.get("assigned_to")), tags=_strings(j.get("tags")),
                   last_message_preview=opt_str(j.get("last_message_preview")),
                   unread_count=int(j.get("unread_count") or 0),
                   visitor_online=j.get("visitor_online") is True,
                   resolved_at=_opt_time(j.get("resolved_at")),
                   rating=None if rating is None else TicketRating.from_json(obj(rating)),
                   bot_active=j.get("bot_active") is True)


@dataclass(frozen=True, slots=True)
class TicketPage:
    """A page of the ticket list; `next_cursor` (None: the end) fetches the next one;
    `total` only on a first page."""

    tickets: tuple[Ticket, ...]
    next_cursor: str | None
    total: int | None

    @classmethod
    def from_json(cls, body: Json) -> TicketPage:
        rows, meta = body["data"], obj(body.get("meta") or {})
        if not isinstance(rows, list):
            raise TypeError("ticket list data must be a list")
        return cls(tickets=tuple(Ticket.from_json(obj(r)) for r in rows),
                   next_cursor=opt_str(meta.get("next_cursor")),
                   total=_opt_int(meta.get("total")))


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """A ticket and up to 100 of its messages, oldest first (notes among them:
    `type == "note"`); `next_cursor` fetches the newer ones after them."""

    ticket: Ticket
    messages: tuple[ChatMessage, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Json) -> TicketDetail:
        data, meta = obj(body["data"]), obj(body.get("meta") or {})
        return cls(ticket=Ticket.from_json(data),
                   messages=tuple(ChatMessage.from_json(obj(m))
                                  for m in data.get("messages") or ()),
                   next_cursor=opt_str(meta.get("next_cursor")))


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A saved answer an agent inserts by its shortcut."""

    id: int
    shortcut: str
    content: str

    @classmethod
    def from_json(cls, j: Json) -> CannedResponse:
        return cls(id=int(j["id"]), shortcut=str(j["shortcut"]), content=str(j["content"]))


@dataclass(frozen=True, slots=True)
class AgentContact:
    """A contact as agents see it; `conversations` is how many it has."""

    id: int
    name: str | None
    email: str | None
    phone: str | None
    visitor_id: str | None
    custom_fields: dict[str, Any]
    conversations: int

    @classmethod
    def from_json(cls, j: Json) -> AgentContact:
        return cls(id=int(j["id"]), name=opt_str(j.get("name")), email=opt_str(j.get("email")),
                   phone=opt_str(j.get("phone")), visitor_id=opt_str(j.get("visitor_id")),
                   custom_fields=dict(obj(j.get("custom_fields") or {})),
                   conversations=int(j.get("conversations") or 0))


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """One event a visitor's app tracked (GET /analytics/events); `value` a number or text,
    `meta` the app's free-form properties."""

    id: int
    visitor_id: str
    contact_id: int | None
    type: str
    occurred_at: datetime
    received_at: datetime
    title: str | None = None
    url: str | None = None
    element_label: str | None = None
    element_type: str | None = None
    element_key: str | None = None
    value: float | str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, j: Json) -> AnalyticsEvent:
        value = j.get("value")
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (int, float, str))):
            raise TypeError("value must be a number or a string")
        return cls(id=int(j["id"]), visitor_id=str(j["visitor_id"]),
                   contact_id=_opt_int(j.get("contact_id")), type=str(j["type"]),
                   occurred_at=parse_time(j["occurred_at"]),
                   received_at=parse_time(j["received_at"]), title=opt_str(j.get("title")),
                   url=opt_str(j.get("url")), element_label=opt_str(j.get("element_label")),
                   element_type=opt_str(j.get("element_type")),
                   element_key=opt_str(j.get("element_key")), value=value,
                   meta=dict(obj(j.get("meta") or {})))


@dataclass(frozen=True, slots=True)
class AnalyticsPage:
    """A page of analytics events, newest first; `next_cursor` (None: the end) the next."""

    events: tuple[AnalyticsEvent, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Json) -> AnalyticsPage:
        rows, meta = body["data"], obj(body.get("meta") or {})
        if not isinstance(rows, list):
            raise TypeError("analytics event list data must be a list")
        return cls(events=tuple(AnalyticsEvent.from_json(obj(r)) for r in rows),
                   next_cursor=opt_str(meta.get("next_cursor")))


@dataclass(frozen=True, slots=True)
class BrandingSettings:
    """GET / PUT /branding: what the widget paints, for the whole business."""

    business_id: int
    slug: str
    name: str
    primary_color: str
    accent_color: str
    welcome_message: str | None
    logo_url: str | None
    require_identification: bool

    @classmethod
    def from_json(cls, j: Json) -> BrandingSettings:
        return cls(business_id=int(j["business_id"]), slug=str(j["slug"]), name=str(j["name"]),
                   primary_color=str(j["primary_color"]), accent_color=str(j["accent_color"]),
                   welcome_message=opt_str(j.get("welcome_message")),
                   logo_url=opt_str(j.get("logo_url")),
                   require_identification=j.get("require_identification") is True)


@dataclass(frozen=True, slots=True)
class AvailabilitySettings:
    """GET / PUT /availability: business hours (wall-clock, in `timezone`) for every day
    mon … sun, each a tuple of (start, end) "HH:MM" ranges (end may be "24:00")."""

    business_id: int
    timezone: str
    hours: dict[str, tuple[tuple[str, str], ...]]
    offline_message: str

    @classmethod
    def from_json(cls, j: Json) -> AvailabilitySettings:
        week = obj(j["hours"])
        return cls(business_id=int(j["business_id"]), timezone=str(j["timezone"]),
                   hours={str(day): tuple((str(r[0]), str(r[1])) for r in ranges)
                          for day, ranges in week.items()},
                   offline_message=str(j.get("offline_message") or ""))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: its non-secret prefix, never the secret."""

    id: int
    prefix: str
    kind: str  # publishable | secret (the JSON's "type")
    mode: str
    name: str
    scopes: tuple[str, ...]
    origins: tuple[str, ...]
    bundle_ids: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def from_json(cls, j: Json) -> ApiKey:
        return cls(id=int(j["id"]), prefix=str(j["prefix"]), kind=str(j["type"]),
                   mode=str(j["mode"]), name=str(j.get("name") or ""),
                   scopes=_strings(j.get("scopes")), origins=_strings(j.get("origins")),
                   bundle_ids=_strings(j.get("bundle_ids")),
                   created_at=parse_time(j["created_at"]),
                   last_used_at=_opt_time(j.get("last_used_at")),
                   revoked_at=_opt_time(j.get("revoked_at")))


@dataclass(frozen=True, slots=True)
class MintedKey:
    """A new key and its plaintext, shown this once (kept out of repr)."""

    key: ApiKey
    secret: str = field(repr=False)

    @classmethod
    def from_json(cls, j: Json) -> MintedKey:
        return cls(key=ApiKey.from_json(j), secret=str(j["key"]))


@dataclass(frozen=True, slots=True)
class Invite:
    """An invited agent and the invite token to hand them (kept out of repr); None when the
    agent was created with a password."""

    agent: Agent
    token: str | None = field(repr=False)

    @classmethod
    def from_json(cls, j: Json) -> Invite:
        return cls(agent=Agent.from_json(j), token=opt_str(j.get("invite_token")))


@dataclass(frozen=True, slots=True)
class MessageFeed:
    """GET /messages: the business's messages after an id, oldest first (notes included);
    `last_id` is the watermark to ask after next."""

    messages: tuple[ChatMessage, ...]
    has_more: bool
    last_id: int

    @classmethod
    def from_json(cls, body: Json) -> MessageFeed:
        rows, meta = body["data"], obj(body["meta"])
        if not isinstance(rows, list):
            raise TypeError("feed data must be a list")
        return cls(messages=tuple(ChatMessage.from_json(obj(r)) for r in rows),
                   has_more=meta.get("has_more") is True, last_id=int(meta["last_id"]))


# ---------- business channel events ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketCreated:
    """A new conversation started (widget or API); reload or insert it in the list."""

    conversation_id: int
    channel: str
    customer: Customer

    @classmethod
    def from_json(cls, j: Json) -> TicketCreated:
        return cls(conversation_id=int(j["conversation_id"]), channel=str(j["channel"]),
                   customer=Customer.from_json(obj(j.get("customer") or {})))


@dataclass(frozen=True, slots=True)
class TicketUpdated:
    """A ticket changed (status, assignee, tags): the whole ticket as it is now."""

    ticket: Ticket

    @classmethod
    def from_json(cls, j: Json) -> TicketUpdated:
        return cls(ticket=Ticket.from_json(j))


@dataclass(frozen=True, slots=True)
class VisitorTyping:
    """The visitor of this conversation is typing (the server debounces)."""

    conversation_id: int


@dataclass(frozen=True, slots=True)
class VisitorOnline:
    """The visitor of this conversation came online (heartbeat or a new session)."""

    conversation_id: int

    @classmethod
    def from_json(cls, j: Json) -> VisitorOnline:
        return cls(conversation_id=int(j["conversation_id"]))


@dataclass(frozen=True, slots=True)
class VisitorOffline:
    """No heartbeat from this conversation's visitor for a while."""

    conversation_id: int

    @classmethod
    def from_json(cls, j: Json) -> VisitorOffline:
        return cls(conversation_id=int(j["conversation_id"]))


@dataclass(frozen=True, slots=True)
class ContactUpdated:
    """A contact changed: by its visitor (`conversation_id` is theirs) or by an agent
    (`conversation_id` None; `conversation_ids` lists every conversation of the contact)."""

    conversation_id: int | None
    contact: Customer
    conversation_ids: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, j: Json) -> ContactUpdated:
        conversation = _opt_int(j.get("conversation_id"))
        contact = obj(j["contact"])
        ids = tuple(int(i) for i in j.get("conversation_ids") or ())
        return cls(conversation_id=conversation,
                   contact=Customer.from_json({"id": j.get("contact_id"), **contact}),
                   conversation_ids=ids or ((conversation,) if conversation is not None else ()))


AgentEvent: TypeAlias = (MessageCreated | TicketCreated | TicketUpdated | VisitorTyping
                         | VisitorOnline | VisitorOffline | ContactUpdated | ConnectionChanged)


def _typing(j: Json) -> VisitorTyping | None:
    """The business channel hears visitor typing only; anything else is not for agents."""
    return VisitorTyping(int(j["conversation_id"])) if j.get("role") == "visitor" else None


_DECODERS: dict[str, Any] = {
    "MessageCreated": MessageCreated.from_json,
    "TicketCreated": TicketCreated.from_json,
    "ConversationUpdated": TicketUpdated.from_json,
    "TypingStarted": _typing,
    "VisitorOnline": VisitorOnline.from_json,
    "VisitorOffline": VisitorOffline.from_json,
    "ContactUpdated": ContactUpdated.from_json,
}


def decode_agent_event(name: str, data: Any) -> AgentEvent | None:
    """A business channel event as a dataclass; None for events this client does not know
    (raises KeyError / TypeError / ValueError for a known event with a bad payload)."""
    event: AgentEvent | None = decode_payload(_DECODERS, name, data)
    return event


# ---------- webhooks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A URL the business's events are POSTed to (never its secret); `disabled_at` is set
    when an owner disabled it or after `consecutive_failures` failed deliveries in a row."""

    id: int
    url: str
    events: tuple[str, ...]  # ("*",): every type
    description: str | None
    mode: str
    created_at: datetime
    disabled_at: datetime | None
    consecutive_failures: int

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @classmethod
    def from_json(cls, j: Json) -> WebhookEndpoint:
        return cls(id=int(j["id"]), url=str(j["url"]), events=_strings(j["events"]),
                   description=opt_str(j.get("description")), mode=str(j["mode"]),
                   created_at=parse_time(j["created_at"]),
                   disabled_at=_opt_time(j.get("disabled_at")),
                   consecutive_failures=int(j.get("consecutive_failures") or 0))


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    """A new endpoint and its signing secret (`whsec_…`), shown this once (kept out of repr)."""

    endpoint: WebhookEndpoint
    secret: str = field(repr=False)

    @classmethod
    def from_json(cls, j: Json) -> CreatedWebhook:
        return cls(endpoint=WebhookEndpoint.from_json(j), secret=str(j["secret"]))


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event's delivery to one endpoint: `status` pending, succeeded or failed;
    `webhook_id` is the Chatdock-Webhook-Id header its every attempt carries."""

    id: int
    webhook_id: str
    endpoint_id: int
    event_id: str
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_json(cls, j: Json) -> WebhookDelivery:
        return cls(id=int(j["id"]), webhook_id=str(j["webhook_id"]),
                   endpoint_id=int(j["endpoint_id"]), event_id=str(j["event_id"]),
                   type=str(j["type"]), status=str(j["status"]),
                   attempts=int(j.get("attempts") or 0),
                   last_status_code=_opt_int(j.get("last_status_code")),
                   last_error=opt_str(j.get("last_error")),
                   next_attempt_at=_opt_time(j.get("next_attempt_at")),
                   created_at=parse_time(j["created_at"]),
                   delivered_at=_opt_time(j.get("delivered_at")))


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """A page of an endpoint's deliveries, newest first, and how many there are in all."""

    deliveries: tuple[WebhookDelivery, ...]
    total: int
    page: int
    per_page: int

    @classmethod
    def from_json(cls, body: Json) -> DeliveryPage:
        rows, meta = body["data"], obj(body["meta"])
        if not isinstance(rows, list):
            raise TypeError("delivery list data must be a list")
        return cls(deliveries=tuple(WebhookDelivery.from_json(obj(r)) for r in rows),
                   total=int(meta["total"]), page=int(meta["page"]),
                   per_page=int(meta["per_page"]))


# ---------- the knowledge base and the answer bot ------------------------------------------


@dataclass(frozen=True, slots=True)
class BotSettings:
    """GET / PUT /bot: the answer bot's settings (one per business); collection_ids () means
    every collection."""

    id: int
    enabled: bool
    name: str
    avatar_url: str | None
    welcome_message: str
    fallback_message: str
    handoff_message: str
    handoff_keywords: tuple[str, ...]
    collection_ids: tuple[int, ...]
    min_score: float
    inactivity_minutes: int
    public_api_enabled: bool

    @classmethod
    def from_json(cls, j: Json) -> BotSettings:
        return cls(id=int(j["id"]), enabled=j["enabled"] is True, name=str(j["name"]),
                   avatar_url=opt_str(j.get("avatar_url")),
                   welcome_message=str(j.get("welcome_message") or ""),
                   fallback_message=str(j["fallback_message"]),
                   handoff_message=str(j["handoff_message"]),
                   handoff_keywords=_strings(j["handoff_keywords"]),
                   collection_ids=tuple(int(i) for i in j["collection_ids"]),
                   min_score=float(j["min_score"]),
                   inactivity_minutes=int(j["inactivity_minutes"]),
                   public_api_enabled=obj(j["public_api"]).get("enabled") is True)


@dataclass(frozen=True, slots=True)
class KnowledgeCollection:
    """A named set of help documents the bot (and agents' search) draw on."""

    id: int
    name: str
    description: str | None
    document_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, j: Json) -> KnowledgeCollection:
        return cls(id=int(j["id"]), name=str(j["name"]),
                   description=opt_str(j.get("description")),
                   document_count=int(j.get("document_count") or 0),
                   created_at=parse_time(j["created_at"]),
                   updated_at=parse_time(j["updated_at"]))


@dataclass(frozen=True, slots=True)
class KnowledgeDocument:
    """A document of a collection: its title, how many passages it was cut into, and its
    size in bytes as sent (never edited: delete it and add it again)."""

    id: int
    collection_id: int
    title: str
    chunk_count: int
    size: int
    created_at: datetime

    @classmethod
    def from_json(cls, j: Json) -> KnowledgeDocument:
        return cls(id=int(j["id"]), collection_id=int(j["collection_id"]),
                   title=str(j["title"]), chunk_count=int(j["chunk_count"]),
                   size=int(j["size"]), created_at=parse_time(j["created_at"]))


@dataclass(frozen=True, slots=True)
class KnowledgePassage:
    """A search hit: `snippet` is untrusted plain text with each hit as **word** (show it as
    text); `score` higher is better, in [0, 1)."""

    document_id: int
    title: str
    chunk_id: int
    snippet: str
    score: float

    @classmethod
    def from_json(cls, j: Json) -> KnowledgePassage:
        return cls(document_id=int(j["document_id"]), title=str(j["title"]),
                   chunk_id=int(j["chunk_id"]), snippet=str(j["snippet"]),
                   score=float(j["score"]))


@dataclass(frozen=True, slots=True)
class BotPreview:
    """POST /bot/preview: what the bot would say (its answer, or the handoff message with
    `handoff` "asked" | "no_answer" | "error"), its sources as (document_id, title), and the
    ranked passages it searched, best first (those under min_score too)."""

    answer: str
    handoff: str | None
    sources: tuple[tuple[int, str], ...]
    passages: tuple[KnowledgePassage, ...]

    @classmethod
    def from_json(cls, j: Json) -> BotPreview:
        return cls(answer=str(j["answer"]), handoff=opt_str(j.get("handoff")),
                   sources=tuple((int(s["document_id"]), str(s["title"]))
                                 for s in j.get("sources") or ()),
                   passages=tuple(KnowledgePassage.from_json(obj(p)) for p in j["passages"]))
