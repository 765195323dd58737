"""Webhooks: endpoints CRUD, the outbox written with the change, signed deliveries (verified
by Stripe's own library), retries with one Chatdock-Webhook-Id, order, filters, modes, SSRF."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from server.cli import DEMO_OWNER
from server.db import session_scope
from server.models import Business, WebhookDelivery, WebhookEndpoint, WebhookEvent
from server.services.keys import do_create_key
from tests import test_scaleout
from tests.conftest import (
    ROOT,
    ServedProcess,
    agent_token,
    auth,
    make_business,
    serving,
    start_visitor,
)
from tests.test_scaleout import two_workers

HOOKS = "/api/v1/webhooks"


class Receiver:
    """A local endpoint: verifies every request with stripe.Webhook.construct_event and
    answers with what `answer(n)` says for the n-th request (from 1)."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200) -> None:
        self.answer = answer
        self.secret = ""
        self.requests: list[dict[str, Any]] = []  # every request, verified, in arrival order
        self.lock = threading.Lock()

    def handle(self, headers: Any, body: bytes) -> int:
        event = stripe.Webhook.construct_event(body.decode(), headers["Chatdock-Signature"],
                                               self.secret)
        with self.lock:
            status = self.answer(len(self.requests) + 1)
            self.requests.append({"webhook_id": headers["Chatdock-Webhook-Id"],
                                  "type": headers["Chatdock-Event-Type"],
                                  "event": json.loads(body), "status": status,
                                  "event_id": event["id"]})
        return status

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def wait(self, done: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, self.requests
            time.sleep(0.02)


@contextmanager
def receiving(receiver: Receiver, host: str = "127.0.0.1") -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                status = receiver.handle(self.headers, body)
                receiver.requests[-1]["peer"] = self.client_address
            except stripe.SignatureVerificationError:
                status = 400
            answer = b'{"ok": true}'  # a body the worker reads to keep the connection
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_port}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def fast(app: Any, retries: list[float], **more: Any) -> None:
    """Delivery tests: the receiver is on 127.0.0.1, and retries come at once."""
    app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_SECONDS=retries,
                      WEBHOOK_POLL_SECONDS=0.02, **more)


def register(client: Any, sk: str, url: str, events: list[str] | None = None,
             receiver: Receiver | None = None) -> dict[str, Any]:
    resp = client.post(HOOKS, json={"url": url, "events": events or ["*"]}, headers=auth(sk))
    assert resp.status_code == 201, resp.get_json()
    data: dict[str, Any] = resp.get_json()["data"]
    if receiver is not None:
        receiver.secret = data["secret"]
    return data


def reply(base: str, sk: str, conversation_id: int, content: str) -> None:
    resp = httpx.post(f"{base}/api/v1/tickets/{conversation_id}/messages",
                      json={"content": content}, headers=auth(sk))
    assert resp.status_code == 201, resp.text


def deliveries(client: Any, sk: str, endpoint_id: int) -> list[dict[str, Any]]:
    resp = client.get(f"{HOOKS}/{endpoint_id}/deliveries", headers=auth(sk))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def counts(app: Any) -> tuple[int, int, int]:
    with session_scope(app) as s:
        return tuple(s.scalar(select(func.count()).select_from(m))  # type: ignore[return-value]
                     for m in (WebhookEndpoint, WebhookEvent, WebhookDelivery))


# ---------- delivery --------------------------------------------------------


def test_refused_twice_the_third_attempt_carries_the_same_webhook_id(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [0, 0])
    receiver = Receiver(lambda n: 500 if n <= 2 else 200)
    with receiving(receiver) as url, serving(app) as base:
        hook = register(client, biz["sk"], url, ["message.created"], receiver)
        started = start_visitor(base, biz["pk"])
        reply(base, biz["sk"], started["conversation_id"], "hello over a webhook")
        receiver.wait(lambda: len(receiver.accepted()) == 1)
    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    ids = {r["webhook_id"] for r in receiver.requests}
    assert len(ids) == 1 and ids.pop().startswith("whd_")
    event = receiver.requests[-1]["event"]
    assert event["type"] == "message.created" and event["id"].startswith("evt_")
    assert event["business_id"] == biz["id"] and event["mode"] == "test"
    assert event["data"]["content"] == "hello over a webhook"
    assert event["data"]["conversation_id"] == started["conversation_id"]
    [logged] = deliveries(client, biz["sk"], hook["id"])
    assert logged["status"] == "succeeded" and logged["attempts"] == 3
    assert logged["last_status_code"] == 200 and logged["webhook_id"] == receiver.requests[0][
        "webhook_id"] and logged["event_id"] == event["id"]


