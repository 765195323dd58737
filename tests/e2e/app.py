"""The visitor app in a subprocess, for the end-to-end tests and bench.visitor_app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Protocol

import httpx

from tests.conftest import ROOT


class Served(Protocol):
    """A running `chatdock serve` (tests' ServedProcess, bench's Server)."""

    base: str
    pk: str


class VisitorApp:
    """`python -m app_flet.visitor --web` in a subprocess; its output kept for failures."""

    def __init__(self, server: Served, port: int, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        # FLET_FORCE_WEB_SERVER: never open a browser tab on a machine that has a display
        env = {**os.environ, "FLET_FORCE_WEB_SERVER": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app_flet.visitor", "--key", server.pk, "--server",
             server.base, "--web", "--port", str(port), *extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_listening()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the visitor app did not serve {self.url}:\n{self.log()}")

    def log(self) -> str:
        return "".join(self.output) or "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
