"""bot: visitor POST -> the bot's answer on the visitor's socket (extractive), one at a time.

The server is `chatdock serve` with a small help centre; each question is POSTed and the
clock stops when the bot's MessageCreated (sender role bot) arrives on the socket, so the
figure holds the job's commit, the worker's wake-up, the claim, TypingStarted, the
knowledge search, the answer's commit and its delivery.

    python -m bench.bot --questions 200
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.lib import (
    Http,
    Server,
    Visitor,
    base_parser,
    connect_and_subscribe,
    headers,
    http_client,
    latency_columns,
    machine,
    post_message,
    print_table,
    start_visitor,
    stop_and_clean,
    write_json,
)
from bench.lib import run as run_loop

DOCUMENTS = {
    "Returns and refunds": "You can return any item within 30 days of delivery. Bring the "
                           "receipt or the order number. Refunds take five working days.",
    "Shipping": "We ship to 40 countries by courier. Parcels arrive in three to five days.",
    "Opening hours": "The shop opens at nine on weekdays and at ten on Saturdays.",
    "Gift wrapping": "Gift wrapping costs two euros per parcel.",
    "Accounts": "Reset your password from the sign-in page with your email address.",
    "Payments": "We take cards, bank transfers and vouchers.",
}
QUESTIONS = ("How many days do I have to return an item?", "How long does shipping take?",
             "When does the shop open on Saturdays?", "How much is gift wrapping?",
             "How do I reset my password?", "Which payments do you take?")


async def help_centre(http: Http, sk: str) -> None:
    """The knowledge the bot answers from, and the bot on."""
    made = await http.post("/api/v1/knowledge/collections", json={"name": "Help"},
                           headers=headers(sk))
    made.raise_for_status()
    path = f"/api/v1/knowledge/collections/{made.json()['data']['id']}/documents"
    for title, text in DOCUMENTS.items():
        (await http.post(path, json={"title": title, "text": text},
                         headers=headers(sk))).raise_for_status()
    (await http.request("PUT", "/api/v1/bot", json_body={"enabled": True, "min_score": 0.01},
                        headers=headers(sk))).raise_for_status()


async def bot_reply(visitor: Visitor) -> tuple[float, bool]:
    """When the bot's next message arrived (perf_counter) and whether it had sources."""
    while True:
        frame = json.loads(await visitor.ws.recv())
        if frame.get("event") == "MessageCreated":
            message = json.loads(frame["data"])
            if message["sender"]["role"] == "bot":
                return time.perf_counter(), bool(message.get("sources"))


async def measure(questions: int, gap_ms: float) -> dict[str, Any]:
    server = Server()
    try:
        async with http_client(server, 2) as http:
            await help_centre(http, server.sk)
            visitor = await start_visitor(http, server.pk, "bench-bot")
            await connect_and_subscribe(http, server.pk, visitor)
            samples, handoffs = [], 0
            for n in range(questions):
                await asyncio.sleep(gap_ms / 1000)
                t0 = time.perf_counter()
                sent = await post_message(http, server.pk, visitor, QUESTIONS[n % len(QUESTIONS)])
                sent.raise_for_status()
                arrived, answered = await asyncio.wait_for(bot_reply(visitor), 30)
                samples.append((arrived - t0) * 1000)
                handoffs += not answered
            await visitor.ws.close()
            return {"questions": questions, "gap_ms": gap_ms, "handoffs": handoffs,
                    **latency_columns(samples)}
    finally:
        stop_and_clean(server)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="idle time between questions")
    args = parser.parse_args()
    rows = [run_loop(measure(args.questions, args.gap_ms))]
    print_table(f"bot answer latency, extractive ({machine()})", rows)
    write_json(args.json, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
