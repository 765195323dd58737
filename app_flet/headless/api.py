"""The one HTTP core both clients stand on: an httpx.Client under `/api/v1/`, the request /
call / retry loop, and `parse` (a shape mismatch becomes ProtocolError).

ChatClient (publishable key) and AgentClient (agent token or secret key) subclass ApiClient;
neither has its own request loop.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from app_flet.headless.errors import ChatConnectionError, ChatError, ProtocolError
from app_flet.headless.errors import error_from_response as _error_from_response

__all__ = ["USER_AGENT", "VERSION", "ApiClient", "Uploadable", "parse", "present"]

log = logging.getLogger("chatdock.client")

T = TypeVar("T")

try:
    from importlib.metadata import version as _dist_version

    VERSION = _dist_version("chatdock")
except Exception:  # running from a checkout that is not installed
    VERSION = "0"
USER_AGENT = f"chatdock-python/{VERSION}"


def parse(build: Callable[[Any], T], value: Any) -> T:
    """Build a model, turning a shape mismatch into ProtocolError."""
    try:
        return build(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"Unexpected response shape: {exc!r}") from exc


Uploadable = str | os.PathLike[str] | bytes  # a file's path, or its bytes


@contextmanager
def _file_part(source: Uploadable, file_name: str | None
               ) -> Iterator[tuple[str, IO[bytes] | bytes]]:
    """(name, content) of a multipart file part: a path is opened (and streamed), bytes are
    sent as they are."""
    if isinstance(source, bytes):
        yield file_name or "file", source
        return
    path = Path(source)
    with path.open("rb") as fh:
        yield file_name or path.name, fh


def present(**values: T | None) -> dict[str, T]:
    """The given values that are not None: the optional fields a call actually sends."""
    return {k: v for k, v in values.items() if v is not None}


class ApiClient:
    """An httpx.Client for `base_url + /api/v1/` sending `Authorization: Bearer credential`.

    `transport` replaces the network (e.g. `httpx.WSGITransport(app=flask_app)` in tests).
    """

    def __init__(self, base_url: str, credential: str | None, *, timeout: float,
                 transport: httpx.BaseTransport | None,
                 headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/api/v1/",
                                  headers={"Accept": "application/json",
                                           "User-Agent": USER_AGENT, **(headers or {})},
                                  timeout=timeout, transport=transport)
        self._set_credential(credential)
        self._closed = False

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the HTTP client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._http.close()

    def _set_credential(self, credential: str | None) -> None:
        if credential:
            self._http.headers["Authorization"] = f"Bearer {credential}"
        else:
            self._http.headers.pop("Authorization", None)

    def request(self, method: str, path: str, *, session_token: str | None = None,
                json: Any = None, data: dict[str, str] | None = None,
                params: dict[str, str] | None = None, idempotency_key: str | None = None,
                headers: dict[str, str] | None = None, retries: int = 0,
                files: dict[str, Any] | None = None) -> httpx.Response:
        """Send one request; return the 2xx/304 response or raise the matching ChatError.

        `retries` re-sends after a network failure; only for calls that are safe to
        repeat (reads, or writes carrying an Idempotency-Key).
        """
        if self._closed:
            raise ChatError("The client is closed.", code="client_closed")
        extra = dict(headers or {})
        if session_token is not None:
            extra["X-Tickki-Session"] = session_token
        if idempotency_key is not None:
            extra["Idempotency-Key"] = idempotency_key
        for attempt in range(retries + 1):
            try:
                response = self._http.request(method, path, json=json, data=data,
                                              params=params, headers=extra, files=files)
                break
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise ChatConnectionError(f"{method} {path} failed: {exc!s}") from exc
                log.info("retrying %s %s after a network error: %s", method, path, exc)
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request`, then the JSON body as a dict (ProtocolError when it is not one)."""
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise ProtocolError(f"{method} {path}: the body is not JSON.",
                                status=response.status_code) from exc
        if not isinstance(body, dict):
            raise ProtocolError(f"{method} {path}: the body is not a JSON object.",
                                status=response.status_code)
        return body

    def upload_form(self, path: str, source: Uploadable, file_name: str | None = None, *,
                    session_token: str | None = None, data: dict[str, str] | None = None,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        """POST a multipart form with the file in the field `file` (a path is streamed from
        disk, not read whole); the JSON body. Sent with an Idempotency-Key (a uuid4 unless
        given) and re-sent once after a network failure (httpx rewinds the file): the server
        replays the first answer, so a retry never stores the file twice."""
        with _file_part(source, file_name) as (name, content):
            return self.call("POST", path, session_token=session_token, data=data,
                             files={"file": (name, content, "application/octet-stream")},
                             idempotency_key=idempotency_key or str(uuid.uuid4()), retries=1)

    def authorize_channel(self, auth_endpoint: str, socket_id: str, channel: str,
                          session_token: str | None = None) -> dict[str, str]:
        """Sign a Pusher subscription: the `auth` (and `channel_data`, when the server signed
        one) that `pusher:subscribe` carries."""
        body = self.call("POST", auth_endpoint, session_token=session_token,
                         data={"socket_id": socket_id, "channel_name": channel})
        auth, channel_data = body.get("auth"), body.get("channel_data")
        if not isinstance(auth, str):
            raise ProtocolError("The auth endpoint answered without an auth signature.")
        return {"auth": auth, **({"channel_data": channel_data}
                                 if isinstance(channel_data, str) else {})}
