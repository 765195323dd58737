"""Colors from the business's branding, and a readable text color for each.

Branding colors arrive at run time (GET /chat/config, BrandingUpdated), so nothing
here is a constant theme: `Palette.from_branding` is called on every repaint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_ACCENT", "DEFAULT_PRIMARY", "Palette", "contrast_ratio", "parse_color",
           "readable_on"]

# the SDK's fallbacks for a missing or malformed color
DEFAULT_PRIMARY = "#4F46E5"
DEFAULT_ACCENT = "#111827"
WHITE, INK = "#FFFFFF", "#111827"
SURFACE = "#F8FAFC"          # the chat background
AGENT_BUBBLE = "#FFFFFF"     # agent and bot bubbles
MUTED = "#64748B"            # timestamps, separators, hints
ERROR = "#B91C1C"

_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")


def parse_color(value: str | None, default: str) -> str:
    """Return `#RRGGBB` (upper case) for a `#RRGGBB` string, else `default`."""
    match = _HEX.fullmatch((value or "").strip())
    return f"#{match.group(1).upper()}" if match else default


def _luminance(color: str) -> float:
    """WCAG 2 relative luminance of `#RRGGBB`."""
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(color[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio between two `#RRGGBB` colors (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: str) -> str:
    """White or near-black, whichever contrasts more with `background`."""
    return WHITE if contrast_ratio(background, WHITE) >= contrast_ratio(background, INK) else INK


@dataclass(frozen=True, slots=True)
class Palette:
    """The screen's colors: primary (header, visitor bubbles), accent (send button)."""

    primary: str = DEFAULT_PRIMARY
    on_primary: str = WHITE
    accent: str = DEFAULT_ACCENT
    on_accent: str = WHITE

    @classmethod
    def from_branding(cls, branding: Any | None) -> Palette:
        """Build the palette from a `Branding` (None: the defaults)."""
        primary = parse_color(getattr(branding, "primary_color", None), DEFAULT_PRIMARY)
        accent = parse_color(getattr(branding, "accent_color", None), DEFAULT_ACCENT)
        return cls(primary, readable_on(primary), accent, readable_on(accent))
