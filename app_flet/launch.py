"""What every chatdock Flet app shares: a window or an offline web page, and timing marks.

`run_app` opens a desktop window where there is a display, else (or with `web`) serves the
app as a local web page, fully offline (app_flet/offline.py), bound to `host`. `mark` writes
`chatdock-timing <event> <epoch ms>` to stderr when CHATDOCK_TIMING=1, for the benchmarks.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from argparse import Namespace
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from app_flet.offline import write_index

__all__ = ["has_display", "launch", "mark", "run_app"]


def has_display(platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> bool:
    """Whether a desktop window can open: always on macOS and Windows, on Linux with X/Wayland."""
    if platform.startswith("linux"):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def mark(event: str) -> None:
    """One timing line for the benchmark (CHATDOCK_TIMING=1), on the shared wall clock."""
    if os.environ.get("CHATDOCK_TIMING") == "1":
        print(f"chatdock-timing {event} {time.time() * 1000:.1f}", file=sys.stderr, flush=True)


def run_app(app: Callable[[Any], Awaitable[None]], *, prog: str, web: bool, host: str,
            port: int) -> None:
    """Run `app` in a window, or as an offline web page when asked or when there is no display."""
    import flet as ft

    serve_web = web or not has_display()
    if not web and serve_web:
        print(f"{prog}: no display; serving web mode on http://{host}:{port}", file=sys.stderr)
    if serve_web:
        with tempfile.TemporaryDirectory(prefix=f"{prog}-") as assets:
            # Flet's page with a script policy: no script from a CDN (app_flet/offline.py)
            ft.run(app, view=ft.AppView.WEB_BROWSER, host=host, port=port,
                   no_cdn=True, assets_dir=assets if write_index(Path(assets)) else None)
    else:
        # host too: should Flet itself fall back to web, it stays on the chosen interface
        ft.run(app, view=ft.AppView.FLET_APP, host=host)


def launch(build_app: Callable[[Namespace], Callable[[Any], Awaitable[None]]],
           args: Namespace, *, prog: str) -> None:
    """A console script's body: say how to install the flet extra when it is missing (not a
    traceback), else run the app built from the parsed arguments (`--web/--host/--port`)."""
    try:
        import flet  # noqa: F401
    except ImportError:
        sys.exit(f'{prog} needs the flet extra: pip install "chatdock[flet]"')
    run_app(build_app(args), prog=prog, web=args.web, host=args.host, port=args.port)