def test_a_forged_signature_is_what_the_receiver_refuses(biz: dict[str, Any]) -> None:
    """The receiver's check is real: a body signed with another secret does not pass."""
    from server.webhook_worker import signature
    body = b'{"id":"evt_1"}'
    good = signature("whsec_right", int(time.time()), body)
    stripe.Webhook.construct_event(body.decode(), good, "whsec_right")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), good, "whsec_wrong")


def test_per_endpoint_order_holds_while_the_head_is_retried(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [0.3, 0.3])
    receiver = Receiver(lambda n: 500 if n <= 2 else 200)
    with receiving(receiver) as url, serving(app) as base:
        register(client, biz["sk"], url, ["message.created"], receiver)
        started = start_visitor(base, biz["pk"])
        for i in range(4):
            reply(base, biz["sk"], started["conversation_id"], f"m{i}")
        receiver.wait(lambda: len(receiver.accepted()) == 4)
    seen = [r["event"]["data"]["content"] for r in receiver.requests]
    assert seen == ["m0", "m0", "m0", "m1", "m2", "m3"]


def test_the_events_list_filters_and_star_takes_everything(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [0])
    messages, resolved, everything = Receiver(), Receiver(), Receiver()
    with receiving(messages) as u1, receiving(resolved) as u2, receiving(everything) as u3, \
            serving(app) as base:
        register(client, biz["sk"], u1, ["message.created"], messages)
        register(client, biz["sk"], u2, ["conversation.resolved"], resolved)
        register(client, biz["sk"], u3, ["*"], everything)
        started = start_visitor(base, biz["pk"])
        conversation = started["conversation_id"]
        reply(base, biz["sk"], conversation, "one")
        resp = httpx.patch(f"{base}/api/v1/tickets/{conversation}", json={"status": "resolved"},
                           headers=auth(biz["sk"]))
        assert resp.status_code == 200, resp.text
        everything.wait(lambda: len(everything.accepted()) == 5)
        resolved.wait(lambda: len(resolved.accepted()) == 1)
        messages.wait(lambda: len(messages.accepted()) == 1)
        time.sleep(0.3)  # nothing else arrives
    assert [r["type"] for r in messages.requests] == ["message.created"]
    assert [r["type"] for r in resolved.requests] == ["conversation.resolved"]
    assert resolved.requests[0]["event"]["data"]["status"] == "resolved"
    assert [r["type"] for r in everything.requests] == [
        "contact.created", "conversation.created", "message.created", "conversation.updated",
        "conversation.resolved"]


def test_test_mode_events_reach_test_mode_endpoints_only(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with session_scope(app) as s:
        _, live_sk = do_create_key(s, s.get(Business, biz["id"]), "secret", "live")
    test_hook = register(client, biz["sk"], "http://127.0.0.1:9/test")
    live_hook = register(client, live_sk, "http://127.0.0.1:9/live")
    assert (test_hook["mode"], live_hook["mode"]) == ("test", "live")
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v-mode"},
                          headers=auth(biz["pk"])).get_json()["data"]
    client.post(f"/api/v1/tickets/{started['conversation_id']}/messages", json={"content": "x"},
                headers=auth(biz["sk"]))
    assert [d["type"] for d in deliveries(client, biz["sk"], test_hook["id"])] == [
        "message.created", "conversation.created", "contact.created"]
    assert deliveries(client, live_sk, live_hook["id"]) == []
    # each mode sees its own endpoints only
    assert [h["id"] for h in client.get(HOOKS, headers=auth(live_sk)).get_json()["data"]] == [
        live_hook["id"]]
    assert client.get(f"{HOOKS}/{test_hook['id']}", headers=auth(live_sk)).status_code == 404


def test_notes_and_contact_changes(app: Any, client: Any, biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = register(client, biz["sk"], "http://127.0.0.1:9/x")
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v-n"},
                          headers=auth(biz["pk"])).get_json()["data"]
    conversation = started["conversation_id"]
    token = agent_token(app, biz["id"])
    assert client.post(f"/api/v1/tickets/{conversation}/notes", json={"content": "private"},
                       headers=auth(token)).status_code == 201
    ticket = client.get(f"/api/v1/tickets/{conversation}", headers=auth(biz["sk"])).get_json()
    contact_id = ticket["data"]["customer"]["id"]
    assert client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Ada"},
                        headers=auth(biz["sk"])).status_code == 200
    assert client.delete(f"/api/v1/contacts/{contact_id}",
                         headers=auth(biz["sk"])).status_code == 200
    assert [d["type"] for d in deliveries(client, biz["sk"], hook["id"])] == [
        "contact.deleted", "contact.updated", "conversation.created", "contact.created"]


