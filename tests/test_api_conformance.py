"""schemathesis against the app on a real port: every documented operation, called with real
credentials (a publishable key with a visitor's session token, a secret key, an owner's agent
token), must never answer 5xx, and every answer's status, content type and body must be the
ones /openapi.json documents.

It runs on PostgreSQL (the production database: NUL in text fails only there) when it is
reachable at 127.0.0.1:5432; in CI it must be, on a laptop without it the run uses SQLite.

Bounded and deterministic for CI (Hypothesis derandomized, no example database): the
examples and fuzzing phases, about CHATDOCK_FUZZ_CASES generated cases in all (default 2,000).
A longer campaign by hand, adding schemathesis' coverage phase (boundary and negative values,
~1,150 more cases):

    CHATDOCK_FUZZ_CASES=20000 CHATDOCK_FUZZ_PHASES=examples,coverage,fuzzing \
        python -m pytest tests/test_api_conformance.py -q -x
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server import create_app  # noqa: E402
from server.config import load_config  # noqa: E402
from server.db import session_scope  # noqa: E402
from server.models import Contact, utcnow  # noqa: E402
from server.openapi import build_document  # noqa: E402
from server.services.keys import do_create_key, find_business  # noqa: E402
from tests.conftest import (  # noqa: E402
    agent_token,
    auth,
    connect_postgres,
    db_upgrade,
    make_business,
    postgres_database,
    serving,
    start_visitor,
)

FUZZ_CASES = int(os.environ.get("CHATDOCK_FUZZ_CASES", "2000"))
FUZZ_PHASES = os.environ.get("CHATDOCK_FUZZ_PHASES", "examples,fuzzing").split(",")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@dataclass
class Fuzzing:
    """The served app, its document, real credentials and the records the calls work on."""

    app: Any
    base: str
    document: dict[str, Any]
    biz: dict[str, Any]
    visitor: dict[str, Any]
    agent_token: str
    contact_id: int
    bot_id: int
    agent_credentials: Iterator[str] = field(init=False)
    serial: Iterator[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        # Agent calls alternate between the secret key and the agent token, in a fixed order.
        self.agent_credentials = itertools.cycle([self.biz["sk"], self.agent_token])

    def headers(self, path: str, method: str) -> dict[str, str]:
        """The credentials the operation's security asks for."""
        item = self.document["paths"][path]
        # the coverage phase also sends methods the path does not document (expecting 405)
        security = (item.get(method) or next(iter(item.values())))["security"]
        schemes = {name for requirement in security for name in requirement}
        if "sessionToken" in schemes:
            return auth(self.biz["pk"], self.visitor["session_token"])
        if "publishableKey" in schemes:
            return auth(self.biz["pk"])
        if path == "/api/v1/auth/logout":  # a spare agent logs out, not the fuzzer's own
            return auth(self.spare_agent()[1])
        if "secretKey" in schemes:
            return auth(next(self.agent_credentials))
        return {}

    def aim(self, case: Any) -> None:
        """Point about half the generated ids at records that exist (else nearly every call
        would be a 404), keep destructive calls off the credentials themselves, and make
        each Idempotency-Key fresh (generated ones repeat with other bodies: 422 each time)."""
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str) and len(key) < 240:
            case.headers["Idempotency-Key"] = f"{key}.{next(self.serial)}"
        params = case.path_parameters or {}
        for name, existing in (("conversation_id", self.visitor["conversation_id"]),
                               ("ticket_id", self.visitor["conversation_id"]),
                               ("contact_id", self.contact_id),
                               ("key_id", self.biz["pk_id"])):
            if isinstance(params.get(name), int) and params[name] % 2 == 0:
                params[name] = existing
        # (the coverage phase also sends ids as strings: "2" is key 2 too)
        if case.method == "DELETE" and str(params.get("key_id")) in (str(self.biz["pk_id"]),
                                                                     str(self.biz["sk_id"])):
            params["key_id"] = self.spare_key()
        if isinstance(params.get("bot_id"), int) and params["bot_id"] % 2 == 0:  # TALKR's
            params["business_slug"], params["bot_id"] = self.biz["slug"], self.bot_id
        if case.method == "DELETE" and str(params.get("contact_id")) == str(self.contact_id):
            params["contact_id"] = self.spare_contact()
        if case.method == "DELETE" and "agent_id" in params:  # never the fuzzer's own owner
            params["agent_id"] = self.spare_agent()[0]

    def spare_key(self) -> int:
        with session_scope(self.app) as session:
            key, _ = do_create_key(session, find_business(session, self.biz["slug"]),
                                   "publishable", "test")
            return int(key.id)

    def spare_agent(self) -> tuple[int, str]:
        token = agent_token(self.app, self.biz["id"])
        return int(self.app.extensions["agent_tokens"].loads(token[3:])["u"]), token

    def spare_contact(self) -> int:
        with session_scope(self.app) as session:
            contact = Contact(business_id=self.biz["id"], mode="test", created_at=utcnow(),
                              visitor_id=f"spare-{os.urandom(4).hex()}", custom_fields={})
            session.add(contact)
            session.flush()
            return int(contact.id)


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """A fresh PostgreSQL database when one is reachable (in CI it must be), else SQLite."""
    try:
        admin = connect_postgres()
    except ConnectionError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err}; see .ci/run")
        yield f"sqlite:///{tmp / 'fuzz.db'}"
        return
    with admin, postgres_database(admin, "chatdock_fuzz") as url:
        db_upgrade(url)  # as a deployment does before serving
        yield url


