"""connections: N idle subscribed sockets; RSS per socket, connect+subscribe time, do they hold.

    python -m bench.connections --steps 1000,2000,5000,10000 --hold 60
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets

from bench.lib import (
    Server,
    base_parser,
    connect_and_subscribe,
    gather_limited,
    http_client,
    machine,
    percentiles,
    print_table,
    raise_fd_limit,
    start_visitor,
    write_json,
)
from bench.lib import run as run_loop

PING_EVERY = 30.0  # what pusher-js and Tickki's SDK do on an idle line


async def _keepalive(ws: Any, stop: asyncio.Event) -> None:
    """Ping like a client and answer the server's pings; any frame keeps us alive."""
    async def pinger() -> None:
        while not stop.is_set():
            await asyncio.sleep(PING_EVERY)
            await ws.send('{"event":"pusher:ping","data":{}}')
    task = asyncio.create_task(pinger())
    try:
        async for raw in ws:
            if json.loads(raw).get("event") == "pusher:ping":
                await ws.send('{"event":"pusher:pong","data":{}}')
    except websockets.ConnectionClosed:
        pass  # counted by the caller: a socket that did not hold is not OPEN
    finally:
        task.cancel()


async def run(steps: list[int], hold: float) -> list[dict[str, Any]]:
    server = Server()
    rows = []
    try:
        async with http_client(server, 64, timeout=120) as http:
            warm = await start_visitor(http, server.pk, "warm-up")
            await connect_and_subscribe(http, server.pk, warm)
            await warm.ws.close()
            crowd: list[Any] = []
            stop = asyncio.Event()
            held_cost = 0
            keepers: list[asyncio.Task[None]] = []
            for target in steps:
                new = await gather_limited([start_visitor(http, server.pk, f"idle-{i}")
                                            for i in range(len(crowd), target)], 32)
                # what holding sockets costs: RSS measured after the sessions exist
                await asyncio.sleep(1)
                before = server.rss_bytes()
                times: list[float] = []

                async def timed(visitor: Any, times: list[float] = times) -> None:
                    t0 = time.perf_counter()
                    await connect_and_subscribe(http, server.pk, visitor)
                    times.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await gather_limited([timed(v) for v in new], 32)
                wall = time.perf_counter() - t0
                crowd.extend(new)
                keepers += [asyncio.create_task(_keepalive(v.ws, stop)) for v in new]
                await asyncio.sleep(2)
                rss = server.rss_bytes()
                held_cost += rss - before
                rows.append({"sockets": target, "rss_mib": round(rss / 2**20, 1),
                             "kib_per_socket": round(held_cost / target / 1024, 1),
                             "connect_sub_p50_ms": round(percentiles(times)["p50"], 2),
                             "wall_per_socket_ms": round(wall * 1000 / len(new), 2),
                             "held": None})
            await asyncio.sleep(hold)
            open_now = sum(1 for v in crowd if v.ws.state.name == "OPEN")
            rows[-1]["held"] = f"{open_now}/{len(crowd)} after {hold:.0f}s"
            stop.set()
            for task in keepers:
                task.cancel()
            await gather_limited([v.ws.close() for v in crowd], 256)
        return rows
    finally:
        server.stop()


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--steps", default="1000,2000,5000,10000")
    parser.add_argument("--hold", type=float, default=60)
    args = parser.parse_args()
    raise_fd_limit()
    rows = run_loop(run([int(s) for s in args.steps.split(",")], args.hold))
    print_table(f"connections ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
