"""What every `chatdock` command shares: its app, and its output (text or --json)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def command_app(*, relay_events: bool = True) -> Any:
    """The app for one command; it holds no sockets, so its events go through the relay."""
    # imported here: `serve` sets up the metrics directory before prometheus_client loads
    from server import create_app
    from server.realtime.relay import write_events_to_relay
    app = create_app()
    if relay_events:
        write_events_to_relay(app.extensions["db"])
    return app


def output(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    """Print data as one JSON object with --json, else the lines for people."""
    if getattr(args, "json", False):
        print(json.dumps(data))
    else:
        print("\n".join(lines))