@pytest.fixture(scope="module")
def fuzzing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzing]:
    with database(tmp_path_factory.mktemp("fuzz")) as url:
        app = create_app({"DATABASE_URL": url, "PUBLIC_URL": ""})
        biz = make_business(app)
        with serving(app) as base:
            visitor = start_visitor(base, biz["pk"], "fuzz-visitor", name="Fuzz")
            contacts = httpx.get(f"{base}/api/v1/contacts", headers=auth(biz["sk"])).json()
            # the TALKR endpoint's bot: on, its public API on (aim() points calls at it)
            bot = httpx.put(f"{base}/api/v1/bot", headers=auth(biz["sk"]), json={
                "enabled": True, "public_api": {"enabled": True}}).json()["data"]
            yield Fuzzing(app, base, build_document(app.config), biz, visitor,
                          agent_token(app, biz["id"], role="owner"), contacts["data"][0]["id"],
                          bot["id"])
        app.extensions["engine"].dispose()


def _schema() -> Any:
    """The document as a schemathesis schema (loaded at import: its tests are collected
    one per operation; the calls go to the served app's base URL)."""
    document = build_document(load_config())
    loaded = schemathesis.openapi.from_dict(document)
    # an operation without parameters or body is one case whatever the setting: the rest
    # share the budget
    varied = sum(1 for item in document["paths"].values() for operation in item.values()
                 if operation.get("parameters") or operation.get("requestBody"))
    loaded.config.generation.update(max_examples=max(1, -(-FUZZ_CASES // varied)),
                                    deterministic=True, database="none",
                                    with_security_parameters=False)
    loaded.config.phases.update(phases=FUZZ_PHASES)
    # undocumented methods are the drift test's business (tests/test_openapi.py)
    loaded.config.phases.coverage.unexpected_methods = set()
    return loaded


schema = _schema()
OPERATIONS = sum(len(item) for item in build_document(load_config())["paths"].values())
CASES: list[str] = []  # the operation of every generated case, for the count at the end


@schema.parametrize()
def test_every_operation_answers_as_documented(case: Any, fuzzing: Fuzzing) -> None:
    fuzzing.aim(case)
    CASES.append(f"{case.method} {case.path}")
    case.call_and_validate(base_url=fuzzing.base, checks=CHECKS,
                           headers=fuzzing.headers(case.path, case.method.lower()))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/contacts/2147483648"), ("DELETE", "/api/v1/keys/2147483648"),
    ("POST", "/api/v1/tickets/2147483648/typing"), ("GET", "/api/v1/tickets/4294967296"),
    ("GET", "/api/v1/tickets?assigned_to=2147483648")])
def test_ids_beyond_an_integer_column_are_refused_before_the_database(
        fuzzing: Fuzzing, method: str, path: str) -> None:
    """Found by this fuzzing on PostgreSQL: ids from 2**31 on answered 500 ("integer out of
    range"); the largest row id is PostgreSQL's INTEGER, not SQLite's 64-bit one."""
    resp = httpx.request(method, fuzzing.base + path, headers=auth(fuzzing.biz["sk"]))
    assert resp.status_code == (400 if "?" in path else 404), resp.text
    assert resp.json()["error"] == ("validation_error" if "?" in path else "not_found")


def test_the_run_generated_the_cases_it_promised() -> None:
    """Last in the file: every operation ran, CHATDOCK_FUZZ_CASES cases at least in all."""
    if len(set(CASES)) < OPERATIONS:
        pytest.skip("only part of the operations were selected")
    assert len(CASES) >= FUZZ_CASES
