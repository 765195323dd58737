"""Mount the Pusher socket on the app and keep open sockets honest about revocations.

The broker's subscriber and the revocation/presence watcher are this process's
background work: start_realtime() starts them where the process will serve (gunicorn:
the worker after the fork, since threads and greenlets started before a fork do not
survive it; tests: next to werkzeug's threaded server).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import Flask, current_app, request
from flask_sock import Sock
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import bot_worker, embedding_worker, webhook_worker
from server.channels import (
    BUSINESS_CHANNEL,
    Route,
    business_channel_route,
    visitors_topic_business,
)
from server.db import session_scope
from server.models import ApiKey, ChatSession, OAuthClient, utcnow
from server.realtime import relay
from server.realtime.hub import Hub
from server.realtime.pusher import PusherSession, SocketSettings
from server.services.agents import (
    deactivated_since,
    do_mark_seen,
    logged_out_since,
    online_counts,
)
from server.services.availability import config_blocks
from server.services.chat import do_sweep_offline, session_channel_route

log = logging.getLogger("chatdock.realtime")
sock = Sock()
REVOCATION_POLL_SECONDS = 2.0


@sock.route("/app/<app_key>")
def pusher_socket(ws, app_key: str) -> None:  # type: ignore[no-untyped-def]
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def route(channel: str, channel_data: str | None) -> Route | None:
        if channel.startswith(BUSINESS_CHANNEL):  # signed channel_data says it all
            return business_channel_route(channel, channel_data)
        with session_scope(app) as session:
            return session_channel_route(session, channel)

    # simple-websocket did the handshake; keep only wsproto's post-handshake connection
    # (the h11 handshake state is ~2 KiB a socket). This greenlet reads; writers come and go.
    framing, ws.ws = ws.ws.connection, None
    PusherSession(ws.sock, framing, app.extensions["hub"], app.extensions["socket_settings"],
                  route).run(app_key, request.args.to_dict())
    ws.connected = False  # flask-sock's own close() must not write after ours


class _NoReaderThread:
    """simple-websocket starts a reader thread per socket; the socket's own greenlet reads
    instead (one greenlet per idle socket, not two)."""

    name = "chatdock-socket"

    def __init__(self, target: object = None) -> None:
        pass

    def start(self) -> None:
        pass


def _strip_compression() -> None:
    # simple-websocket always accepts permessage-deflate (~100 KB per socket): refuse the offer.
    if request.path.startswith("/app/") and not current_app.config["WS_COMPRESSION"]:
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


class _Watcher(NamedTuple):
    threads: tuple[threading.Thread, ...]
    stop: threading.Event


def start_realtime(app: Flask) -> bool:
    """Start this process's broker subscriber, revocation/presence watcher, relay reader
    (events committed by socket-less processes: the CLI), webhook deliverer and bot worker,
    once; return whether this call started them."""
    app.extensions["broker"].start()
    with app.extensions["watcher_lock"]:
        if app.extensions.get("watcher") is not None:
            return False
        stop = threading.Event()
        thread = threading.Thread(target=_watch_revocations, args=(app, stop), daemon=True,
                                  name="revocation-watcher")
        thread.start()
        app.extensions["watcher"] = _Watcher((thread, relay.start(app, stop),
                                              webhook_worker.start(app, stop),
                                              bot_worker.start(app, stop),
                                              *embedding_worker.start(app, stop)), stop)
        return True


def stop_realtime(app: Flask) -> None:
    """Stop the watcher and wait for it (a test process serves many apps, one by one)."""
    with app.extensions["watcher_lock"]:
        watcher: _Watcher | None = app.extensions.pop("watcher", None)
    if watcher is not None:
        watcher.stop.set()
        webhook_worker.wake(app)  # its wait ends now, not after WEBHOOK_POLL_SECONDS
        app.extensions["outbox_wake"].set()  # the bot worker sleeps on it
        for thread in watcher.threads:
            thread.join(timeout=REVOCATION_POLL_SECONDS * 5)


class PresenceAnnouncer:
    """Keep connected visitors' "agents online" and business hours true: PresenceUpdated
    {agents_online} and AvailabilityUpdated (/chat/config's availability block) on their
    channels, to every visitor of a business when its value changes (an agent comes or goes;
    the business opens, closes or saves new hours), and to each newly subscribed channel once
    (its /chat/config may be older than the socket). Every process announces to its own
    sockets from the shared database, so nothing goes through the broker."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # event -> business id -> the payload its visitors were told
        self.told: dict[str, dict[int, str]] = {}
        self.known: dict[str, set[str]] = {}  # visitors topic -> channels already told

    def poll(self, session: Session) -> None:
        """Announce changed values to everyone, the current ones to new channels."""
        topics = {t: (b, channels) for t, channels in self.hub.channels_by_topic().items()
                  if (b := visitors_topic_business(t)) is not None}
        businesses = {b for b, _ in topics.values()}
        counts = online_counts(session, businesses)
        hours = config_blocks(session, businesses, utcnow())
        now = {"PresenceUpdated": {b: json.dumps({"agents_online": n})
                                   for b, n in counts.items()},
               "AvailabilityUpdated": {b: json.dumps(block) for b, block in hours.items()}}
        for topic, (business_id, channels) in topics.items():
            new = channels - self.known.get(topic, set())
            for event, payloads in now.items():
                data = payloads[business_id]
                if self.told.get(event, {}).get(business_id, data) != data:
                    self.hub.deliver(topic, event, data)
                    continue
                for channel in new:
                    self.hub.deliver(topic, event, data, only_channel=channel)
        self.told = now
        self.known = {topic: channels for topic, (_, channels) in topics.items()}


def _watch_revocations(app: Flask, stop: threading.Event) -> None:
    """Close sockets whose credential was revoked by any process (the database is the
    truth): a revoked key or OAuth2 client, an erased contact, a deactivated or logged-out
    agent. Keep agents with an open business socket "online" (presence is users.last_seen_at,
    shared by every process), and turn visitors whose sessions went silent offline
    (VisitorOffline, once, by one process)."""
    presence = PresenceAnnouncer(app.extensions["hub"])
    presence_every = 20.0  # well inside the 60 s online window
    hub: Hub = app.extensions["hub"]
    overlap = timedelta(seconds=10)  # clock skew and commit delays between processes
    since = utcnow() - overlap
    marked: set[int] = set()
    marked_at = 0.0
    logouts: dict[int, datetime] = {}  # acted on: the window repeats them, a new login stays
    while not stop.wait(REVOCATION_POLL_SECONDS):
        try:
            agents = hub.agents_here()
            refresh = bool(agents) and (not agents <= marked
                                        or time.monotonic() - marked_at >= presence_every)
            polled_at = utcnow()
            with session_scope(app) as session:
                keys = set(session.scalars(select(ApiKey.id).where(ApiKey.revoked_at >= since)))
                clients = set(session.scalars(select(OAuthClient.id)
                                              .where(OAuthClient.revoked_at >= since)))
                sessions = set(session.scalars(select(ChatSession.id)
                                               .where(ChatSession.revoked_at >= since)))
                users = deactivated_since(session, since)
                seen, logouts = logouts, logged_out_since(session, since)
                users |= {u for u, at in logouts.items() if seen.get(u) != at}
                if refresh:  # at once for a newly connected agent, else every ~20 s
                    do_mark_seen(session, agents)  # an UPDATE statement: runs at once
                presence.poll(session)
                # VisitorOffline is published when this transaction commits
                do_sweep_offline(session, app.config["VISITOR_ONLINE_SECONDS"])
            since = polled_at - overlap  # a sliding window, not everything since start
            if refresh:
                marked, marked_at = agents, time.monotonic()
            if keys or sessions or users or clients:
                hub.kick(keys, sessions, users, clients)
        except Exception:
            log.exception("revocation poll failed")


def init_app(app: Flask) -> None:
    """Register the socket route and its settings."""
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": None,
                                                  "thread_class": _NoReaderThread})
    app.extensions["socket_settings"] = SocketSettings(
        app_key=app.config["REALTIME_APP_KEY"], app_secret=app.config["REALTIME_APP_SECRET"],
        activity_timeout=app.config["ACTIVITY_TIMEOUT"], pong_grace=app.config["PONG_GRACE"],
        queue_frames=app.config["SOCKET_QUEUE_FRAMES"],
        max_message_bytes=app.config["WS_MAX_FRAME_BYTES"],
        max_channels=app.config["WS_MAX_CHANNELS"],
        subscribes_per_second=app.config["WS_SUBSCRIBES_PER_SECOND"])
    app.extensions["watcher_lock"] = threading.Lock()
    app.before_request(_strip_compression)
    sock.init_app(app)