def test_a_failed_delivery_retried_by_hand_succeeds_with_its_id(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [])
    accept = threading.Event()
    receiver = Receiver(lambda n: 200 if accept.is_set() else 503)
    with receiving(receiver) as url, serving(app):
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        sent = client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
        assert sent.status_code == 201, sent.get_json()
        assert sent.get_json()["data"]["type"] == "webhook.test"
        receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["status"] == "failed")
        [failed] = deliveries(client, biz["sk"], hook["id"])
        assert failed["attempts"] == 1 and failed["last_status_code"] == 503
        assert failed["next_attempt_at"] is None
        accept.set()
        retried = client.post(f"{HOOKS}/{hook['id']}/deliveries/{failed['id']}/retry",
                              headers=auth(biz["sk"]))
        assert retried.status_code == 200 and retried.get_json()["data"]["status"] == "pending"
        receiver.wait(lambda: len(receiver.accepted()) == 1)
        receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["status"]
                      == "succeeded")
    assert {r["webhook_id"] for r in receiver.requests} == {failed["webhook_id"]}
    again = client.post(f"{HOOKS}/{hook['id']}/deliveries/{failed['id']}/retry",
                        headers=auth(biz["sk"]))
    assert again.status_code == 400


def test_an_endpoint_is_disabled_after_a_run_of_failed_deliveries(
        app: Any, client: Any, biz: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    fast(app, [], WEBHOOK_DISABLE_AFTER=2)
    receiver = Receiver(lambda n: 500)
    caplog.set_level(logging.WARNING, "chatdock.webhooks")
    with receiving(receiver) as url, serving(app):
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        for _ in range(2):
            assert client.post(f"{HOOKS}/{hook['id']}/test",
                               headers=auth(biz["sk"])).status_code == 201
        receiver.wait(lambda: client.get(f"{HOOKS}/{hook['id']}", headers=auth(biz["sk"]))
                      .get_json()["data"]["disabled_at"] is not None)
    shown = client.get(f"{HOOKS}/{hook['id']}", headers=auth(biz["sk"])).get_json()["data"]
    assert shown["consecutive_failures"] == 2
    assert any("disabled" in r.getMessage() for r in caplog.records)
    refused = client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
    assert refused.status_code == 400
    enabled = client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": True},
                           headers=auth(biz["sk"])).get_json()["data"]
    assert enabled["disabled_at"] is None and enabled["consecutive_failures"] == 0


# ---------- SSRF ------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://localhost/hook",
                                 "http://10.1.2.3/", "http://192.168.0.1/",
                                 "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/", "http://0.0.0.0/", "http://224.0.0.1/",
                                 "http://[::ffff:127.0.0.1]/", "http://2130706433/"])
def test_non_public_targets_are_refused_without_the_setting(
        app: Any, client: Any, biz: dict[str, Any], url: str) -> None:
    resp = client.post(HOOKS, json={"url": url, "events": ["*"]}, headers=auth(biz["sk"]))
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"] == "validation_error" and resp.get_json()["field"] == "url"
    assert counts(app) == (0, 0, 0)


def test_the_setting_allows_a_loopback_target(app: Any, client: Any,
                                              biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    register(client, biz["sk"], "http://127.0.0.1:8080/")
    assert counts(app) == (1, 0, 0)


def test_delivery_rechecks_the_target_after_dns(app: Any, client: Any,
                                                biz: dict[str, Any]) -> None:
    fast(app, [])
    receiver = Receiver()
    with receiving(receiver) as url:
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        app.config["WEBHOOK_ALLOW_PRIVATE"] = False  # registered while allowed
        client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
        with serving(app):
            receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["status"]
                          == "failed")
    [failed] = deliveries(client, biz["sk"], hook["id"])
    assert failed["last_error"].startswith("refused") and failed["last_status_code"] is None
    assert receiver.requests == []


