"""ingest: K visitors post messages back to back (closed loop) for T seconds; accepted/s, latency.

    python -m bench.ingest --visitors 50 --seconds 10
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from bench.lib import (
    Reply,
    Server,
    base_parser,
    closed_loop,
    gather_limited,
    http_client,
    machine,
    post_message,
    print_table,
    raise_fd_limit,
    start_visitor,
    stop_and_clean,
    usage_columns,
    write_json,
)
from bench.lib import run as run_loop

CONTENT = "Hello, I have a question about my order; it has not arrived yet."  # ~60 chars


async def run(visitors: int, seconds: float) -> dict[str, Any]:
    """Start K sessions, then let each post messages as fast as the server accepts them."""
    server = Server()
    try:
        async with http_client(server, visitors) as http:
            crowd = await gather_limited(
                [start_visitor(http, server.pk, f"ingest-{i}") for i in range(visitors)], 32)
            cpu0 = server.cpu_seconds()

            def send(worker: int, seq: int) -> Awaitable[Reply]:
                return post_message(http, server.pk, crowd[worker], f"{seq} {CONTENT}")
            result = await closed_loop(send, visitors, seconds)
        return {"visitors": visitors, "seconds": round(result.seconds, 2),
                **result.columns(201, "accepted_per_s"), **usage_columns(server, cpu0)}
    finally:
        stop_and_clean(server)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    raise_fd_limit()
    rows = [run_loop(run(args.visitors, args.seconds))]
    print_table(f"ingest ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
