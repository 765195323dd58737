"""Agents and owners: invite, list, log in, presence, the business channel's auth."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import (
    BusinessSuspended,
    Forbidden,
    InvalidCredentials,
    InvalidInvite,
    InviteExpired,
    NotFound,
    ValidationError,
)
from server.models import Business, User, utcnow
from server.security import hash_secret, hasher, run_cpu, verify_secret
from server.services.keys import MODES
from server.validation import EMAIL_RE, check_required_text, check_text
from server.wire import iso

ROLES = ("agent", "owner")
INVITE_DAYS = 7
AGENT_ONLINE_SECONDS = 60  # a heartbeat or an open business socket within this is "online"
MIN_PASSWORD, MAX_PASSWORD = 10, 1000  # argon2 takes any length; bound the work anyway


# ---------- validation ----------------------------------------------------


def check_email(body: dict[str, Any]) -> str:
    """A required email address, lower-cased (emails are unique per business)."""
    return check_required_text(body, "email", 254, pattern=EMAIL_RE).lower()


def check_password(body: dict[str, Any]) -> str:
    """A password of at least MIN_PASSWORD characters (not stripped: spaces count)."""
    password = body.get("password")
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
                              field="password")
    return password


def check_login_password(body: dict[str, Any]) -> str:
    """Any non-empty password (older ones, e.g. set by `chatdock init`, may be short)."""
    password = body.get("password")
    if not isinstance(password, str) or not 0 < len(password) <= MAX_PASSWORD:
        raise ValidationError("password is required.", field="password")
    return password


def check_mode(body: dict[str, Any]) -> str:
    """test or live (default live: a person logging in works on real customers)."""
    mode = body.get("mode", "live")
    if mode not in MODES:
        raise ValidationError("mode must be test or live.", field="mode")
    return str(mode)


@dataclass(frozen=True)
class NewAgent:
    email: str
    name: str
    role: str
    password: str | None


def check_new_agent(body: dict[str, Any]) -> NewAgent:
    """Validate POST /agents."""
    role = body.get("role", "agent")
    if role not in ROLES:
        raise ValidationError("role must be agent or owner.", field="role")
    email, name = check_email(body), check_text(body, "name", 200) or ""
    password = check_password(body) if body.get("password") is not None else None
    return NewAgent(email, name, str(role), password)


# ---------- agents --------------------------------------------------------


def is_online(user: User, now: datetime | None = None) -> bool:
    """Active and seen (heartbeat or an open business socket) within AGENT_ONLINE_SECONDS."""
    cutoff = (now or utcnow()) - timedelta(seconds=AGENT_ONLINE_SECONDS)
    return (user.deactivated_at is None and user.last_seen_at is not None
            and user.last_seen_at >= cutoff)


def agent_json(user: User) -> dict[str, Any]:
    """An agent as the API shows it (never the password hash)."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "created_at": iso(user.created_at), "online": is_online(user),
            "last_seen_at": iso(user.last_seen_at) if user.last_seen_at else None,
            "invited": user.password_hash is None, "active": user.deactivated_at is None,
            "deactivated_at": iso(user.deactivated_at) if user.deactivated_at else None}