@contextmanager
def resolving(monkeypatch: pytest.MonkeyPatch, host: str) -> Iterator[list[str]]:
    """DNS for one made-up host: it resolves to whatever the yielded list's last item is
    (the public internet's DNS, mocked); every other name resolves as usual."""
    import socket
    answer = ["127.0.0.1"]
    real = socket.getaddrinfo

    def fake(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer[-1], port))]
        return real(name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield answer


def test_a_pooled_connection_follows_the_checked_address_and_a_private_one_is_refused(
        app: Any, client: Any, biz: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fast(app, [2, 0])  # allowed at first: the receiver is on 127.0.0.1
    receiver = Receiver()
    with resolving(monkeypatch, "hooks.test") as dns, \
            receiving(receiver, host="hooks.test") as url, serving(app):
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        for n in (1, 2):
            client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
            receiver.wait(lambda n=n: len(receiver.accepted()) == n)
        assert receiver.requests[0]["peer"] == receiver.requests[1]["peer"]  # one connection
        dns.append("127.0.0.2")  # the name moves; nothing listens there
        client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
        receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["attempts"] >= 1)
        moved = deliveries(client, biz["sk"], hook["id"])[0]
        assert moved["last_error"].startswith("ConnectError")  # not the pooled connection
        app.config["WEBHOOK_ALLOW_PRIVATE"] = False
        dns.append("10.0.0.7")  # ... and now to a private address
        receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["status"]
                      == "failed")
    [refused, *_] = deliveries(client, biz["sk"], hook["id"])
    assert refused["last_error"].startswith("refused") and refused["attempts"] == 3
    assert "10.0.0.7" in refused["last_error"] and len(receiver.requests) == 2


def test_a_queue_sent_as_a_batch_keeps_order_when_one_in_the_middle_fails(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [0.2])
    receiver = Receiver(lambda n: 500 if n == 3 else 200)
    with receiving(receiver) as url:
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        for _ in range(6):  # queued before any delivery thread runs: one batch
            client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
        with serving(app):
            receiver.wait(lambda: len(receiver.accepted()) == 6)
            receiver.wait(lambda: all(d["status"] == "succeeded" for d in
                                      deliveries(client, biz["sk"], hook["id"])))
    ids = [r["webhook_id"] for r in receiver.requests]
    assert ids == sorted(ids, key=lambda i: int(i[4:])) and len(ids) == 7
    assert ids[2] == ids[3] and [r["status"] for r in receiver.requests][2:4] == [500, 200]
    assert len({r["peer"] for r in receiver.requests}) == 1  # one kept-alive connection
    logged = deliveries(client, biz["sk"], hook["id"])
    assert sorted(d["attempts"] for d in logged) == [1, 1, 1, 1, 1, 2]


# ---------- CRUD -------------------------------------------------------------


def test_crud_shows_the_secret_once(app: Any, client: Any, biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    made = client.post(HOOKS, json={"url": "https://127.0.0.1/a", "description": "CRM",
                                    "events": ["message.created", "message.created"]},
                       headers=auth(biz["sk"])).get_json()["data"]
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["events"] == ["message.created"] and made["description"] == "CRM"
    got = client.get(f"{HOOKS}/{made['id']}", headers=auth(biz["sk"])).get_json()["data"]
    assert "secret" not in got and got["url"] == "https://127.0.0.1/a"
    assert "secret" not in client.get(HOOKS, headers=auth(biz["sk"])).get_json()["data"][0]
    changed = client.patch(f"{HOOKS}/{made['id']}", json={"events": ["*"], "description": ""},
                           headers=auth(biz["sk"])).get_json()["data"]
    assert changed["events"] == ["*"] and changed["description"] is None
    assert client.delete(f"{HOOKS}/{made['id']}", headers=auth(biz["sk"])).get_json() == {
        "ok": True}
    assert client.get(f"{HOOKS}/{made['id']}", headers=auth(biz["sk"])).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"events": ["*"]}, "url"),
    ({"url": "ftp://example.com/", "events": ["*"]}, "url"),
    ({"url": "http:///nohost", "events": ["*"]}, "url"),
    ({"url": "http://example.com:99999/", "events": ["*"]}, "url"),
    ({"url": 7, "events": ["*"]}, "url"),
    ({"url": "https://127.0.0.1/"}, "events"),
    ({"url": "https://127.0.0.1/", "events": []}, "events"),
    ({"url": "https://127.0.0.1/", "events": ["message.deleted"]}, "events"),
    ({"url": "https://127.0.0.1/", "events": "*"}, "events"),
    ({"url": "https://127.0.0.1/", "events": ["*"], "description": "x" * 501}, "description"),
])
def test_bad_bodies_are_400_and_change_nothing(app: Any, client: Any, biz: dict[str, Any],
                                               body: dict[str, Any], field: str) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # only the shape is checked here
    resp = client.post(HOOKS, json=body, headers=auth(biz["sk"]))
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["field"] == field
    assert counts(app) == (0, 0, 0)


