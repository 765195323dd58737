"""rtt: one agent reply at a time, with idle gaps between them: how much is wake-up latency.

    python -m bench.rtt --gaps 0,2,5,20 --requests 200
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.lib import (
    Server,
    base_parser,
    headers,
    http_client,
    latency_columns,
    machine,
    print_table,
    start_visitor,
    stop_and_clean,
    write_json,
)
from bench.lib import run as run_loop


async def measure(gaps_ms: list[float], requests: int) -> list[dict[str, Any]]:
    server = Server()
    try:
        async with http_client(server, 1) as http:
            visitor = await start_visitor(http, server.pk, "rtt")
            path = f"/api/v1/tickets/{visitor.started['conversation_id']}/messages"
            rows = []
            for gap in gaps_ms:
                samples = []
                for n in range(requests):
                    await asyncio.sleep(gap / 1000)
                    t0 = time.perf_counter()
                    reply = await http.post(path, json={"content": f"rtt {n}"},
                                            headers=headers(server.sk))
                    samples.append((time.perf_counter() - t0) * 1000)
                    reply.raise_for_status()
                rows.append({"gap_ms": gap, "requests": requests, **latency_columns(samples)})
            return rows
    finally:
        stop_and_clean(server)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--gaps", default="0,2,5,20", help="idle milliseconds between requests")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rows = run_loop(measure([float(g) for g in args.gaps.split(",")], args.requests))
    print_table(f"rtt ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
