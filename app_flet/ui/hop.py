"""Handing a realtime event from the client's event thread to Flet's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["hop"]


def hop(page: Any, loop: asyncio.AbstractEventLoop | None,
        handler: Callable[[Any], Coroutine[Any, Any, None]], event: Any) -> None:
    """Run `handler(event)` on Flet's loop: by `page.run_task` while mounted (thread-safe,
    shared/FLET.md), else on `loop` (a control driven unmounted, as in tests). Does nothing
    once the page's session or the loop is gone: nobody is looking."""
    try:
        if page is not None:
            page.run_task(handler, event)
        elif loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(handler(event), loop)
    except (RuntimeError, AttributeError):
        pass
