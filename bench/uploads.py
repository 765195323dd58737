"""uploads: 5 MB attachment upload latency, and the server's RSS growth during concurrent ones.

    python -m bench.uploads --uploads 50 --concurrency 20
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.lib import (
    Http,
    Server,
    Visitor,
    base_parser,
    headers,
    http_client,
    latency_columns,
    machine,
    outcome,
    print_table,
    start_visitor,
    stop_and_clean,
    write_json,
)
from bench.lib import run as run_loop

# A PNG's signature and IHDR chunk, then noise: sniffed as image/png, incompressible.
PNG_HEAD = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
            b"\x00\x00\x00\x1f\x15\xc4\x89")
SAMPLE_SECONDS = 0.02


def payload(size_kb: int) -> bytes:
    return PNG_HEAD + os.urandom(size_kb * 1024 - len(PNG_HEAD))


def upload(http: Http, pk: str, visitor: Visitor, content: bytes) -> Any:
    started = visitor.started
    return http.post_file(f"/api/v1/chat/sessions/{started['conversation_id']}/attachments",
                          "file", "bench.png", content,
                          headers=headers(pk, started["session_token"]))


async def latency(http: Http, server: Server, content: bytes, uploads: int) -> dict[str, Any]:
    """`uploads` uploads one after another by one visitor: latency columns and errors."""
    visitor = await start_visitor(http, server.pk, "upload-latency")
    samples, errors = [], 0
    for _ in range(uploads):
        ms, label = await outcome(upload(http, server.pk, visitor, content))
        samples.append(ms)
        errors += label != "201"
    return {"scenario": f"sequential x{uploads}", **latency_columns(samples), "errors": errors}


async def concurrent_rss(http: Http, server: Server, content: bytes,
                         concurrency: int) -> dict[str, Any]:
    """`concurrency` visitors upload at once; the worker's RSS sampled throughout."""
    visitors = [await start_visitor(http, server.pk, f"upload-{n}") for n in range(concurrency)]
    before = server.rss_bytes()
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_bytes())
            await asyncio.sleep(SAMPLE_SECONDS)
    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(outcome(upload(http, server.pk, v, content))
                                     for v in visitors))
    done.set()
    await sampler
    after = server.rss_bytes()
    return {"scenario": f"{concurrency} concurrent", **latency_columns([ms for ms, _ in results]),
            "errors": sum(label != "201" for _, label in results),
            "rss_before_mib": round(before / 2**20, 1),
            "rss_peak_growth_mib": round((peak - before) / 2**20, 1),
            "rss_after_growth_mib": round((after - before) / 2**20, 1)}


async def measure(server: Server, size_kb: int, uploads: int,
                  concurrency: int) -> list[dict[str, Any]]:
    content = payload(size_kb)
    async with http_client(server, concurrency, timeout=300) as http:
        return [await latency(http, server, content, uploads),
                await concurrent_rss(http, server, content, concurrency)]


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--size-kb", type=int, default=5120, help="each upload's size")
    parser.add_argument("--uploads", type=int, default=50, help="sequential uploads timed")
    parser.add_argument("--concurrency", type=int, default=20, help="uploads at once")
    args = parser.parse_args()
    server = Server(env={"CHATDOCK_MAX_UPLOAD_KB": str(max(args.size_kb, 1))})
    try:
        rows = run_loop(measure(server, args.size_kb, args.uploads, args.concurrency))
    finally:
        stop_and_clean(server)
    title = f"uploads of {args.size_kb} KB (one gevent worker, SQLite, files beside it)"
    print_table(f"{title}: latency", rows[:1])
    print_table(f"{title}: concurrent, with the worker's RSS", rows[1:])
    write_json(args.json, {"machine": machine(), "size_kb": args.size_kb, "rows": rows})


if __name__ == "__main__":
    main()
