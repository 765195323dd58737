"""fanout: agents reply over HTTP at R msg/s to N subscribed visitors; POST-sent -> socket-received.

    python -m bench.fanout --visitors 1000 --rate 200 --seconds 10
    python -m bench.fanout --sweep              # N in 100, 1000, 5000
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.lib import (
    Server,
    Visitor,
    base_parser,
    connect_and_subscribe,
    gather_limited,
    headers,
    http_client,
    machine,
    percentiles,
    print_table,
    raise_fd_limit,
    start_visitor,
    write_json,
)
from bench.lib import run as run_loop


async def _reader(visitor: Visitor) -> None:
    async for raw in visitor.ws:
        frame = json.loads(raw)
        if frame.get("event") == "MessageCreated":
            visitor.received[json.loads(frame["data"])["content"]] = time.perf_counter()


async def run(visitors: int, rate: int, seconds: float) -> dict[str, Any]:
    server = Server()
    try:
        async with http_client(server, 64, timeout=60) as http:
            crowd = await gather_limited(
                [start_visitor(http, server.pk, f"fan-{i}") for i in range(visitors)], 32)
            await gather_limited([connect_and_subscribe(http, server.pk, v) for v in crowd], 32)
            readers = [asyncio.create_task(_reader(v)) for v in crowd]
            await http.post(f"/api/v1/tickets/{crowd[0].started['conversation_id']}/messages",
                            json={"content": "warm-up"}, headers=headers(server.sk))
            rss0, cpu0 = server.rss_bytes(), server.cpu_seconds()
            sent: dict[str, float] = {}
            post_ms: list[float] = []
            errors = 0

            async def post(seq: int) -> None:
                nonlocal errors
                visitor = crowd[seq % visitors]
                content = f"m{seq}"
                sent[content] = time.perf_counter()
                resp = await http.post(
                    f"/api/v1/tickets/{visitor.started['conversation_id']}/messages",
                    json={"content": content}, headers=headers(server.sk))
                post_ms.append((time.perf_counter() - sent[content]) * 1000)
                if resp.status_code != 201:
                    errors += 1

            total = int(rate * seconds)
            start = time.perf_counter()
            tasks = []
            for seq in range(total):
                delay = start + seq / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(seq)))
            await asyncio.gather(*tasks)
            achieved = total / (time.perf_counter() - start)
            await asyncio.sleep(1.0)  # let the last events arrive
            cpu = server.cpu_seconds() - cpu0
            rss = server.rss_bytes()
            latencies = []
            delivered = 0
            for seq in range(total):
                content = f"m{seq}"
                got = crowd[seq % visitors].received.get(content)
                if got is not None:
                    delivered += 1
                    latencies.append((got - sent[content]) * 1000)
            for task in readers:
                task.cancel()
            for v in crowd:
                await v.ws.close()
        lat = percentiles(latencies)
        return {"visitors": visitors, "rate": rate, "achieved_rate": round(achieved, 1),
                "expected": total, "delivered": delivered, "lost": total - delivered,
                "errors": errors, **{f"{k}_ms": round(v, 2) for k, v in lat.items()},
                "post_p50_ms": round(percentiles(post_ms)["p50"], 2),
                "rss_mib": round(rss / 2**20, 1), "rss_before_mib": round(rss0 / 2**20, 1),
                "cpu_s": round(cpu, 2)}
    finally:
        server.stop()


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sweep", action="store_true", help="N in 100, 1000, 5000")
    args = parser.parse_args()
    raise_fd_limit()
    sizes = [100, 1000, 5000] if args.sweep else [args.visitors]
    rows = [run_loop(run(n, args.rate, args.seconds)) for n in sizes]
    print_table(f"fanout ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
