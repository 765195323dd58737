"""What the server sends, as frozen dataclasses: each is built by one `from_json`.

Required fields raise KeyError / TypeError / ValueError when missing or mistyped (the
client turns those into ProtocolError): silently defaulting would hide contract drift.
Optional fields (nullable in the SPEC) default to None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from app_flet.headless.errors import ChatError

__all__ = [
    "Attachment", "Availability", "AvailabilityUpdated", "Branding", "BrandingUpdated",
    "Business", "ChatConfig",
    "ChatMessage",
    "ConnectionChanged", "ConnectionState", "Contact", "ConversationUpdated", "Event",
    "Features", "Limits", "MessageCreated", "MessagePage", "Rating", "RatingStatus",
    "RealtimeConfig", "Sender",
    "SessionDetails", "TypingStarted", "decode_event", "parse_time",
]

Json: TypeAlias = dict[str, Any]


def parse_time(value: Any) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive input is taken as UTC)."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def obj(value: Any) -> Json:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Business:
    id: int
    name: str
    slug: str

    @classmethod
    def from_json(cls, j: Json) -> Business:
        return cls(id=int(j["id"]), name=str(j["name"]), slug=str(j["slug"]))


@dataclass(frozen=True, slots=True)
class Branding:
    primary_color: str
    accent_color: str
    welcome_message: str | None
    logo_url: str | None

    @classmethod
    def from_json(cls, j: Json) -> Branding:
        return cls(primary_color=str(j["primary_color"]), accent_color=str(j["accent_color"]),
                   welcome_message=opt_str(j.get("welcome_message")),
                   logo_url=opt_str(j.get("logo_url")))


@dataclass(frozen=True, slots=True)
class Features:
    file_uploads: bool
    voice_notes: bool

    @classmethod
    def from_json(cls, j: Json) -> Features:
        return cls(file_uploads=j.get("file_uploads") is True,
                   voice_notes=j.get("voice_notes") is True)


@dataclass(frozen=True, slots=True)
class Limits:
    max_upload_kb: int
    message_max_length: int

    @classmethod
    def from_json(cls, j: Json) -> Limits:
        return cls(max_upload_kb=int(j["max_upload_kb"]),
                   message_max_length=int(j["message_max_length"]))


@dataclass(frozen=True, slots=True)
class Availability:
    """/chat/config's availability: open now, else when it next opens (None: not this week)."""

    open: bool
    next_open_at: datetime | None
    offline_message: str

    @classmethod
    def from_json(cls, j: Json) -> Availability:
        opens = j.get("next_open_at")
        if not isinstance(j["open"], bool):
            raise TypeError("availability.open must be a boolean")
        return cls(open=j["open"], next_open_at=None if opens is None else parse_time(opens),
                   offline_message=str(j.get("offline_message") or ""))


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """GET /chat/config: what the widget paints and which features it offers."""

    business: Business
    branding: Branding
    features: Features
    limits: Limits
    agents_online: int
    identification_required: bool
    availability: Availability | None = None  # None from a server without business hours

    @classmethod
    def from_json(cls, j: Json) -> ChatConfig:
        presence = j.get("presence") or {}
        identification = j.get("identification") or {}
        hours = j.get("availability")
        return cls(business=Business.from_json(obj(j["business"])),
                   branding=Branding.from_json(obj(j["branding"])),
                   features=Features.from_json(obj(j.get("features") or {})),
                   limits=Limits.from_json(obj(j["limits"])),
                   agents_online=int(presence.get("agents_online") or 0),
                   identification_required=identification.get("required_on_start") is True,
                   availability=None if hours is None else Availability.from_json(obj(hours)))


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> Contact:
        return cls(name=opt_str(j.get("name")), email=opt_str(j.get("email")),
                   phone=opt_str(j.get("phone")))


