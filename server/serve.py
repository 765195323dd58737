"""`chatdock serve`: gunicorn with gevent workers, sockets closed with 4200 on shutdown.

Every line on stderr is JSON (server.logs); with METRICS_ENABLED the workers share a fresh
PROMETHEUS_MULTIPROC_DIR, so /metrics answers for all of them.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import sys
import tempfile
from typing import Any

import gevent
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.base import Worker as BaseWorker
from gunicorn.workers.ggevent import GeventWorker

from server import logs
from server.errors import server_error_body
from server.realtime.routes import start_realtime

SHUTDOWN_CODE = 4200  # pusher-js reconnects at once on 4200-4299


class _JsonErrorPage:
    """A client socket whose one write, gunicorn's own error page (a bad request line, a
    414, a 431: the app never saw the request), goes out as the contract's JSON instead
    of HTML. gunicorn still picks the status and logs; only the body changes."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        """Rewrite the HTML page gunicorn wrote (status line kept) as JSON."""
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        _, status, reason = (status_line.split(" ", 2) + ["", ""])[:3]
        body = json.dumps(server_error_body(int(status))).encode()
        self._sock.sendall(
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode("latin-1") + body)


class Worker(GeventWorker):
    """The gevent worker: JSON error pages, and a graceful goodbye to every open socket."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: Exception) -> None:
        """gunicorn's handling (status, log line), with the page in the contract's JSON."""
        super().handle_error(req, _JsonErrorPage(client), addr, exc)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        logs.log_greenlet_errors()
        start_realtime(self.wsgi)  # after the fork: one subscriber and watcher per process

    def _close_sockets(self) -> None:
        hub = self.wsgi.extensions["hub"]
        hub.close_all(SHUTDOWN_CODE, "Server restarting, reconnect")
        gevent.sleep(0.2)  # let the writers flush their close frames

    def handle_exit(self, sig: int, frame: Any) -> None:  # SIGTERM: graceful
        gevent.spawn(self._close_sockets)  # nothing blocking inside a signal handler
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:  # SIGINT / SIGQUIT: fast
        def quit_after_goodbye() -> None:
            self._close_sockets()
            BaseWorker.handle_quit(self, sig, frame)
        gevent.spawn(quit_after_goodbye)


class Logger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger without its access lines: the app writes its own (ACCESS_LOG), with
    the route and request id (any logconfig_dict would turn gunicorn's on)."""

    def access(self, *args: Any) -> None:
        pass


class Server(BaseApplication):  # type: ignore[misc]
    """Run create_app() under gunicorn, configured in code."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app
        return create_app()


def raise_fd_limit() -> None:
    """Each socket is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def prepare(config: dict[str, Any]) -> None:
    """Before the app is built: JSON stderr, and the metrics directory the workers share."""
    logs.capture_stderr()
    if config["METRICS_ENABLED"]:
        use_multiprocess_dir()


def use_multiprocess_dir() -> str:
    """Point prometheus_client at a fresh directory, removed when this process exits."""
    if "prometheus_client" in sys.modules:  # it reads the variable when it is imported
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR "
                           "was set: each worker would count alone")
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chatdock-metrics-")
    owner = os.getpid()  # forked workers inherit atexit handlers: only the master cleans up

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)
    atexit.register(remove)
    return path


def worker_exited(_arbiter: Any, worker: Any) -> None:
    """gunicorn's child_exit hook: a dead worker's sockets leave the gauges (counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)


def run(host: str, port: int, workers: int, connections: int) -> None:
    """Serve until SIGTERM / SIGINT."""
    raise_fd_limit()
    Server({
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "server.serve.Worker",
        "worker_connections": connections,  # sockets and HTTP connections together
        "graceful_timeout": 5,
        "timeout": 30,
        "keepalive": 5,
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "logger_class": Logger,
        "logconfig_dict": logs.gunicorn_logconfig(),
        "child_exit": worker_exited,
    }).run()
