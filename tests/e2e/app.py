"""The Flet apps in subprocesses (web mode), for the end-to-end tests and the app benchmarks."""

from __future__ import annotations

import os
import re
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


def owner_login(banner: str) -> tuple[str, str]:
    """(email, password) of the demo owner, from `chatdock serve`'s start-up banner."""
    found = re.search(r"owner login:\s+(\S+) / (\S+)", banner)
    if found is None:
        raise ValueError(f"no owner login in the banner:\n{banner}")
    return found[1], found[2]


class WebApp:
    """`python -m MODULE ARGS --web --port N` in a subprocess; its output (stdout and stderr,
    where the `chatdock-timing` marks go) kept for failures and benchmarks."""

    def __init__(self, module: str, args: list[str], port: int,
                 env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        # FLET_FORCE_WEB_SERVER: never open a browser tab on a machine that has a display
        env = {**os.environ, "FLET_FORCE_WEB_SERVER": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--web", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_listening(module)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _wait_listening(self, module: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{module} did not serve {self.url}:\n{self.log()}")

    def marks(self, event: str) -> list[tuple[list[str], float]]:
        """Every `chatdock-timing EVENT [FIELDS…] <epoch ms>` line so far: (fields, ms)."""
        found = []
        for line in list(self.output):
            parts = line.split()
            if parts[:2] == ["chatdock-timing", event] and len(parts) >= 3:
                found.append((parts[2:-1], float(parts[-1])))
        return found

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


class VisitorApp(WebApp):
    """`python -m app_flet.visitor --key PK --server URL --web` (chatdock-chat)."""

    def __init__(self, server: Served, port: int, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        super().__init__("app_flet.visitor", ["--key", server.pk, "--server", server.base,
                                              *extra], port, env)


class InboxApp(WebApp):
    """`python -m app_flet.inbox.app --server URL --web` (chatdock-inbox)."""

    def __init__(self, server: Served, port: int, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        super().__init__("app_flet.inbox.app", ["--server", server.base, *extra], port, env)