def do_create_agent(session: Session, business_id: int, new: NewAgent) -> User:
    """Add an agent or owner; an email already in the business is a 400 on email."""
    taken = select(User.id).where(User.business_id == business_id, User.email == new.email)
    if session.scalar(taken) is not None:
        raise ValidationError("An agent with this email already exists.", field="email")
    user = User(business_id=business_id, email=new.email, name=new.name, role=new.role,
                password_hash=run_cpu(hash_secret, new.password) if new.password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # a concurrent invite of the same email won
        raise ValidationError("An agent with this email already exists.",
                              field="email") from None
    return user


def list_agents(session: Session, business_id: int, page: int,
                per_page: int) -> tuple[list[User], int]:
    """A page of the business's agents (oldest first) and the total."""
    where = User.business_id == business_id
    total = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = session.scalars(select(User).where(where).order_by(User.id)
                           .limit(per_page).offset((page - 1) * per_page))
    return list(rows), int(total)


def do_heartbeat(session: Session, user_id: int | None) -> None:
    """Mark a logged-in agent as here now (only a person has presence)."""
    if user_id is None:
        raise Forbidden("Only an agent token has presence; a secret key is not a person.")
    session.execute(update(User).where(User.id == user_id).values(last_seen_at=utcnow()))


def online_counts(session: Session, business_ids: set[int]) -> dict[int, int]:
    """How many agents of each business are online now (0 included)."""
    if not business_ids:
        return {}
    cutoff = utcnow() - timedelta(seconds=AGENT_ONLINE_SECONDS)
    rows = session.execute(select(User.business_id, func.count())
                           .where(User.business_id.in_(business_ids), User.last_seen_at >= cutoff,
                                  User.deactivated_at.is_(None))
                           .group_by(User.business_id))
    return {b: 0 for b in business_ids} | {int(b): int(n) for b, n in rows}


def do_mark_seen(session: Session, user_ids: set[int]) -> None:
    """Mark agents with an open business-channel socket as seen now."""
    if user_ids:
        session.execute(update(User).where(User.id.in_(user_ids), User.deactivated_at.is_(None))
                        .values(last_seen_at=utcnow()))


def find_agent(session: Session, business_id: int, email: str) -> User:
    """The business's agent or owner with this (lower-cased) email, or 404."""
    user = session.scalar(select(User).where(User.business_id == business_id,
                                             User.email == email))
    if user is None:
        raise NotFound(f"No agent {email} in this business.")
    return user


def check_active(user: User) -> User:
    """Refuse a deactivated agent as the author of a write."""
    if user.deactivated_at is not None:
        raise ValidationError(f"{user.email} is deactivated.", field="email")
    return user


def do_set_password(session: Session, user: User, password: str) -> User:
    """Set (or reset) an agent's password; a pending invitation is spent with it."""
    user.password_hash = run_cpu(hash_secret, password)
    session.flush()
    return user


def do_deactivate_agent(session: Session, user: User) -> User:
    """Deactivate an agent (once): no login, no token, no presence, no new assignments.

    Its open business sockets are closed by each process's watcher (deactivated_since).
    The business's last active owner stays: someone must be able to manage it.
    """
    if user.deactivated_at is not None:
        return user
    if user.role == "owner":
        owners = session.scalar(select(func.count()).select_from(User).where(
            User.business_id == user.business_id, User.role == "owner",
            User.deactivated_at.is_(None))) or 0
        if owners <= 1:
            raise ValidationError("This is the business's last active owner; add another "
                                  "owner first.", field="email")
    user.deactivated_at = utcnow()
    session.flush()
    return user


def deactivated_since(session: Session, since: datetime) -> set[int]:
    """Agents deactivated at or after since (their sockets must close)."""
    return set(session.scalars(select(User.id).where(User.deactivated_at >= since)))


def logged_out_since(session: Session, since: datetime) -> dict[int, datetime]:
    """Agents who logged out at or after since, and when (their sockets from before close)."""
    rows = session.execute(select(User.id, User.tokens_valid_after)
                           .where(User.tokens_valid_after >= since))
    return {int(user_id): at for user_id, at in rows if at is not None}


def get_agent(session: Session, business_id: int, user_id: int) -> User:
    """The business's agent or owner with this id, or 404 (another business's: as if absent)."""
    user = session.get(User, user_id)
    if user is None or user.business_id != business_id:
        raise NotFound("No such agent in this business.")
    return user


def do_logout(session: Session, user_id: int | None) -> None:
    """Refuse every agent token issued to this agent so far, on every process (the token
    is checked against users.tokens_valid_after); its business sockets close."""
    if user_id is None:
        raise Forbidden("Only an agent token logs out; revoke a secret key with "
                        "DELETE /api/v1/keys/{id}.")
    session.execute(update(User).where(User.id == user_id).values(tokens_valid_after=utcnow()))


def token_revoked(user: User, issued_ms: int) -> bool:
    """Whether a token issued at issued_ms (ms since the epoch) predates the agent's logout."""
    after = user.tokens_valid_after
    return after is not None and issued_ms <= int(after.timestamp() * 1000)


# ---------- invitations ---------------------------------------------------


def invite_serializer(secret: str) -> URLSafeTimedSerializer:
    """Signs invitations (its own salt: an invite is never an agent token, nor the reverse)."""
    return URLSafeTimedSerializer(secret, salt="chatdock.agent-invite")


def invite_token(serializer: URLSafeTimedSerializer, user: User) -> str:
    """A one-time invitation: it works only while the agent has no password."""
    return str(serializer.dumps({"u": user.id, "b": user.business_id}))


def _invited_user(session: Session, serializer: URLSafeTimedSerializer, token: Any) -> User:
    bad = InvalidInvite(field="token")
    if not isinstance(token, str) or not token:
        raise ValidationError("token is required.", field="token")
    try:
        data = serializer.loads(token, max_age=INVITE_DAYS * 86400)
    except SignatureExpired:
        raise InviteExpired(field="token") from None
    except BadSignature:
        raise bad from None
    user = session.get(User, data.get("u")) if isinstance(data, dict) else None
    if (user is None or user.business_id != data.get("b") or user.password_hash is not None
            or user.deactivated_at is not None):
        raise bad
    return user


def do_accept_invite(session: Session, serializer: URLSafeTimedSerializer, token: Any,
                     password: str) -> User:
    """Set the invited agent's password; the invitation is spent."""
    user = _invited_user(session, serializer, token)
    user.password_hash = run_cpu(hash_secret, password)
    session.flush()
    return user


# ---------- login ---------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    return hash_secret("chatdock-dummy-password")


def _candidates(session: Session, email: str, slug: str | None) -> list[User]:
    stmt = select(User).where(User.email == email, User.password_hash.is_not(None),
                              User.deactivated_at.is_(None))  # deactivated: as if unknown
    if slug is not None:
        stmt = stmt.join(Business, Business.id == User.business_id).where(Business.slug == slug)
    return list(session.scalars(stmt.order_by(User.id)))


def authenticate(session: Session, email: str, password: str, slug: str | None) -> User:
    """Return the user these credentials name, or one invalid_credentials for every miss.

    An unknown email still costs one argon2 run, so timing does not tell. When the email
    is in several businesses and no slug was sent, the password picks the account; only
    a caller who knows a password can learn that the email is in several businesses.
    """
    users = _candidates(session, email, slug)
    if not users:
        run_cpu(verify_secret, _dummy_hash(), password)
        raise InvalidCredentials()
    matches = [u for u in users if run_cpu(verify_secret, u.password_hash or "", password)]
    if not matches:
        raise InvalidCredentials()
    if len(matches) > 1:
        raise ValidationError("This email has accounts in several businesses; send business "
                              "(its slug).", field="business")
    user = matches[0]
    if hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = run_cpu(hash_secret, password)
    business = session.get(Business, user.business_id)
    if business is None or business.suspended:
        raise BusinessSuspended()
    return user


def login_json(serializer: URLSafeTimedSerializer, user: User, mode: str,
               hours: int) -> dict[str, Any]:
    """The agent token ("at_" + signed {u, b, m, t: issued, ms}), when it expires, and who
    it is."""
    issued_ms = int(utcnow().timestamp() * 1000)
    token = "at_" + str(serializer.dumps({"u": user.id, "b": user.business_id, "m": mode,
                                          "t": issued_ms}))
    return {"token": token, "expires_at": iso(utcnow() + timedelta(hours=hours)),
            "mode": mode, "agent": agent_json(user)}


# ---------- the business channel --------------------------------------------