def test_another_business_sees_nothing_and_agents_lack_the_scope(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = register(client, biz["sk"], "http://127.0.0.1:9/")
    sent = client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"])).get_json()["data"]
    other = make_business(app, "Other")
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/deliveries"),
                         ("POST", "/test"), ("POST", f"/deliveries/{sent['id']}/retry")]:
        resp = client.open(f"{HOOKS}/{hook['id']}{path}", method=method,
                           json={} if method == "PATCH" else None, headers=auth(other["sk"]))
        assert resp.status_code == 404, (method, path, resp.get_json())
    assert client.get(HOOKS, headers=auth(other["sk"])).get_json()["data"] == []
    other_hook = register(client, other["sk"], "http://127.0.0.1:9/")
    assert client.post(f"{HOOKS}/{other_hook['id']}/deliveries/{sent['id']}/retry",
                       headers=auth(other["sk"])).status_code == 404
    agent = agent_token(app, biz["id"])
    assert client.get(HOOKS, headers=auth(agent)).status_code == 403
    owner = agent_token(app, biz["id"], user_id=biz["owner_id"])
    assert client.get(HOOKS, headers=auth(owner)).status_code == 200
    assert counts(app) == (2, 1, 1)


def readme_verify() -> Callable[[bytes, str, str], bool]:
    """The README's standard-library verification snippet, as written."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Webhooks", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)  # our own README, as a reader runs it
    return scope["verify"]  # type: ignore[no-any-return]


def test_the_readme_snippet_verifies_a_real_delivery(app: Any, client: Any,
                                                     biz: dict[str, Any]) -> None:
    fast(app, [])
    raw: list[tuple[bytes, str]] = []
    receiver = Receiver()
    original = receiver.handle

    def keep(headers: Any, body: bytes) -> int:
        raw.append((body, headers["Chatdock-Signature"]))
        return original(headers, body)

    receiver.handle = keep  # type: ignore[method-assign]
    with receiving(receiver) as url, serving(app):
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        client.post(f"{HOOKS}/{hook['id']}/test", headers=auth(biz["sk"]))
        receiver.wait(lambda: len(raw) == 1)
    verify = readme_verify()
    body, header = raw[0]
    assert verify(body, header, hook["secret"])
    assert not verify(body + b" ", header, hook["secret"])
    assert not verify(body, header, "whsec_other")
    old = header.replace(header.split(",")[0], f"t={int(time.time()) - 3600}")
    assert not verify(body, old, hook["secret"])


# ---------- served processes --------------------------------------------------------------

postgres_url = test_scaleout.postgres_url  # the scale-out tests' fixtures
redis_url = test_scaleout.redis_url

SERVED_ENV = {"CHATDOCK_WEBHOOK_ALLOW_PRIVATE": "true", "CHATDOCK_WEBHOOK_RETRY_SECONDS": "0,0",
              "CHATDOCK_WEBHOOK_POLL_SECONDS": "0.05"}


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """os.environ with these values (ServedProcess copies it), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def served_hook(base: str, sk: str, url: str, receiver: Receiver) -> None:
    resp = httpx.post(f"{base}{HOOKS}", json={"url": url, "events": ["message.created"]},
                      headers=auth(sk))
    assert resp.status_code == 201, resp.text
    receiver.secret = resp.json()["data"]["secret"]


