"""The Flet drop-in chat screen (the Tickki SDK's drop-in widget, in Flet).

    from app_flet.ui import ChatWidget
    ChatWidget.show(page, client, visitor_id="user_8432")

`ChatScreen` is the same chat as a control for your own layout; `ChatStrings` holds
every user-facing string (English defaults, override any subset).
"""

from app_flet.ui.screen import ChatScreen
from app_flet.ui.strings import ChatStrings
from app_flet.ui.widget import ChatWidget

__all__ = ["ChatScreen", "ChatStrings", "ChatWidget"]