@dataclass(frozen=True, slots=True)
class RealtimeConfig:
    """Where the Pusher-protocol socket is; `key` is the realtime app key, not the pk."""

    key: str
    host: str
    port: int
    scheme: str
    channel: str
    auth_endpoint: str
    event: str

    @classmethod
    def from_json(cls, j: Json) -> RealtimeConfig:
        return cls(key=str(j["key"]), host=str(j["host"]), port=int(j["port"]),
                   scheme=str(j.get("scheme") or "https"), channel=str(j["channel"]),
                   auth_endpoint=str(j["auth_endpoint"]),
                   event=str(j.get("event") or "MessageCreated"))

    @property
    def url(self) -> str:
        """The socket URL without the query string."""
        ws = "wss" if self.scheme == "https" else "ws"
        return f"{ws}://{self.host}:{self.port}/app/{self.key}"


@dataclass(frozen=True, slots=True)
class SessionDetails:
    """POST /chat/sessions. The token authorizes this one session; it is kept out of repr."""

    session_id: int
    session_token: str = field(repr=False)
    conversation_id: int
    visitor_id: str
    contact: Contact
    realtime: RealtimeConfig
    verified: bool = False  # started with a valid identity_hash

    @classmethod
    def from_json(cls, j: Json) -> SessionDetails:
        return cls(session_id=int(j["session_id"]), session_token=str(j["session_token"]),
                   conversation_id=int(j["conversation_id"]), visitor_id=str(j["visitor_id"]),
                   contact=Contact.from_json(obj(j.get("contact") or {})),
                   realtime=RealtimeConfig.from_json(obj(j["realtime"])),
                   verified=j.get("verified") is True)


