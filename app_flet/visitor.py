"""The visitor app: the drop-in chat as a desktop window or a local web page.

    chatdock-chat --key pk_test_... --server http://127.0.0.1:8000          # desktop window
    chatdock-chat --key pk_test_... --server http://127.0.0.1:8000 --web    # http://127.0.0.1:8550

Web mode is served offline (Flutter's CanvasKit and fonts from the flet-web wheel, never
a CDN; a script policy keeps every script on the app's own origin, see app_flet/offline.py)
and binds 127.0.0.1 unless `--host` says otherwise. Without a display the app
serves web mode and says so. The visitor id is kept in Flet's shared preferences (the
browser's storage in web mode), so the next run resumes the same conversation.

With CHATDOCK_TIMING=1 the app writes `chatdock-timing <event> <epoch ms>` lines to
stderr (`main`, `start_session`, `session_started`) for `python -m bench.visitor_app`.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app_flet.launch import launch, mark

__all__ = ["PREF_VISITOR_ID", "main", "new_visitor_id", "parse_args"]

PREF_VISITOR_ID = "chatdock.visitor_id"
DEFAULT_PORT = 8550
DEFAULT_TITLE = "Chat"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="chatdock-chat", description="Chat with a chatdock business as a visitor.")
    parser.add_argument("--key", required=True, help="the business's publishable key (pk_...)")
    parser.add_argument("--server", required=True, help="the chatdock server's base URL")
    parser.add_argument("--web", action="store_true",
                        help="serve the app as a web page instead of opening a window")
    parser.add_argument("--host", default="127.0.0.1", help="web mode: address to bind")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="web mode: port")
    parser.add_argument("--visitor-id", help="chat as this visitor (default: the stored one, "
                                             "else a new one that is stored)")
    parser.add_argument("--name", help="the visitor's name, sent when the session starts")
    parser.add_argument("--email", help="the visitor's email, sent when the session starts")
    return parser.parse_args(argv)


def new_visitor_id() -> str:
    """A fresh anonymous visitor id."""
    return f"v_{uuid.uuid4().hex}"


async def resolve_visitor_id(prefs: Any, given: str | None) -> str:
    """`--visitor-id` if given, else the stored id, else a new one (stored for next time)."""
    if given:
        return given
    stored = await prefs.get(PREF_VISITOR_ID)
    if isinstance(stored, str) and stored:
        return stored
    visitor_id = new_visitor_id()
    await prefs.set(PREF_VISITOR_ID, visitor_id)
    return visitor_id


def _timed(client: Any) -> Any:
    """Mark when the chat screen calls start_session and when the session has started."""
    start_session = client.start_session

    async def timed_start_session(*args: Any, **kwargs: Any) -> Any:
        mark("start_session")
        session = await start_session(*args, **kwargs)
        mark("session_started")
        return session
    client.start_session = timed_start_session
    return client


def build_app(args: argparse.Namespace) -> Callable[[Any], Awaitable[None]]:
    """The Flet entry point: one client per page session, then the drop-in chat."""
    import flet as ft

    from app_flet.headless import AsyncChatClient
    from app_flet.ui import ChatWidget

    async def app(page: ft.Page) -> None:
        mark("main")
        page.title = DEFAULT_TITLE
        client = AsyncChatClient(args.key, args.server)
        if os.environ.get("CHATDOCK_TIMING") == "1":  # bench.visitor_app's marks
            client = _timed(client)

        async def closed(e: Any) -> None:
            await client.close()
        page.on_close = closed
        visitor_id = await resolve_visitor_id(ft.SharedPreferences(), args.visitor_id)

        def show() -> None:
            ChatWidget.show(page, client, visitor_id=visitor_id, name=args.name,
                            email=args.email)
        # under the chat's view: what the close button uncovers
        page.add(ft.Column([ft.Text("The chat is closed."),
                            ft.Button(content="Open the chat", key="reopen-chat",
                                      on_click=lambda e: show())],
                           horizontal_alignment=ft.CrossAxisAlignment.CENTER))
        page.vertical_alignment = ft.MainAxisAlignment.CENTER
        page.horizontal_alignment = ft.CrossAxisAlignment.CENTER
        show()
        page.run_task(_title_from_config, page, client)
    return app


async def _title_from_config(page: Any, client: Any) -> None:
    """Name the window (or tab) after the business once its config is known."""
    try:
        config = await client.fetch_config()
    except Exception:  # the chat screen shows the error; the title stays "Chat"
        return
    page.title = config.business.name or DEFAULT_TITLE
    page.update()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the visitor app (`chatdock-chat`)."""
    launch(build_app, parse_args(argv), prog="chatdock-chat")


if __name__ == "__main__":
    main()
