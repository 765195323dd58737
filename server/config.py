"""Configuration: built-in defaults <- config.toml <- CHATDOCK_* environment."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///chatdock.db",
    "SECRET_KEY": "",
    "PUBLIC_URL": "",
    "MAX_JSON_BYTES": 1024 * 1024,
    "MESSAGE_MAX_LENGTH": 8000,
    "MAX_UPLOAD_KB": 5120,
    "UPLOAD_DIR": "",  # default: uploads/ beside the SQLite file (server.storage.upload_dir)
    "UPLOAD_MIME_TYPES": "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
    "ATTACHMENT_URL_SECONDS": 3600,
    "SESSION_IDLE_DAYS": 30,
    "IDENTITY_MAX_AGE_SECONDS": 600,
    "REALTIME_APP_KEY": "",
    "REALTIME_APP_SECRET": "",
    "ACTIVITY_TIMEOUT": 120,
    "PONG_GRACE": 30,
    "WS_COMPRESSION": False,
    "SOCKET_QUEUE_FRAMES": 512,
    "WS_MAX_FRAME_BYTES": 10 * 1024,
    "WS_MAX_CHANNELS": 100,
    "WS_SUBSCRIBES_PER_SECOND": 10.0,
    "TYPING_DEBOUNCE_SECONDS": 3,
    "VISITOR_ONLINE_SECONDS": 90,
    "LOG_LEVEL": "INFO",
    "ACCESS_LOG": True,
    "METRICS_ENABLED": True,
    "REDIS_URL": "",
    "WORKER_CONNECTIONS": 20000,
    "AGENT_TOKEN_HOURS": 12,
    "OAUTH_TOKEN_SECONDS": 3600,
    "RATE_LIMIT_REQUESTS": 300,
    "RATE_LIMIT_WINDOW_SECONDS": 60,
    "LOGIN_FAILURES_PER_ACCOUNT": 10,
    "LOGIN_FAILURES_PER_ADDRESS": 100,
    "LOGIN_FAILURE_WINDOW_SECONDS": 900,
    "PROXY_HOPS": 0,
    "WEBHOOK_RETRY_SECONDS": [60, 300, 1800, 7200, 21600, 86400],
    "WEBHOOK_DISABLE_AFTER": 20,
    "WEBHOOK_ALLOW_PRIVATE": False,
    "WEBHOOK_POLL_SECONDS": 1.0,
    # the answer bot (server/services/bot.py, server/bot_worker.py)
    "BOT_LLM_URL": "",  # an OpenAI-compatible API's base URL: POST {url}/v1/chat/completions
    "BOT_LLM_MODEL": "",
    "BOT_LLM_API_KEY": "",
    "BOT_LLM_TIMEOUT_SECONDS": 10.0,
    "BOT_LEASE_SECONDS": 30.0,  # a claimed job is not claimed again for this long
    "BOT_SWEEP_SECONDS": 30.0,  # how often the inactivity auto-resolve runs
    "BOT_MINUTE_SECONDS": 60.0,  # the length of inactivity_minutes' minute (tests shorten it)
    # the TALKR wire endpoint (server/api/talkr.py, docs/api-talkr.md)
    "TALKR_SESSION_IDLE_MINUTES": 60,
    "TALKR_SPEECH_LANGUAGE": "en-US",
    "TALKR_NO_RESPONSE_SECONDS": 5,
    "TALKR_RETRIES": 2,
    # semantic retrieval (the `semantic` extra; server/services/embeddings.py)
    "KNOWLEDGE_SEMANTIC": True,  # hybrid search when sentence-transformers is installed
    "KNOWLEDGE_EMBEDDING_MODEL": "sentence-transformers/all-MiniLM-L6-v2",  # or a directory
    "KNOWLEDGE_EMBED_POLL_SECONDS": 2.0,  # how often the embedding worker looks for new chunks
}

CONFIG_FILE = Path(__file__).resolve().parent.parent / "config.toml"


def _coerce(raw: str, like: Any) -> Any:
    """Turn an environment string into the type of the default it replaces."""
    if isinstance(like, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, list):  # comma-separated whole numbers: WEBHOOK_RETRY_SECONDS
        return [int(part) for part in raw.split(",") if part.strip()]
    return raw


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the TOML file and CHATDOCK_* variables; overrides win."""
    config = dict(DEFAULTS)
    path = Path(os.environ.get("CHATDOCK_CONFIG", CONFIG_FILE))
    if path.is_file():
        with path.open("rb") as fh:
            config.update({k: v for k, v in tomllib.load(fh).items() if k.isupper()})
    for key, default in DEFAULTS.items():
        raw = os.environ.get(f"CHATDOCK_{key}")
        if raw is not None:
            config[key] = _coerce(raw, default)
    config.update(overrides or {})
    return config