@dataclass(frozen=True, slots=True)
class Sender:
    role: str
    name: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> Sender:
        return cls(role=str(j["role"]), name=opt_str(j.get("name")))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on a message; `signed_url` is valid for 60 minutes from issue."""

    id: int
    file_name: str
    mime_type: str
    file_size: int
    signed_url: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> Attachment:
        return cls(id=int(j["id"]), file_name=str(j["file_name"]),
                   mime_type=str(j.get("mime_type") or "application/octet-stream"),
                   file_size=int(j.get("file_size") or 0),
                   signed_url=opt_str(j.get("signed_url")))


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message; inbound = from the visitor, outbound = from an agent or the bot."""

    id: int
    direction: str
    type: str
    content: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()
    sender: Sender | None = None
    conversation_id: int | None = None

    @property
    def from_visitor(self) -> bool:
        """True when the visitor wrote this message."""
        return self.direction == "inbound"

    @classmethod
    def from_json(cls, j: Json) -> ChatMessage:
        sender = j.get("sender")
        conversation = j.get("conversation_id")
        return cls(id=int(j["id"]), direction=str(j["direction"]),
                   type=str(j.get("type") or "text"), content=str(j.get("content") or ""),
                   created_at=parse_time(j["created_at"]),
                   attachments=tuple(Attachment.from_json(obj(a))
                                     for a in j.get("attachments") or ()),
                   sender=Sender.from_json(sender) if isinstance(sender, dict) else None,
                   conversation_id=None if conversation is None else int(conversation))


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A page of history, newest first; pass `next_cursor` for the older page (None: end)."""

    messages: tuple[ChatMessage, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Json) -> MessagePage:
        rows = body["data"]
        if not isinstance(rows, list):
            raise TypeError("history data must be a list")
        meta = body.get("meta") or {}
        return cls(messages=tuple(ChatMessage.from_json(obj(r)) for r in rows),
                   next_cursor=opt_str(meta.get("next_cursor")))


# ---------- realtime events ------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageCreated:
    """A new message in the conversation (the visitor's own sends too, exactly once)."""

    message: ChatMessage

    @classmethod
    def from_json(cls, j: Json) -> MessageCreated:
        return cls(message=ChatMessage.from_json(j))


@dataclass(frozen=True, slots=True)
class TypingStarted:
    """An agent (or the bot) started typing."""

    role: str
    name: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> TypingStarted:
        return cls(role=str(j.get("role") or "agent"), name=opt_str(j.get("name")))


@dataclass(frozen=True, slots=True)
class ConversationUpdated:
    """The conversation's status changed (open | pending | resolved)."""

    status: str
    resolved_at: datetime | None = None

    @classmethod
    def from_json(cls, j: Json) -> ConversationUpdated:
        resolved = j.get("resolved_at")
        return cls(status=str(j["status"]),
                   resolved_at=None if resolved is None else parse_time(resolved))


@dataclass(frozen=True, slots=True)
class BrandingUpdated:
    """The business changed its branding: repaint."""

    business: Business
    branding: Branding

    @classmethod
    def from_json(cls, j: Json) -> BrandingUpdated:
        return cls(business=Business.from_json(obj(j["business"])),
                   branding=Branding.from_json(obj(j["branding"])))


@dataclass(frozen=True, slots=True)
class PresenceUpdated:
    """The number of the business's agents online changed (or a new socket is told it)."""

    agents_online: int

    @classmethod
    def from_json(cls, j: Json) -> PresenceUpdated:
        return cls(agents_online=int(j["agents_online"]))


@dataclass(frozen=True, slots=True)
class AvailabilityUpdated:
    """The business opened, closed or saved new hours (or a new socket is told them):
    /chat/config's availability, as it is now."""

    availability: Availability

    @classmethod
    def from_json(cls, j: Json) -> AvailabilityUpdated:
        return cls(availability=Availability.from_json(j))


ConnectionState: TypeAlias = Literal["connecting", "connected", "reconnecting", "closed"]


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The realtime connection's state; `retry_in` (s) while reconnecting, `error` why."""

    state: ConnectionState
    retry_in: float | None = None
    error: ChatError | None = None


Event: TypeAlias = (MessageCreated | TypingStarted | ConversationUpdated | BrandingUpdated
                    | PresenceUpdated | AvailabilityUpdated | ConnectionChanged)

_DECODERS: dict[str, Any] = {
    "MessageCreated": MessageCreated.from_json,
    "TypingStarted": TypingStarted.from_json,
    "ConversationUpdated": ConversationUpdated.from_json,
    "BrandingUpdated": BrandingUpdated.from_json,
    "PresenceUpdated": PresenceUpdated.from_json,
    "AvailabilityUpdated": AvailabilityUpdated.from_json,
}


def decode_payload(decoders: dict[str, Any], name: str, data: Any) -> Any:
    """Decode a channel event with the table's decoder; None for a name it does not know.

    Pusher sends `data` as a JSON string; a decoded object is accepted too.
    Raises KeyError / TypeError / ValueError for a known event with a bad payload.
    """
    decoder = decoders.get(name)
    if decoder is None:
        return None
    if isinstance(data, str):
        data = json.loads(data)
    return decoder(obj(data))


def decode_event(name: str, data: Any) -> Event | None:
    """A visitor channel event as a dataclass; None for events this client does not know."""
    event: Event | None = decode_payload(_DECODERS, name, data)
    return event


# ---------- ratings (CSAT) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rating:
    """The visitor's 1-5 rating of a resolved conversation (POST .../rating)."""

    id: int
    score: int
    comment: str | None
    created_at: datetime

    @classmethod
    def from_json(cls, j: Json) -> Rating:
        return cls(id=int(j["id"]), score=int(j["score"]), comment=opt_str(j.get("comment")),
                   created_at=parse_time(j["created_at"]))


@dataclass(frozen=True, slots=True)
class RatingStatus:
    """GET .../rating: the conversation's status, whether a rating is wanted now (resolved,
    this resolution not rated), and the current resolution's rating if given."""

    status: str
    pending: bool
    rating: Rating | None = None

    @classmethod
    def from_json(cls, j: Json) -> RatingStatus:
        rating = j.get("rating")
        return cls(status=str(j["status"]), pending=j.get("pending") is True,
                   rating=None if rating is None else Rating.from_json(obj(rating)))
