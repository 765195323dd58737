"""What every view shares: the JSON body, the envelope, commit + Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.db import get_session
from server.errors import ApiError, Conflict, ValidationError
from server.models import IdempotencyRecord
from server.security import channel_signature
from server.services.chat import check_channel_auth

F = TypeVar("F", bound=Callable[..., Any])


def json_body() -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise a contract error."""
    raw = request.get_data(cache=True)
    if len(raw) > current_app.config["MAX_JSON_BYTES"]:
        raise ApiError("The request body is too large.", code="payload_too_large", status=413)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # valid JSON nested deeper than the parser's stack
        raise ValidationError("The body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.", code="invalid_json")
    if b"\\u" in raw:  # only a \u escape can spell NUL or a lone surrogate in JSON
        check_storable(body, "")
    return body


# Text no database can hold: NUL (PostgreSQL refuses it in text) and lone UTF-16 surrogates
# (not encodable as UTF-8). JSON spells them as \u escapes, a query string NUL as %00.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_storable(value: Any, field: str) -> None:
    """Refuse (400 naming the field) any string in value that a database cannot store."""
    todo = [(value, field)]
    while todo:  # a loop, not recursion: the body may be nested ~1000 deep
        item, name = todo.pop()
        if isinstance(item, str) and _UNSTORABLE.search(item):
            raise ValidationError(f"{name} holds a character that cannot be stored "
                                  "(NUL or a lone surrogate).", field=name)
        if isinstance(item, dict):
            todo += [(key, name or "body") for key in item]
            todo += [(v, f"{name}.{k}" if name else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            todo += [(v, name) for v in item]


def refuse_unstorable_query() -> None:
    """Before every view: the query string's names and values must be storable text."""
    for name, value in request.args.items(multi=True):
        check_storable(name, "query")
        check_storable(value, name)


def ok(data: Any, status: int = 200, meta: dict[str, Any] | None = None) -> Response:
    """Wrap data in the {"data": ...} envelope."""
    body: dict[str, Any] = {"data": data}
    if meta is not None:
        body["meta"] = meta
    return _json(body, status)


def _json(body: dict[str, Any], status: int) -> Response:
    return current_app.response_class(json.dumps(body), status=status,
                                      mimetype="application/json")


def idempotent(view: F) -> F:
    """Replay the first response for a repeated Idempotency-Key (Stripe's rule).

    Wrap inside the auth decorator: the key is scoped to the credential.
    """
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > 255:
            raise ValidationError("Idempotency-Key is longer than 255 characters.",
                                  field="Idempotency-Key")
        fingerprint = hashlib.sha256(request.method.encode() + request.path.encode()
                                     + b"\0" + request.get_data(cache=True)).hexdigest()
        g.idempotency = (g.credential, key, fingerprint)
        return _replay(g.idempotency) or view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _replay(ident: tuple[str, str, str]) -> Response | None:
    credential, key, fingerprint = ident
    record = get_session().scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.credential == credential, IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise Conflict()
    resp = _json(json.loads(record.body), record.status)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def commit_ok(data: Any, status: int = 200) -> Response:
    """Commit the request's writes (with its idempotency record) and answer."""
    session = get_session()
    body = {"data": data}
    ident = g.get("idempotency")
    if ident:
        session.add(IdempotencyRecord(credential=ident[0], key=ident[1], fingerprint=ident[2],
                                      status=status, body=json.dumps(body)))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer what it answered.
        session.rollback()
        replay = _replay(ident) if ident else None
        if replay is None:
            raise
        return replay
    return _json(body, status)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high], or 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}.", field=name)
    return int(raw)


def page_args(default_per_page: int = 25, max_per_page: int = 100) -> tuple[int, int]:
    """page (from 1) and per_page (1..max) from the query string."""
    return (int_arg("page", 1, 1, 10**9),
            int_arg("per_page", default_per_page, 1, max_per_page))


def choice_arg(name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    """A query parameter that must be one of choices, or 400 naming it."""
    raw = request.args.get(name, default)
    if raw is not None and raw not in choices:
        raise ValidationError(f"{name} must be one of {', '.join(choices)}.", field=name)
    return raw


def pusher_auth(own_channel: str, channel_data: str | None = None) -> Response:
    """Sign a Pusher subscription to the caller's own channel: the bare {"auth"} Pusher wants
    (plus the signed channel_data when there is one), not the data envelope."""
    form = request.form.to_dict() if request.form else json_body()
    socket_id, channel = check_channel_auth({k: str(v) for k, v in form.items()}, own_channel)
    signature = channel_signature(current_app.config["REALTIME_APP_SECRET"], socket_id, channel,
                                  channel_data)
    body = {"auth": f"{current_app.config['REALTIME_APP_KEY']}:{signature}"}
    if channel_data is not None:
        body["channel_data"] = channel_data
    return _json(body, 200)


def ok_page(rows: list[Any], total: int, page: int, per_page: int) -> Response:
    """A page of a list with meta {total, page, per_page}."""
    return ok(rows, meta={"total": total, "page": page, "per_page": per_page})
