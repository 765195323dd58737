"""observability: CPU per request of /metrics instrumentation and the access log, on and off.

    python -m bench.observability --requests 2000 --rounds 5

In-process (Flask's test client, no sockets), so the figure is the server's own work per
request and barely moves with the machine's load, unlike end-to-end latencies. Metric values
go to memory-mapped files as under `chatdock serve` (PROMETHEUS_MULTIPROC_DIR, set before
create_app imports prometheus_client); access lines go to /dev/null.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from bench.lib import base_parser, headers, machine, print_table, write_json
from server import create_app
from server.db import session_scope
from server.services.keys import do_create_business, do_create_key

CONFIGS = [(True, True), (True, False), (False, True), (False, False)]


def _app(metrics: bool, access: bool, tmp: str) -> tuple[Any, dict[str, str], str]:
    """An app on a fresh SQLite file, its secret key and one conversation's reply path."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/obs-{metrics}-{access}.db",
                      "METRICS_ENABLED": metrics, "ACCESS_LOG": access,
                      "RATE_LIMIT_REQUESTS": 0})
    with session_scope(app) as session:
        business, _ = do_create_business(session, f"Bench {metrics} {access}",
                                         f"owner-{metrics}-{access}@bench.test")
        _pk, pk = do_create_key(session, business, "publishable", "test")
        _sk, sk = do_create_key(session, business, "secret", "test")
    client = app.test_client()
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "bench"},
                          headers=headers(pk)).get_json()["data"]
    return client, headers(sk), f"/api/v1/tickets/{started['conversation_id']}/messages"


def _cpu_us(call: Any, requests: int) -> float:
    began = time.process_time()
    for _ in range(requests):
        call()
    return (time.process_time() - began) / requests * 1e6


def measure(requests: int, rounds: int, tmp: str) -> list[dict[str, Any]]:
    """Median CPU microseconds per request of each configuration, rounds interleaved."""
    apps = {cfg: _app(*cfg, tmp) for cfg in CONFIGS}
    reply: dict[Any, list[float]] = {cfg: [] for cfg in CONFIGS}
    health: dict[Any, list[float]] = {cfg: [] for cfg in CONFIGS}
    for _ in range(rounds):
        for cfg, (client, sk, path) in apps.items():
            reply[cfg].append(_cpu_us(lambda c=client, s=sk, p=path: c.post(
                p, json={"content": "hello"}, headers=s), requests))
            health[cfg].append(_cpu_us(lambda c=client: c.get("/healthz"), requests))
    return [{"metrics": m, "access_log": a, "requests": requests * rounds,
             "reply_cpu_us": round(statistics.median(reply[(m, a)]), 1),
             "healthz_cpu_us": round(statistics.median(health[(m, a)]), 1)}
            for m, a in CONFIGS]


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--requests", type=int, default=2000, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="chatdock-bench-obs-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    # before the first create_app imports prometheus_client (server.metrics)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=tmp)
    sys.stderr = open(os.devnull, "w")  # where the access lines go
    rows = measure(args.requests, args.rounds, tmp)
    print_table(f"observability ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
