"""Security primitives: key material, hashing, signatures. Nothing else compares secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import URLSafeTimedSerializer

_ALPHABET = string.ascii_letters + string.digits
KEY_BODY_CHARS = 34  # base62: ~201 random bits in all
LOOKUP_CHARS = 10  # public part of the body; the remaining 24 chars carry ~142 secret bits
KEY_PREFIXES = {("publishable", "test"): "pk_test_", ("publishable", "live"): "pk_live_",
                ("secret", "test"): "sk_test_", ("secret", "live"): "sk_live_"}

hasher = PasswordHasher()
T = TypeVar("T")


def new_api_key(kind: str, mode: str) -> tuple[str, str]:
    """Return (plaintext, lookup prefix) for a new key of this kind and mode."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_CHARS))
    plaintext = KEY_PREFIXES[(kind, mode)] + body
    return plaintext, lookup_prefix(plaintext)


def lookup_prefix(plaintext: str) -> str:
    """Return the non-secret part of a key used to find its row."""
    return plaintext[: len("pk_test_") + LOOKUP_CHARS]


def parse_key(plaintext: str) -> tuple[str, str] | None:
    """Return (kind, mode) when the text has a key's shape, else None."""
    for (kind, mode), prefix in KEY_PREFIXES.items():
        body = plaintext[len(prefix):]
        if plaintext.startswith(prefix) and len(body) == KEY_BODY_CHARS and body.isalnum():
            return kind, mode
    return None


def hash_secret(plaintext: str) -> str:
    """Hash a password (human-chosen, so slow on purpose) with argon2."""
    return hasher.hash(plaintext)


def verify_secret(stored_hash: str, plaintext: str) -> bool:
    """Check a plaintext against its argon2 hash."""
    try:
        return hasher.verify(stored_hash, plaintext)
    except (VerificationError, InvalidHashError):
        return False


def run_cpu(fn: Callable[..., T], *args: object) -> T:
    """Run CPU-bound C code off the gevent loop when under gevent, inline otherwise."""
    try:
        from gevent import get_hub
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - gevent is a dependency
        return fn(*args)
    if is_module_patched("threading"):
        return get_hub().threadpool.apply(fn, args)  # type: ignore[no-any-return]
    return fn(*args)


# API keys carry ~142 secret bits: no guess list exists, so a slow hash only hands a
# guesser a CPU lever. They are stored as a keyed digest with a fixed purpose key (domain
# separation, not a secret): bound to no deployment secret, so changing SECRET_KEY (which
# logs every agent out) never silently revokes every embedded key.
KEY_DIGEST_SCHEME = "hmac-sha256$"
_KEY_DIGEST_KEY = b"chatdock.api-key-digest.v1"


def key_digest(plaintext: str) -> str:
    """The stored form of an API key: 'hmac-sha256$' + hex HMAC-SHA256."""
    mac = hmac.new(_KEY_DIGEST_KEY, plaintext.encode(), hashlib.sha256).hexdigest()
    return KEY_DIGEST_SCHEME + mac


_DUMMY_KEY_DIGEST = key_digest("chatdock-no-such-key")


def is_legacy_key_hash(stored: str) -> bool:
    """Whether a stored key hash is an argon2 hash from chatdock 0.x (rewritten on use)."""
    return not stored.startswith(KEY_DIGEST_SCHEME)


def verify_key(stored: str | None, plaintext: str) -> bool:
    """Check a key against its stored digest in constant time; None (no row with that
    prefix) costs the same comparison against a dummy, so timing does not tell which
    prefixes exist. A legacy argon2 hash is checked with argon2 (once: then rewritten)."""
    if stored is not None and is_legacy_key_hash(stored):
        return run_cpu(verify_secret, stored, plaintext)
    ok = hmac.compare_digest(key_digest(plaintext).encode(),
                             (stored or _DUMMY_KEY_DIGEST).encode())
    return ok and stored is not None


def new_session_token() -> str:
    """Return a fresh visitor session token (256 random bits)."""
    return "cst_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Hash a high-entropy token for storage and lookup (SHA-256 suffices at 256 bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_identity_secret() -> str:
    """Return a fresh identity-verification secret (256 random bits)."""
    return "idv_" + secrets.token_urlsafe(32)


def identity_hash(secret: str, visitor_id: str, identity_ts: int) -> str:
    """hex HMAC-SHA256(secret, "<visitor_id>:<identity_ts>"), as the business's server
    computes it."""
    message = f"{visitor_id}:{identity_ts}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def derive(secret: str, purpose: str) -> str:
    """Derive a stable sub-secret for one purpose from the deployment secret."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


AGENT_TOKEN_PREFIX = "at_"


def agent_token_serializer(secret: str) -> URLSafeTimedSerializer:
    """Signs agent tokens (itsdangerous, its own salt); tokens are 'at_' + the signed payload."""
    return URLSafeTimedSerializer(secret, salt="chatdock.agent-token")


OAUTH_TOKEN_PREFIX = "oat_"


def new_oauth_client() -> tuple[str, str]:
    """Return (client_id, client_secret) for a new OAuth2 client: the id is public, the
    secret (256 random bits) is stored as key_digest() and checked with verify_key()."""
    return "oc_" + secrets.token_hex(12), "ocs_" + secrets.token_urlsafe(32)


def oauth_token_serializer(secret: str) -> URLSafeTimedSerializer:
    """Signs OAuth2 access tokens (its own salt); tokens are 'oat_' + the signed payload."""
    return URLSafeTimedSerializer(secret, salt="chatdock.oauth-token")


def attachment_url_serializer(secret: str) -> URLSafeTimedSerializer:
    """Signs attachment download URLs (its own salt): the token carries the attachment id."""
    return URLSafeTimedSerializer(secret, salt="chatdock.attachment-url")


def channel_signature(app_secret: str, socket_id: str, channel: str,
                      channel_data: str | None = None) -> str:
    """Return Pusher's HMAC for socket_id:channel (plus :channel_data when given)."""
    msg = f"{socket_id}:{channel}".encode()
    if channel_data is not None:
        msg += b":" + channel_data.encode()
    return hmac.new(app_secret.encode(), msg, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