def test_two_workers_on_postgres_deliver_each_event_once_in_order(
        tmp_path: Path, postgres_url: str, redis_url: str) -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        with patched_env(SERVED_ENV):
            server = two_workers(tmp_path, postgres_url, redis_url)
        sk = server.sk
        try:
            served_hook(server.base, sk, url, receiver)
            started = start_visitor(server.base, server.pk)
            for i in range(40):
                reply(server.base, sk, started["conversation_id"], f"n{i}")
            receiver.wait(lambda: len(receiver.requests) >= 40, timeout=30)
            time.sleep(1.0)  # a duplicate would arrive by now
        finally:
            server.stop()
    assert [r["event"]["data"]["content"] for r in receiver.requests] == [
        f"n{i}" for i in range(40)]
    assert len({r["webhook_id"] for r in receiver.requests}) == 40


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (gunicorn's master and worker)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return found


def test_a_server_killed_between_commit_and_delivery_delivers_after_restart_once(
        tmp_path: Path) -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        # a long poll, and the event committed by another process (the CLI: a commit wakes
        # only its own process's delivery thread), so the server dies before its next round
        first = ServedProcess(tmp_path, env={**SERVED_ENV, "CHATDOCK_WEBHOOK_POLL_SECONDS": "60"})
        sk, pk = first.sk, first.pk
        served_hook(first.base, sk, url, receiver)
        started = start_visitor(first.base, pk)
        first.cli("tickets", "reply", str(started["conversation_id"]), "--as", DEMO_OWNER,
                  "survives kill -9")
        time.sleep(0.5)  # what a woken thread would need to send it
        for pid in process_tree(first.proc.pid):
            os.kill(pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
        assert receiver.requests == []
        second = ServedProcess(tmp_path, env=SERVED_ENV)
        try:
            receiver.wait(lambda: len(receiver.requests) == 1, timeout=20)
            time.sleep(1.0)
        finally:
            second.stop()
    assert [r["event"]["data"]["content"] for r in receiver.requests] == ["survives kill -9"]


def test_the_retry_schedule_comes_from_config_toml_or_a_comma_separated_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from server.config import load_config
    defaults = load_config()
    assert defaults["WEBHOOK_RETRY_SECONDS"] == [60, 300, 1800, 7200, 21600, 86400]
    assert (defaults["WEBHOOK_DISABLE_AFTER"], defaults["WEBHOOK_ALLOW_PRIVATE"]) == (20, False)
    monkeypatch.setenv("CHATDOCK_WEBHOOK_RETRY_SECONDS", "5, 10,")
    monkeypatch.setenv("CHATDOCK_WEBHOOK_ALLOW_PRIVATE", "true")
    assert load_config()["WEBHOOK_RETRY_SECONDS"] == [5, 10]
    assert load_config()["WEBHOOK_ALLOW_PRIVATE"] is True


# ---------- /metrics ----------------------------------------------------------------------


def test_delivery_attempts_are_counted_by_outcome(app: Any, client: Any,
                                                  biz: dict[str, Any]) -> None:
    from tests.test_observability import metrics, value  # its scrape, by Prometheus' parser
    name = "chatdock_webhook_deliveries_total"
    before = metrics(client)
    assert [value(before, name, outcome=o) for o in ("succeeded", "failed", "retried")] == [
        0, 0, 0]  # every series exists from the start
    fast(app, [0])  # one retry, at once
    receiver = Receiver(lambda n: 200 if n == 2 else 500)
    with receiving(receiver) as url, serving(app):
        hook = register(client, biz["sk"], url, ["webhook.test"], receiver)
        for _ in range(2):  # the first: 500 then 200; the second: 500 twice, failed
            assert client.post(f"{HOOKS}/{hook['id']}/test",
                               headers=auth(biz["sk"])).status_code == 201
            receiver.wait(lambda: deliveries(client, biz["sk"], hook["id"])[0]["status"]
                          != "pending")
        # the count follows the commit of the outcome
        receiver.wait(lambda: value(metrics(client), name, outcome="failed") == 1)
    after = metrics(client)
    assert [r["status"] for r in receiver.requests] == [500, 200, 500, 500]
    assert value(after, name, outcome="succeeded") == 1
    assert value(after, name, outcome="retried") == 2
    assert value(after, name, outcome="failed") == 1


# ---------- waking on commit ----------------------------------------------------------------


def test_a_commit_wakes_this_processs_delivery_thread_and_stop_ends_its_wait(
        app: Any, client: Any, biz: dict[str, Any]) -> None:
    fast(app, [])
    app.config["WEBHOOK_POLL_SECONDS"] = 60  # a poll that would never come within the test
    receiver = Receiver()
    with receiving(receiver) as url:
        with serving(app) as base:
            register(client, biz["sk"], url, ["message.created"], receiver)
            started = start_visitor(base, biz["pk"])
            reply(base, biz["sk"], started["conversation_id"], "sent at once")
            receiver.wait(lambda: len(receiver.accepted()) == 1, timeout=5)
            leaving = time.monotonic()
        assert time.monotonic() - leaving < 5  # stopping woke the thread out of its 60 s wait
    assert receiver.requests[0]["event"]["data"]["content"] == "sent at once"
