"""`chatdock serve`: gunicorn with gevent workers, sockets closed with 4200 on shutdown."""

from __future__ import annotations

import resource
from typing import Any

import gevent
from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker as BaseWorker
from gunicorn.workers.ggevent import GeventWorker

from server.realtime.routes import start_realtime

SHUTDOWN_CODE = 4200  # pusher-js reconnects at once on 4200-4299


class Worker(GeventWorker):
    """The gevent worker, plus a graceful goodbye to every open socket."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
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
    }).run()
