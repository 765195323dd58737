"""Channel names, hub topics, and routing a channel to the topics its events come from.

A channel is what a Pusher client subscribes to; a topic is what services publish to. A
visitor's session channel hears its conversation's topic (every device of the visitor)
and the business's visitors topic (branding, presence); a business channel hears the
business's feed in one mode.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from server.errors import Forbidden, ValidationError
from server.models import MAX_ROW_ID

SESSION_CHANNEL = "private-chat.session."
BUSINESS_CHANNEL = "private-business."
SOCKET_ID_RE = re.compile(r"\d+\.\d+")


class Route(NamedTuple):
    """Where a subscription's events come from, and who authorized it."""

    topics: tuple[str, ...]
    key_id: int | None = None  # a revoked key closes the socket
    user_id: int | None = None  # an agent: counts for presence
    session_id: int | None = None  # a revoked visitor session closes the socket
    client_id: int | None = None  # a revoked OAuth2 client closes the socket


def session_channel(session_id: int) -> str:
    """A visitor session's private channel."""
    return f"{SESSION_CHANNEL}{session_id}"


def session_channel_id(channel: str) -> int | None:
    """The session id in a session channel's name (None for any other channel)."""
    suffix = channel[len(SESSION_CHANNEL):]
    if not channel.startswith(SESSION_CHANNEL) or not (suffix.isascii() and suffix.isdigit()):
        return None
    return int(suffix) if int(suffix) <= MAX_ROW_ID else None


def business_channel(business_id: int) -> str:
    """A business's private channel (its agents' feed)."""
    return f"{BUSINESS_CHANNEL}{business_id}"


def visitors_topic(business_id: int, mode: str) -> str:
    """The hub's routing key for every connected visitor of a business (e.g. BrandingUpdated)."""
    return f"visitors.{business_id}.{mode}"


def visitors_topic_business(topic: str) -> int | None:
    """The business id in a visitors_topic (None for any other topic)."""
    kind, _, rest = topic.partition(".")
    business_id = rest.partition(".")[0]
    return int(business_id) if kind == "visitors" and business_id.isdigit() else None


def business_topic(business_id: int, mode: str) -> str:
    """The hub's routing key for a business's agent feed in one mode (test never sees live)."""
    return f"business.{business_id}.{mode}"


def conversation_topic(conversation_id: int) -> str:
    """The hub's routing key for every session channel of one conversation."""
    return f"conversation.{conversation_id}"


def session_route(conversation_id: int, business_id: int, mode: str, key_id: int,
                  session_id: int) -> Route:
    """A live session channel's route: its conversation and its business's visitors."""
    return Route((conversation_topic(conversation_id), visitors_topic(business_id, mode)),
                 key_id=key_id, session_id=session_id)


def business_channel_data(actor_business_id: int, mode: str, key_id: int | None,
                          user_id: int | None, client_id: int | None = None) -> str:
    """What the agent auth endpoint signs into a business subscription (Pusher channel_data)."""
    data = {"business_id": actor_business_id, "mode": mode, "key_id": key_id,
            "user_id": user_id}
    if client_id is not None:  # an OAuth2 access token's client
        data["client_id"] = client_id
    return json.dumps(data, separators=(",", ":"))


def business_channel_route(channel: str, channel_data: str | None) -> Route | None:
    """Route a business channel from its signed channel_data: the mode's feed, the credential."""
    try:
        data = json.loads(channel_data or "")
        if channel != business_channel(int(data["business_id"])):
            return None
        return Route((business_topic(int(data["business_id"]), str(data["mode"])),),
                     key_id=data.get("key_id"), user_id=data.get("user_id"),
                     client_id=data.get("client_id"))
    except (ValueError, TypeError, KeyError):
        return None


def check_channel_auth(form: dict[str, str], own_channel: str) -> tuple[str, str]:
    """Validate socket_id and channel_name; only the credential's own channel is allowed."""
    socket_id = form.get("socket_id", "")
    channel = form.get("channel_name", "")
    if not SOCKET_ID_RE.fullmatch(socket_id):
        raise ValidationError("socket_id is not a Pusher socket id.", field="socket_id")
    if not channel:
        raise ValidationError("channel_name is required.", field="channel_name")
    if channel != own_channel:
        raise Forbidden("This credential may only subscribe to its own channel.")
    return socket_id, channel
