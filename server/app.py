"""The application factory: config -> extensions -> error handlers -> blueprints."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from server import cors, db, logs
from server.config import load_config
from server.errors import register_error_handlers
from server.models import MAX_ROW_ID
from server.ratelimit import RateLimiter, TypingDebouncer
from server.realtime.broker import make_broker
from server.realtime.hub import Hub
from server.security import (
    agent_token_serializer,
    attachment_url_serializer,
    derive,
    oauth_token_serializer,
)
from server.services import embeddings
from server.storage import DirectoryStorage, upload_dir


def digits_at_most(n: int) -> str:
    """A regex matching exactly the decimal numbers from 0 to n."""
    top = str(n)
    shorter = [rf"\d{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    below = [f"{top[:i]}[0-{int(d) - 1}]" + rf"\d{{{len(top) - i - 1}}}"
             for i, d in enumerate(top) if d != "0"]
    return "(?:" + "|".join([*shorter, *below, top]) + ")"


class _RowId(IntegerConverter):
    """<int:...> in every route stops at the largest row id: a larger one is a 404, not a
    database error. The regex refuses it, not only to_python: Werkzeug answers a converter's
    refusal with 405 when another method's rule on the path was tried first."""

    regex = digits_at_most(MAX_ROW_ID)

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


class _NoCookieSession(SecureCookieSessionInterface):
    """Skip parsing a session cookie on every request: the API is cookie-less."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None


def _hub(app: Flask) -> Hub:
    """The socket hub; with METRICS_ENABLED, metered and the app instrumented (server.metrics)."""
    if not app.config["METRICS_ENABLED"]:
        return Hub()
    from server import metrics  # imports prometheus_client: after `chatdock serve` chose its dir
    return metrics.init_app(app).hub()


def _limiter(app: Flask, limit: str, window: str) -> RateLimiter:
    """A rate limiter from two config keys, shared through Redis when REDIS_URL is set."""
    return RateLimiter(app.config[limit], app.config[window], app.config["REDIS_URL"],
                       app.config["REALTIME_APP_KEY"])


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build a chatdock app; tests pass overrides such as {"DATABASE_URL": ...}."""
    app = Flask(__name__, static_folder=None)  # no static files: an API and a socket
    app.config.update(load_config(overrides))
    # Uploads may be larger than JSON bodies; json_body() enforces MAX_JSON_BYTES itself.
    app.config["MAX_CONTENT_LENGTH"] = max(app.config["MAX_JSON_BYTES"],
                                           app.config["MAX_UPLOAD_KB"] * 1024 + 65536)
    logs.init_app(app)  # JSON lines, request ids, the access log
    embeddings.configure(app.config)  # the `semantic` extra's model and switch

    # Committed events go to whichever broker the app ends up with (below).
    db.init_app(app, lambda *event: app.extensions["broker"].publish(*event))
    secret = app.config["SECRET_KEY"] or db.ensure_secret(app.extensions["db"])
    app.config["SECRET_KEY"] = secret
    app.config["REALTIME_APP_KEY"] = (app.config["REALTIME_APP_KEY"]
                                      or derive(secret, "realtime-app-key")[:20])
    app.config["REALTIME_APP_SECRET"] = (app.config["REALTIME_APP_SECRET"]
                                         or derive(secret, "realtime-app-secret"))
    hub = _hub(app)
    broker = make_broker(hub, app.config["REDIS_URL"], app.config["REALTIME_APP_KEY"])
    app.extensions.update(hub=hub, broker=broker,
                          agent_tokens=agent_token_serializer(secret),
                          oauth_tokens=oauth_token_serializer(secret),
                          attachment_urls=attachment_url_serializer(secret),
                          storage=DirectoryStorage(upload_dir(app.config)),
                          typing=TypingDebouncer(app.config["TYPING_DEBOUNCE_SECONDS"]),
                          rate_limiter=_limiter(app, "RATE_LIMIT_REQUESTS",
                                                "RATE_LIMIT_WINDOW_SECONDS"),
                          login_account_limiter=_limiter(app, "LOGIN_FAILURES_PER_ACCOUNT",
                                                         "LOGIN_FAILURE_WINDOW_SECONDS"),
                          login_address_limiter=_limiter(app, "LOGIN_FAILURES_PER_ADDRESS",
                                                         "LOGIN_FAILURE_WINDOW_SECONDS"))
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    app.session_interface = _NoCookieSession()  # chatdock keeps no Flask session
    register_error_handlers(app)
    cors.init_app(app)  # visitor API: CORS on every response, preflights answered

    app.url_map.converters["int"] = _RowId  # before any route is added
    # No redirect is ever built from the request (its Location would come from the Host
    # header): /api/v1//tickets is a 404; a trailing slash matches as if absent.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    from server.api import (
        agents,
        analytics,
        attachments,
        availability,
        bot,
        branding,
        canned,
        chat,
        contacts,
        docs,
        health,
        identity,
        keys,
        knowledge,
        messages,
        oauth,
        ops,
        talkr,
        tickets,
        webhooks,
        widget,
    )
    from server.api.common import refuse_unstorable_query
    from server.realtime import routes

    app.before_request(refuse_unstorable_query)

    for module in (health, ops, chat, tickets, messages, canned, contacts, keys, identity,
                   branding, agents, webhooks, widget, docs, analytics, oauth, attachments,
                   availability, knowledge, bot, talkr):
        app.register_blueprint(module.bp)
    routes.init_app(app)
    return app
