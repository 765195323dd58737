"""chatdock's headless Python client (never imports flet).

    from app_flet.headless import ChatClient, MessageCreated

    with ChatClient("pk_test_...", "http://localhost:8000") as client:
        session = client.start_session("visitor-42")
        session.on(lambda event: print(event))
        session.send("Hello!")

See docs/client.md for the async flavour, events, errors, reconnect and threading.
"""

from app_flet.headless.aio import AsyncChatClient, AsyncChatSession
from app_flet.headless.client import VERSION, ChatClient, ChatSession
from app_flet.headless.errors import (
    AUTH_CODES,
    AuthError,
    ChatConnectionError,
    ChatError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    ValidationError,
    error_from_response,
)
from app_flet.headless.models import (
    Attachment,
    Branding,
    BrandingUpdated,
    Business,
    ChatConfig,
    ChatMessage,
    ConnectionChanged,
    ConnectionState,
    Contact,
    ConversationUpdated,
    Event,
    Features,
    Limits,
    MessageCreated,
    MessagePage,
    PresenceUpdated,
    RealtimeConfig,
    Sender,
    SessionDetails,
    TypingStarted,
)
from app_flet.headless.realtime import RealtimeOptions

__version__ = VERSION

__all__ = [
    "AUTH_CODES", "AsyncChatClient", "AsyncChatSession", "Attachment", "AuthError", "Branding",
    "BrandingUpdated", "Business", "ChatClient", "ChatConfig", "ChatConnectionError",
    "ChatError", "ChatMessage", "ChatSession", "ConflictError", "ConnectionChanged",
    "ConnectionState", "Contact", "ConversationUpdated", "Event", "Features", "ForbiddenError",
    "Limits", "MessageCreated", "MessagePage", "NotFoundError", "PayloadTooLargeError",
    "PresenceUpdated", "ProtocolError", "RateLimitedError", "RealtimeConfig", "RealtimeOptions",
    "Sender", "ServerError", "SessionDetails", "TypingStarted", "ValidationError", "__version__",
    "error_from_response",
]
