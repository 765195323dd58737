"""chatdock's headless Python client (never imports flet).

    from app_flet.headless import ChatClient, MessageCreated

    with ChatClient("pk_test_...", "http://localhost:8000") as client:
        session = client.start_session("visitor-42")
        session.on(lambda event: print(event))
        session.send("Hello!")

    from app_flet.headless import AgentClient, MessageCreated

    with AgentClient("http://localhost:8000") as agent:    # the inbox's side
        agent.login("ann@acme.test", "password")
        agent.on(lambda event: print(event))

See docs/client.md for the async flavours, events, errors, reconnect and threading.
"""

from app_flet.headless.agent import AgentClient, AsyncAgentClient
from app_flet.headless.agent_models import (
    Agent,
    AgentContact,
    AgentEvent,
    AnalyticsEvent,
    AnalyticsPage,
    ApiKey,
    AvailabilitySettings,
    BrandingSettings,
    CannedResponse,
    ContactUpdated,
    Customer,
    Invite,
    Me,
    MintedKey,
    Ticket,
    TicketCreated,
    TicketDetail,
    TicketPage,
    TicketRating,
    TicketUpdated,
    VisitorOffline,
    VisitorOnline,
    VisitorTyping,
)
from app_flet.headless.aio import AsyncChatClient, AsyncChatSession
from app_flet.headless.analytics import AnalyticsOptions
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
    Availability,
    AvailabilityUpdated,
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
    Rating,
    RatingStatus,
    RealtimeConfig,
    Sender,
    SessionDetails,
    TypingStarted,
)
from app_flet.headless.realtime import RealtimeOptions

__version__ = VERSION

__all__ = [
    "AUTH_CODES", "Agent", "AgentClient", "AgentContact", "AgentEvent", "AnalyticsEvent",
    "AnalyticsOptions", "AnalyticsPage", "ApiKey",
    "AsyncAgentClient", "AsyncChatClient", "AsyncChatSession", "Attachment", "AuthError",
    "Availability", "AvailabilitySettings", "AvailabilityUpdated",
    "Branding", "BrandingSettings", "BrandingUpdated", "Business", "CannedResponse",
    "ChatClient", "ChatConfig", "ChatConnectionError", "ChatError", "ChatMessage",
    "ChatSession", "ConflictError", "ConnectionChanged", "ConnectionState", "Contact",
    "ContactUpdated", "ConversationUpdated", "Customer", "Event", "Features",
    "ForbiddenError", "Invite", "Limits", "Me", "MessageCreated", "MessagePage", "MintedKey",
    "NotFoundError", "PayloadTooLargeError", "PresenceUpdated", "ProtocolError",
    "RateLimitedError", "Rating", "RatingStatus", "RealtimeConfig", "RealtimeOptions",
    "Sender", "ServerError", "SessionDetails", "Ticket", "TicketCreated", "TicketDetail",
    "TicketPage", "TicketRating", "TicketUpdated", "TypingStarted", "ValidationError",
    "VisitorOffline", "VisitorOnline", "VisitorTyping", "__version__", "error_from_response",
]
