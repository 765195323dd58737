"""What every view shares: the JSON body, the envelope, commit + Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.channels import check_channel_auth
from server.db import get_session, pending_events
from server.errors import IdempotencyConflict, InvalidJson, PayloadTooLarge, ValidationError
from server.models import IdempotencyRecord
from server.responses import json_response
from server.security import channel_signature
from server.validation import check_storable

F = TypeVar("F", bound=Callable[..., Any])


def json_body() -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise a contract error."""
    raw = request.get_data(cache=True)
    if len(raw) > current_app.config["MAX_JSON_BYTES"]:
        raise PayloadTooLarge()
    if not raw.strip():
        return {}
    try:
        # decoded strictly first: json.loads(bytes) lets a raw lone surrogate (ED A0 80) in
        body = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson() from None
    except RecursionError:  # valid JSON nested deeper than the parser's stack
        raise InvalidJson("The body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise InvalidJson("The body must be a JSON object.")
    if b"\\u" in raw:  # only a \u escape can spell NUL or a lone surrogate in JSON
        check_storable(body, "")
    return body


def refuse_unstorable_query() -> None:
    """Before every view: the query string's names and values must be storable text."""
    for name, value in request.args.items(multi=True):
        check_storable(name, "query")
        check_storable(value, name)


OK: dict[str, Any] = {"ok": True}  # the bare answer of an action with nothing to show


def envelope(data: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The {"data": ..., "meta"?: ...} body of every answer that carries data."""
    body: dict[str, Any] = {"data": data}
    if meta is not None:
        body["meta"] = meta
    return body


def ok(data: Any, status: int = 200, meta: dict[str, Any] | None = None) -> Response:
    """Answer with data in the envelope (a read: nothing to commit)."""
    return json_response(envelope(data, meta), status)


def idempotent(view: F) -> F:
    """Replay the first response for a repeated Idempotency-Key (Stripe's rule).

    Wrap inside the auth decorator: the key is scoped to the credential.
    """
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _idempotency_key():
            return view(*args, **kwargs)
        return replay_for(request.get_data(cache=True)) or view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 255:
        raise ValidationError("Idempotency-Key is longer than 255 characters.",
                              field="Idempotency-Key")
    return key


def replay_for(content: bytes) -> Response | None:
    """With an Idempotency-Key: remember it for this request's commit and return the first
    answer when the key was used before (422 if with other content). `content` identifies
    the request beside its method and path: the body, or for an upload, which is never held
    in memory, what the view read from it (idempotent does this for a JSON body)."""
    key = _idempotency_key()
    if not key:
        return None
    fingerprint = hashlib.sha256(request.method.encode() + request.path.encode()
                                 + b"\0" + content).hexdigest()
    g.idempotency = (g.credential, key, fingerprint)
    return _replay(g.idempotency)


def _replay(ident: tuple[str, str, str]) -> Response | None:
    credential, key, fingerprint = ident
    record = get_session().scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.credential == credential, IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    # The first attempt's worker may have died after its commit, before publishing: publish
    # its events again (clients deduplicate by id; a second copy changes nothing).
    for topics, name, payload in json.loads(record.events or "[]"):
        current_app.extensions["broker"].publish(topics, name, payload)
    resp = json_response(json.loads(record.body), record.status)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def commit_ok(data: Any, status: int = 200, meta: dict[str, Any] | None = None) -> Response:
    """Commit the request's writes and answer with data in the envelope."""
    return commit_answer(envelope(data, meta), status)


def commit_answer(body: dict[str, Any], status: int = 200) -> Response:
    """Commit the request's writes (with its idempotency record) and answer with body: the
    one place a request commits, so events are published and replays recorded alike."""
    session = get_session()
    ident = g.get("idempotency")
    if ident:
        session.add(IdempotencyRecord(credential=ident[0], key=ident[1], fingerprint=ident[2],
                                      status=status, body=json.dumps(body),
                                      events=json.dumps(pending_events(session))))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer what it answered.
        session.rollback()
        replay = _replay(ident) if ident else None
        if replay is None:
            raise
        return replay
    return json_response(body, status)


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
    return json_response(body)


def ok_page(rows: list[Any], total: int, page: int, per_page: int) -> Response:
    """A page of a list with meta {total, page, per_page}."""
    return ok(rows, meta={"total": total, "page": page, "per_page": per_page})
