"""sessions: session starts/s and latency with one publishable key (argon2_ms: a password check).

    python -m bench.sessions --concurrency 16 --seconds 10
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from bench.lib import (
    Http,
    Reply,
    Server,
    base_parser,
    closed_loop,
    http_client,
    machine,
    post_session,
    print_table,
    raise_fd_limit,
    stop_and_clean,
    timed,
    usage_columns,
    write_json,
)
from bench.lib import run as run_loop
from server.security import hash_secret, verify_secret


def argon2_verify_ms() -> float:
    """What one argon2 verify of a key costs with the server's parameters, in this process."""
    stored = hash_secret("pk_test_reference")
    t0 = time.perf_counter()
    verify_secret(stored, "pk_test_reference")
    return (time.perf_counter() - t0) * 1000


async def one_start(http: Http, pk: str, visitor_id: str) -> float:
    """Milliseconds for one session start, which must succeed."""
    ms, resp = await timed(post_session(http, pk, visitor_id))
    resp.raise_for_status()
    return ms


async def run(concurrency: int, seconds: float) -> dict[str, Any]:
    """Time the cold first start, a second start, then C closed loops of new visitors."""
    server = Server()
    try:
        async with http_client(server, concurrency) as http:
            cold = await one_start(http, server.pk, "cold-first")
            second = await one_start(http, server.pk, "warm-second")
            cpu0 = server.cpu_seconds()

            def start(worker: int, seq: int) -> Awaitable[Reply]:
                return post_session(http, server.pk, f"s{worker}-{seq}")
            result = await closed_loop(start, concurrency, seconds)
        return {"concurrency": concurrency, "first_ms": round(cold, 2),
                "second_ms": round(second, 2), "argon2_ms": round(argon2_verify_ms(), 2),
                **result.columns(201, "starts_per_s"), **usage_columns(server, cpu0)}
    finally:
        stop_and_clean(server)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    raise_fd_limit()
    rows = [run_loop(run(args.concurrency, args.seconds))]
    print_table(f"sessions ({machine()})", rows)
    print("first_ms: the process's first request (cold key: the one argon2 verify, plus the "
          "first database connection);\nargon2_ms: one verify measured here for reference; "
          "a steady p50 well below it means the verified key is cached.")
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
