"""Measure what huge socket messages cost a served worker (not a test: a measurement).

    PYTHONPATH=$PWD python -m tests.measure_socket_memory [--sockets 4] [--mib 128]

Starts `chatdock serve` (one gevent worker, SQLite), then on each of --sockets sockets at
once announces one text frame of --mib MiB and streams it in 1 MiB writes until the server
refuses (or all is sent), while sampling the worker's RSS and /healthz latency every 50 ms.
Prints one JSON object: RSS before / peak / after, the slowest /healthz, and per socket the
bytes written before the refusal and the close code received.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request

from tests.conftest import ServedProcess, start_visitor

CHUNK = b"x" * (1 << 20)


def worker_rss_mib(master: int) -> float:
    """Resident memory of the gunicorn workers under the `chatdock serve` process, MiB."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total_kib = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def huge_frame(host: str, port: int, key: str, mib: int, result: dict[str, Any]) -> None:
    """Announce a mib-MiB text frame, stream it until refused; record what happened."""
    sock = socket.create_connection((host, port))
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=f"{host}:{port}", target=f"/app/{key}?protocol=7")))
    while True:
        ws.receive_data(sock.recv(65536))
        if any(isinstance(e, AcceptConnection) for e in ws.events()):
            break
    sent = 0
    try:  # zero mask key: the payload goes as is
        sock.sendall(bytes([0x81, 0x80 | 127]) + (mib << 20).to_bytes(8, "big") + bytes(4))
        while sent < mib << 20:
            sock.sendall(CHUNK)
            sent += len(CHUNK)
    except OSError as error:
        result["send_error"] = type(error).__name__
    result["mib_written"] = round(sent / (1 << 20), 1)
    sock.settimeout(30)
    try:
        while (data := sock.recv(65536)):
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    result["close_code"] = event.code
    except OSError:
        pass
    result.setdefault("close_code", None)
    sock.close()


def measure(sockets: int, mib: int) -> dict[str, Any]:
    """Run the attack against a fresh served process; the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        served = ServedProcess(Path(tmp))
        try:
            key = start_visitor(served.base, served.pk, "measure")["realtime"]["key"]
            time.sleep(1)
            before = worker_rss_mib(served.proc.pid)
            samples: list[tuple[float, float]] = []
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    started = time.perf_counter()
                    httpx.get(f"{served.base}/healthz", timeout=30)
                    latency = time.perf_counter() - started
                    samples.append((worker_rss_mib(served.proc.pid), latency))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            results: list[dict[str, Any]] = [{} for _ in range(sockets)]
            threads = [threading.Thread(target=huge_frame,
                                        args=("127.0.0.1", served.port, key, mib, r))
                       for r in results]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            time.sleep(1)
            done.set()
            sampler.join()
            return {"sockets": sockets, "mib_each": mib, "seconds": round(elapsed, 2),
                    "rss_mib_before": round(before, 1),
                    "rss_mib_peak": round(max(s[0] for s in samples), 1),
                    "rss_mib_after": round(worker_rss_mib(served.proc.pid), 1),
                    "healthz_ms_max": round(1000 * max(s[1] for s in samples), 1),
                    "per_socket": results}
        finally:
            served.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--mib", type=int, default=128)
    args = parser.parse_args()
    print(json.dumps(measure(args.sockets, args.mib), indent=1))


if __name__ == "__main__":
    main()
