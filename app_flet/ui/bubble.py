"""One message: the visitor's on the right in the primary color, agents' and the bot's left."""

from __future__ import annotations

from typing import Any

import flet as ft

from app_flet.ui.attachments import attachment_controls
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import AGENT_BUBBLE, INK, MUTED, Palette

__all__ = ["MessageBubble", "local_time"]

RADIUS, TAIL = 16, 4


def local_time(message: Any, strings: ChatStrings) -> str:
    """The message's time of day on this machine's clock."""
    return str(message.created_at.astimezone().strftime(strings.time_format))


class MessageBubble(ft.Row):
    """A message as plain text (markdown and HTML show literally, never rendered), its
    images inline and its other files as links."""

    def __init__(self, message: Any, palette: Palette, strings: ChatStrings) -> None:
        mine = bool(message.from_visitor)
        super().__init__(key=f"msg-{message.id}",
                         alignment=ft.MainAxisAlignment.END if mine else ft.MainAxisAlignment.START,
                         vertical_alignment=ft.CrossAxisAlignment.END)
        self.message, self.mine = message, mine
        sender = getattr(message, "sender", None)
        self.sender = ft.Text(getattr(sender, "name", None) or "", size=11,
                              weight=ft.FontWeight.W_600, color=MUTED,
                              visible=not mine and bool(getattr(sender, "name", None)))
        self.text = ft.Text(message.content or "", key=f"msg-{message.id}-text", size=14,
                            visible=bool(message.content))
        self.attachments = attachment_controls(message)
        self.time = ft.Text(local_time(message, strings), key=f"msg-{message.id}-time", size=10)
        corners = (ft.BorderRadius.only(top_left=RADIUS, top_right=RADIUS,
                                        bottom_left=RADIUS, bottom_right=TAIL) if mine else
                   ft.BorderRadius.only(top_left=RADIUS, top_right=RADIUS,
                                        bottom_left=TAIL, bottom_right=RADIUS))
        self.box = ft.Container(
            ft.Column([self.sender, self.text, *self.attachments, self.time], spacing=2,
                      tight=True,
                      horizontal_alignment=(ft.CrossAxisAlignment.END if mine
                                            else ft.CrossAxisAlignment.START)),
            key=f"msg-{message.id}-bubble", border_radius=corners,
            padding=ft.Padding.symmetric(horizontal=14, vertical=8),
            # Flutter's Flexible(fit: loose): wrap long text, shrink short text to fit
            expand=True, expand_loose=True)
        gutter = ft.Container(width=48)
        self.controls = [gutter, self.box] if mine else [self.box, gutter]
        self.paint(palette)

    def paint(self, palette: Palette) -> None:
        """Recolor: visitor bubbles take the primary color and its readable text color."""
        bg = palette.primary if self.mine else AGENT_BUBBLE
        fg = palette.on_primary if self.mine else INK
        self.box.bgcolor, self.text.color = bg, fg
        self.time.color = fg if self.mine else MUTED
        self.time.opacity = 0.75 if self.mine else 1.0
        for control in self.attachments:  # a file's name takes the text color too
            if isinstance(control, ft.TextButton):
                control.icon_color = fg
                if isinstance(control.content, ft.Text):
                    control.content.color = fg
