"""Embed new knowledge chunks (the `semantic` extra): a background thread in every server
process, beside the webhook deliverer and the bot worker.

Each round embeds a batch of chunks lacking the configured model's vector and commits it;
two processes may embed the same batch at once (the same vectors written twice, harmless).
A 1 MB document takes minutes of CPU on a small machine, so this is not done in the request
that uploads it; its chunks rank by full text alone meanwhile."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from server.db import session_scope
from server.services import embeddings

log = logging.getLogger("chatdock.embeddings")


def run(app: Flask, stop: threading.Event) -> None:
    """Embed batches while any chunk needs one, else wait KNOWLEDGE_EMBED_POLL_SECONDS."""
    while not stop.is_set():
        if not embed_round(app):
            stop.wait(app.config["KNOWLEDGE_EMBED_POLL_SECONDS"])


def embed_round(app: Flask) -> int:
    """Embed and commit one batch: how many chunks (0 when none waited or it failed)."""
    try:
        with session_scope(app) as session:
            return embeddings.embed_pending(session)
    except Exception:
        log.exception("embedding round failed")
        return 0


def start(app: Flask, stop: threading.Event) -> tuple[threading.Thread, ...]:
    """Start this process's embedding thread when the extra is on (else none)."""
    if not embeddings.available():
        return ()
    thread = threading.Thread(target=run, args=(app, stop), daemon=True,
                              name="embedding-worker")
    thread.start()
    return (thread,)
