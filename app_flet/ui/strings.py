"""Every user-facing string of the drop-in chat screen, English by default.

The first group is the Tickki Flutter SDK's `TickkiChatStrings` set; the second is
what chatdock's screen adds. Override any subset for localization:

    ChatStrings(title="Discutez avec nous", send="Envoyer")
    dataclasses.replace(ChatStrings(), send="Envoyer")
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChatStrings"]


@dataclass(frozen=True, slots=True)
class ChatStrings:
    # the SDK's set
    title: str = "Chat with us"
    online: str = "Online"
    offline: str = "We'll get back to you"
    input_placeholder: str = "Type a message…"
    send: str = "Send"
    pre_chat_title: str = "Before we start"
    pre_chat_subtitle: str = "Tell us a bit about you so we can help."
    pre_chat_name: str = "Name"
    pre_chat_email: str = "Email"
    pre_chat_submit: str = "Start chat"
    error_generic: str = "Something went wrong. Please try again."
    error_rate_limited: str = "Too many messages too fast — slow down a bit and retry."
    error_no_connection: str = "Can't reach the chat server. Check your connection."
    empty_history: str = "Start the conversation. An agent will reply soon."
    typing_indicator: str = "Agent is typing…"
    # chatdock's additions
    typing_indicator_named: str = "{name} is typing…"
    connecting: str = "Connecting…"
    reconnecting: str = "Reconnecting…"
    try_again: str = "Try again"
    close: str = "Close chat"
    today: str = "Today"
    yesterday: str = "Yesterday"
    day_format: str = "%A, %d %B %Y"
    time_format: str = "%H:%M"
    welcome_fallback: str = "Hi! How can we help you today?"
    pre_chat_email_invalid: str = "Enter a valid email address."
    message_too_long: str = "This message is too long ({length} of {limit} characters)."
    loading: str = "Loading…"
    # the rating card (CSAT), shown once the conversation is resolved
    rating_title: str = "How did we do?"
    rating_star: str = "{n} of 5"
    rating_comment: str = "Comment (optional)"
    rating_submit: str = "Send rating"
    rating_thanks: str = "Thank you for your rating!"
    attach: str = "Attach a file"
    uploading: str = "Uploading {name}…"
    file_too_large: str = "{name} is too large (at most {limit} KB)."
    # outside business hours (the away banner)
    away_back: str = "We're away — back at {time}"
    away_closed: str = "We're away"
    away_day_time_format: str = "%a %H:%M"
    away_ask: str = "Leave your email and we'll reply there."
    away_email: str = "Email"
    away_save: str = "Save"
    away_thanks: str = "Thanks! We'll reply to {email}."
