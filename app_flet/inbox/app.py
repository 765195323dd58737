"""The agent inbox app: a desktop window or a local web page, like the visitor app.

    chatdock-inbox --server http://127.0.0.1:8000          # desktop window (web without a display)
    chatdock-inbox --server http://127.0.0.1:8000 --web    # http://127.0.0.1:8551

Web mode is served offline and binds 127.0.0.1 unless `--host` says otherwise
(app_flet/launch.py). Each page session gets its own AsyncAgentClient: an agent logs in
with email and password; the token lives in that client only.

With CHATDOCK_TIMING=1 the app writes `chatdock-timing <event> <epoch ms>` lines to stderr:
`main`, `login_done`, `list_shown` (the first list painted) and `badge <ticket_id>
<message_id>` (a row badged or moved after a MessageCreated), for bench/inbox.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app_flet.launch import launch, mark

__all__ = ["DEFAULT_PORT", "build_app", "main", "parse_args"]

DEFAULT_PORT = 8551


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="chatdock-inbox", description="Answer a chatdock business's conversations.")
    parser.add_argument("--server", required=True, help="the chatdock server's base URL")
    parser.add_argument("--web", action="store_true",
                        help="serve the app as a web page instead of opening a window")
    parser.add_argument("--host", default="127.0.0.1", help="web mode: address to bind")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="web mode: port")
    parser.add_argument("--mode", choices=("test", "live"), default="test",
                        help="the business's data to work on (default: test)")
    return parser.parse_args(argv)


def build_app(args: argparse.Namespace) -> Callable[[Any], Awaitable[None]]:
    """The Flet entry point: one client per page session, then the log-in form."""
    import flet as ft

    from app_flet.headless import AsyncAgentClient
    from app_flet.inbox.shell import TITLE, InboxScreen

    async def app(page: ft.Page) -> None:
        mark("main")
        page.title = TITLE
        client = AsyncAgentClient(args.server)
        screen = InboxScreen(client, mode=args.mode)

        async def closed(e: Any) -> None:
            if screen.shell is not None:
                screen.shell.close()
            await client.close()
        page.on_close = closed
        page.padding = 0
        page.add(screen)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the agent inbox (`chatdock-inbox`)."""
    launch(build_app, parse_args(argv), prog="chatdock-inbox")


if __name__ == "__main__":
    main()
