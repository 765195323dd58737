"""history: visitor history and the agent ticket list with 10k vs 1M stored messages; flat?

    python -m bench.history --sizes 10000,1000000 --requests 500
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.lib import (
    Http,
    Reply,
    Server,
    Visitor,
    base_parser,
    get_history,
    headers,
    http_client,
    latency_columns,
    machine,
    outcome,
    post_message,
    print_table,
    start_visitor,
    stop_and_clean,
    write_json,
)
from bench.lib import run as run_loop
from bench.seed import seed

OWN_MESSAGES = 100  # real history of the measured visitor, posted through the API
PAGE = 30


@dataclass
class Target:
    """What the measured calls need: the demo keys and one visitor with real history."""

    pk: str
    sk: str
    visitor: Visitor
    page2_cursor: str


Call = Callable[[Http, Target], Awaitable[Reply]]


def history_page1(http: Http, target: Target) -> Awaitable[Reply]:
    """The newest page of the visitor's history."""
    return get_history(http, target.pk, target.visitor, limit=PAGE)


def history_page2(http: Http, target: Target) -> Awaitable[Reply]:
    """The second page, through the cursor the first page handed out."""
    return get_history(http, target.pk, target.visitor, target.page2_cursor, PAGE)


def ticket_list(http: Http, target: Target) -> Awaitable[Reply]:
    """The agent inbox's first page (secret key): newest tickets, with the total count."""
    return http.get("/api/v1/tickets", params={"per_page": "25"}, headers=headers(target.sk))


# One entry per measured call.
CALLS: dict[str, Call] = {"history page 1": history_page1, "history page 2": history_page2,
                          "ticket list": ticket_list}


async def make_target(http: Http, server: Server) -> Target:
    """Start a new visitor, post its messages through the API, find its second page."""
    visitor = await start_visitor(http, server.pk, "history-visitor")
    for n in range(OWN_MESSAGES):
        (await post_message(http, server.pk, visitor, f"history message {n}")).raise_for_status()
    first = await get_history(http, server.pk, visitor, limit=PAGE)
    first.raise_for_status()
    assert len(first.json()["data"]) == PAGE, first.json()
    return Target(server.pk, server.sk, visitor, first.json()["meta"]["next_cursor"])


async def measure(http: Http, call: Call, target: Target,
                  requests: int) -> dict[str, Any]:
    """Send the call `requests` times one after another; latency columns and errors."""
    samples: list[float] = []
    errors = 0
    for _ in range(requests):
        ms, label = await outcome(call(http, target))
        samples.append(ms)
        errors += label != "200"
    return {**latency_columns(samples), "errors": errors}


async def measure_all(server: Server, requests: int) -> list[dict[str, Any]]:
    """Every call of CALLS against one real visitor and the business's inbox."""
    async with http_client(server, 4) as http:
        target = await make_target(http, server)
        return [{"call": name, **await measure(http, call, target, requests)}
                for name, call in CALLS.items()]


def run_size(size: int, per_conversation: int,
             requests: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fresh server, seed `size` messages, measure; the seed row and the call rows."""
    server = Server()
    try:
        conversations = max(1, size // per_conversation)
        t0 = time.perf_counter()
        seed(server.env["CHATDOCK_DATABASE_URL"], conversations, size)
        seconds = time.perf_counter() - t0
        rows = run_loop(measure_all(server, requests))
        seeded = {"seeded": size, "conversations": conversations, "seed_s": round(seconds, 2),
                  "rows_per_s": round(size / seconds)}
        return seeded, [{"seeded": size, **row} for row in rows]
    finally:
        stop_and_clean(server)


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per call: p50 at the largest size over p50 at the smallest."""
    out = []
    for name in CALLS:
        mine = sorted((r for r in rows if r["call"] == name), key=lambda r: r["seeded"])
        small, large = mine[0], mine[-1]
        out.append({"call": name, "small": small["seeded"], "large": large["seeded"],
                    "small_p50_ms": small["p50_ms"], "large_p50_ms": large["p50_ms"],
                    "ratio_p50": round(large["p50_ms"] / small["p50_ms"], 2)})
    return out


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--sizes", default="10000,1000000", help="seeded messages per run")
    parser.add_argument("--requests", type=int, default=500, help="sequential GETs per call")
    parser.add_argument("--per-conversation", type=int, default=100,
                        help="seeded messages per conversation (1M -> 10k conversations)")
    args = parser.parse_args()
    seeds, rows = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        seeded, measured = run_size(size, args.per_conversation, args.requests)
        seeds.append(seeded)
        rows += measured
    print_table(f"history: seeding ({machine()})", seeds)
    print_table(f"history: {args.requests} sequential GETs per call, limit={PAGE}", rows)
    ratio_rows = ratios(rows)
    print_table("history: large / small", ratio_rows)
    write_json(args.json, {"machine": machine(), "seeding": seeds, "rows": rows,
                           "ratios": ratio_rows})


if __name__ == "__main__":
    main()
