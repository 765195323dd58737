"""What a refused key guess costs the server, and what guessing does to a visitor.

    python -m bench.keyguess [--guesses 400] [--clients 4]

Starts `chatdock serve` (one worker, SQLite) from this checkout and prints:
- server CPU ms per refused guess of a secret key: a real key prefix with a wrong secret,
  and an unknown prefix (the difference is also a timing oracle for which prefixes exist);
- a visitor's `/chat/config` p50 alone, then while `--clients` clients send `--guesses`
  wrong-secret guesses (real prefix) in parallel, and how long the guessing took.
Rate limits are set out of reach (bench.lib.Server) so every guess is checked.
To measure another checkout (e.g. before a change), run this file with that checkout first
on PYTHONPATH: `cd /work/main && PYTHONPATH=$PWD python /path/to/bench/keyguess.py`.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import httpx

from bench.lib import Server

CHAT_CONFIG = "/api/v1/chat/config"
TICKETS = "/api/v1/tickets"


def wrong_secret(key: str) -> str:
    """The same key prefix (the lookup part) with a different secret tail."""
    return key[:-8] + ("A" if key[-8] != "A" else "B") * 8


def unknown_prefix(key: str) -> str:
    """A well-formed key of the same kind whose lookup prefix no row has."""
    return key[:8] + "Z" * (len(key) - 8)


def guess(client: httpx.Client, key: str) -> None:
    status = client.get(TICKETS, headers={"Authorization": f"Bearer {key}"}).status_code
    assert status == 401, status


def cpu_ms_per_guess(server: Server, key: str, n: int) -> float:
    """Server CPU (all worker threads) per refused guess, guesses sent one after another."""
    with httpx.Client(base_url=server.base) as client:
        for _ in range(5):  # warm up
            guess(client, key)
        before = server.cpu_seconds()
        for _ in range(n):
            guess(client, key)
        return (server.cpu_seconds() - before) * 1000 / n


def visitor_p50(server: Server, stop: threading.Event, out: list[float]) -> None:
    """A visitor polling /chat/config; append each latency (ms) until stop."""
    headers = {"Authorization": f"Bearer {server.pk}"}
    with httpx.Client(base_url=server.base) as client:
        while not stop.is_set():
            start = time.perf_counter()
            assert client.get(CHAT_CONFIG, headers=headers).status_code == 200
            out.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)


def guessers(server: Server, clients: int, guesses: int) -> float:
    """`clients` parallel clients sending `guesses` wrong secrets in all; seconds taken."""
    key = wrong_secret(server.sk)

    def run(n: int) -> None:
        with httpx.Client(base_url=server.base, timeout=120) as client:
            for _ in range(n):
                guess(client, key)

    threads = [threading.Thread(target=run, args=(guesses // clients,)) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def p50_with(server: Server, load: float | None, clients: int, guesses: int) -> tuple[float,
                                                                                     float]:
    """The visitor's p50 over `load` seconds idle, or while the guessers run."""
    stop = threading.Event()
    samples: list[float] = []
    visitor = threading.Thread(target=visitor_p50, args=(server, stop, samples))
    visitor.start()
    if load is not None:
        time.sleep(load)
        took = load
    else:
        took = guessers(server, clients, guesses)
    stop.set()
    visitor.join()
    return statistics.median(samples), took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guesses", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cpu-guesses", type=int, default=100)
    args = parser.parse_args()
    server = Server()
    try:
        real = cpu_ms_per_guess(server, wrong_secret(server.sk), args.cpu_guesses)
        unknown = cpu_ms_per_guess(server, unknown_prefix(server.sk), args.cpu_guesses)
        print(f"server CPU per refused guess: real prefix {real:.2f} ms, "
              f"unknown prefix {unknown:.2f} ms ({args.cpu_guesses} guesses each)")
        idle, _ = p50_with(server, 3.0, args.clients, args.guesses)
        loaded, took = p50_with(server, None, args.clients, args.guesses)
        print(f"/chat/config p50: {idle:.1f} ms idle, {loaded:.1f} ms while {args.clients} "
              f"clients sent {args.guesses} wrong-secret guesses (took {took:.1f} s)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
