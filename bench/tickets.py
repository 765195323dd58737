"""tickets: GET /api/v1/tickets latency over 100,000 tickets, per filter, sort and page style.

    python -m bench.tickets --tickets 100000 --requests 100
"""

from __future__ import annotations

import time
from typing import Any

from bench.lib import (
    Http,
    Server,
    base_parser,
    headers,
    http_client,
    latency_columns,
    machine,
    outcome,
    print_table,
    stop_and_clean,
    write_json,
)
from bench.lib import run as run_loop
from bench.seed import seed

QUERIES = {
    "page 1, created_desc": "per_page=25",
    "page 1, updated_desc": "per_page=25&sort=updated_desc",
    "page 1, status=open": "status=open&per_page=25",
    "page 1, status=resolved (none)": "status=resolved&per_page=25",
    "page 1, assigned_to=unassigned": "assigned_to=unassigned&per_page=25",
    "page 400 (offset 9,975)": "page=400&per_page=25",
    "cursor page 2": None,  # filled in from page 1's next_cursor
    "page 1, q=word in every ticket": "q=tracking&per_page=25",
    "page 1, q=word in none (worst)": "q=zebra&per_page=25",
}


async def measure(server: Server, requests: int) -> list[dict[str, Any]]:
    async with http_client(server, 1) as http:
        auth = headers(server.sk)
        first = await http.get("/api/v1/tickets?per_page=25", headers=auth)
        first.raise_for_status()
        total = first.json()["meta"]["total"]
        queries = {**QUERIES, "cursor page 2":
                   f"per_page=25&cursor={first.json()['meta']['next_cursor']}"}
        return [{"call": name, "stored": total, **await timed(http, f"/api/v1/tickets?{q}",
                                                             auth, requests)}
                for name, q in queries.items()]


async def timed(http: Http, path: str, auth: dict[str, str], requests: int) -> dict[str, Any]:
    samples, errors = [], 0
    for _ in range(requests):
        ms, label = await outcome(http.get(path, headers=auth))
        samples.append(ms)
        errors += label != "200"
    return {**latency_columns(samples), "errors": errors}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    server = Server()
    try:
        t0 = time.perf_counter()
        seed(server.env["CHATDOCK_DATABASE_URL"], args.tickets, args.tickets * 2)
        print(f"seeded {args.tickets} tickets, {args.tickets * 2} messages in "
              f"{time.perf_counter() - t0:.1f} s")
        rows = run_loop(measure(server, args.requests))
    finally:
        stop_and_clean(server)
    print_table(f"tickets ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
