"""Logs: one JSON object per line on stderr, each carrying the request id of its request.

Every request gets an id: the client's `X-Request-Id` when it is sane (1-128 characters of
letters, digits and `._:=+/-`), else a new one. It is echoed on every response and added to
every log record written while the request runs. `chatdock serve` also routes gunicorn's own
log (server.serve) and anything else written to stderr (prints, uncaught exceptions in
threads and greenlets, warnings) through the same JSON lines.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TextIO

from flask import Flask, Response, has_request_context, request

log = logging.getLogger("chatdock")
access_log = logging.getLogger("chatdock.access")

HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
_ID_KEY, _START_KEY = "chatdock.request_id", "chatdock.started"
# What every LogRecord carries; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_ENCODER = json.JSONEncoder(default=str)  # one encoder: json.dumps(default=) builds one a call


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: ts, level, logger, msg, pid, request_id, extras, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
            "pid": record.process}
        out.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(out)


class RequestIdFilter(logging.Filter):
    """Stamp the id of the request being handled, if any, on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return request.environ.get(_ID_KEY) if has_request_context() else None


def request_started() -> float:
    """perf_counter() when the current request entered the app."""
    return float(request.environ.get(_START_KEY, time.perf_counter()))


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A stream handler writing JSON lines (stderr by default) with request ids."""
    handler = logging.StreamHandler(stream or _real_stderr())
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def _real_stderr() -> TextIO:
    return getattr(sys.stderr, "raw", sys.stderr)  # past capture_stderr()'s line wrapper


class RequestIdMiddleware:
    """WSGI: pick the request id and start time, echo the id on every response."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        environ[_ID_KEY], environ[_START_KEY] = request_id, time.perf_counter()

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            headers.append((HEADER, request_id))
            return start_response(status, headers, *exc_info)

        return self.app(environ, start)


def _access_line(response: Response) -> Response:
    rule = request.url_rule
    access_log.info("%s %s %s", request.method, request.path, response.status_code, extra={
        "method": request.method, "path": request.path,
        "route": rule.rule if rule is not None else None, "status": response.status_code,
        "duration_ms": round((time.perf_counter() - request_started()) * 1000, 2)})
    return response


def _ensure_json_handler() -> None:
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.addHandler(json_handler())


def init_app(app: Flask) -> None:
    """JSON lines on stderr at LOG_LEVEL, request ids, and the access log when ACCESS_LOG."""
    _ensure_json_handler()
    log.setLevel(app.config["LOG_LEVEL"])
    access_log.setLevel(logging.INFO)  # ACCESS_LOG decides, whatever LOG_LEVEL says
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    if app.config["ACCESS_LOG"]:
        app.after_request(_access_line)


# ---------- `chatdock serve`: gunicorn's log, and stray stderr writes ------------------


def gunicorn_logconfig() -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error log (start, workers, stop) as JSON lines."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "handlers": {"json": {"()": "server.logs.json_handler"}},
        "root": {"level": "WARNING", "handlers": ["json"]},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
                    "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True}},
    }


class _JsonLines:
    """sys.stderr for `chatdock serve`: each line written to it becomes a JSON log line
    (logger "stderr"), so prints and third-party tracebacks never reach the log raw."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        self._partial = ""
        self._lock = threading.Lock()
        self._formatter = JsonFormatter()

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        self._emit(line)
        self.raw.flush()

    def _emit(self, line: str) -> None:
        if line.strip():
            record = logging.LogRecord("stderr", logging.ERROR, "", 0, line.rstrip(), None, None)
            RequestIdFilter().filter(record)
            self.raw.write(self._formatter.format(record) + "\n")
            self.raw.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, isatty, ...
        return getattr(self.raw, name)


def _uncaught(kind: type[BaseException], value: BaseException,
              tb: TracebackType | None) -> None:
    log.critical("uncaught exception", exc_info=(kind, value, tb))


def _uncaught_in_thread(args: Any) -> None:
    name = args.thread.name if args.thread is not None else "?"
    log.error("uncaught exception in thread %s", name,
              exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _unraisable(unraisable: Any) -> None:
    log.error("%s: %r", unraisable.err_msg or "Exception ignored in", unraisable.object,
              exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))


def capture_stderr() -> None:
    """Make every line this process writes to stderr a JSON object (for `chatdock serve`)."""
    if not isinstance(sys.stderr, _JsonLines):
        sys.stderr = _JsonLines(sys.stderr)  # type: ignore[assignment]
    _ensure_json_handler()
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable


def log_greenlet_errors() -> None:
    """gevent prints a failed greenlet's traceback itself: log it as one JSON record."""
    import gevent

    def print_exception(context: Any, kind: Any, value: Any, tb: Any) -> None:
        log.error("greenlet %s failed", context, exc_info=(kind, value, tb))

    gevent.get_hub().print_exception = print_exception
