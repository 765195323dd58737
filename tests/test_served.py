"""Against a real `chatdock serve` (gunicorn + gevent worker) on a free port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, ServedProcess, auth, start_visitor
from tests.pusher import WATCHER_EVENTS, PusherTestClient

JS = ROOT / "tests" / "js"


SDK = {"Accept": "application/json"}  # what tickki_chat_flutter sends with every call


# --- decoders with the required fields and types of tickki_chat_flutter's models.dart ----

def as_int(value: Any) -> int:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    return int(value)


def decode_config(j: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(j["business"]["name"], str) and isinstance(j["business"]["slug"], str)
    as_int(j["business"]["id"])
    for field in ("primary_color", "accent_color", "welcome_message"):
        assert isinstance(j["branding"][field], str)
    assert j["branding"]["logo_url"] is None or isinstance(j["branding"]["logo_url"], str)
    assert isinstance(j["features"]["file_uploads"], bool)
    as_int(j["limits"]["max_upload_kb"]), as_int(j["limits"]["message_max_length"])
    as_int(j["presence"]["agents_online"])
    assert isinstance(j["identification"]["required_on_start"], bool)
    return j


def decode_start(j: dict[str, Any]) -> dict[str, Any]:
    as_int(j["session_id"]), as_int(j["conversation_id"])
    assert isinstance(j["session_token"], str) and isinstance(j["visitor_id"], str)
    assert isinstance(j["contact"], dict)
    rt = j["realtime"]
    for field in ("key", "host", "scheme", "channel", "auth_endpoint", "event"):
        assert isinstance(rt[field], str) and rt[field], field
    as_int(rt["port"])
    return j


def decode_message(j: dict[str, Any]) -> dict[str, Any]:
    as_int(j["id"])
    assert j["direction"] in ("inbound", "outbound") and j["type"] in ("text", "attachment")
    assert isinstance(j["content"], str) and isinstance(j["attachments"], list)
    datetime.fromisoformat(j["created_at"].replace("Z", "+00:00"))
    return j


# --- the run command ----------------------------------------------------------------------

def test_serve_prints_demo_keys_that_work(served: ServedProcess) -> None:
    assert served.pk.startswith("pk_test_") and served.sk.startswith("sk_test_")
    banner = "".join(served.output)
    assert f"{served.base}/api/v1/chat/config" in banner
    assert httpx.get(f"{served.base}/healthz").json() == {"ok": True}
    config = httpx.get(f"{served.base}/api/v1/chat/config", headers=auth(served.pk, **SDK))
    assert config.status_code == 200


def test_tickki_sdk_sequence(served: ServedProcess) -> None:
    """The exact HTTP calls and socket frames tickki_chat_flutter 0.2.1 makes."""
    base, pk = served.base, served.pk
    config = httpx.get(f"{base}/api/v1/chat/config", headers=auth(pk, **SDK))
    decode_config(config.json()["data"])
    started = decode_start(httpx.post(
        f"{base}/api/v1/chat/sessions", json={"visitor_id": "user_8432", "name": "Ada"},
        headers=auth(pk, **{"Content-Type": "application/json"}, **SDK)).json()["data"])
    rt = started["realtime"]
    # realtime_client.dart: ws URL, wait for connection_established, form POST to auth, subscribe
    sock = PusherTestClient(f"ws://{rt['host']}:{rt['port']}/app/{rt['key']}"
                            "?protocol=7&client=tickki_chat_flutter&version=0.1.4")
    socket_id = sock.socket_id()
    signed = httpx.post(rt["auth_endpoint"], data={"socket_id": socket_id,
                                                   "channel_name": rt["channel"]},
                      headers=auth(pk, started["session_token"],
                                **{"Content-Type": "application/x-www-form-urlencoded"}, **SDK))
    assert signed.status_code == 200 and set(signed.json()) == {"auth"}
    sock.send("pusher:subscribe", {"auth": signed.json()["auth"], "channel": rt["channel"]})
    sock.expect("pusher_internal:subscription_succeeded")
    sock.send("pusher:ping", {})  # the SDK's own 30 s keep-alive
    sock.expect("pusher:pong")
    conv = started["conversation_id"]
    sent = decode_message(httpx.post(
        f"{base}/api/v1/chat/sessions/{conv}/messages", json={"content": "Where is my order?"},
        headers=auth(pk, started["session_token"], **SDK)).json()["data"])
    echo = sock.expect(rt["event"])
    assert echo["channel"] == rt["channel"] and decode_message(echo["data"])["id"] == sent["id"]
    reply = httpx.post(f"{base}/api/v1/tickets/{conv}/messages",
                       json={"content": "On its way!"}, headers=auth(served.sk, **SDK))
    assert reply.status_code == 201
    got = decode_message(sock.expect(rt["event"])["data"])
    assert got["direction"] == "outbound" and got["content"] == "On its way!"
    for path in ("typing", "heartbeat"):
        ok = httpx.post(f"{base}/api/v1/chat/sessions/{conv}/{path}",
                        headers=auth(pk, started["session_token"], **SDK))
        assert ok.json() == {"ok": True}
    page = httpx.get(f"{base}/api/v1/chat/sessions/{conv}/messages",
                     params={"limit": "30"},
                     headers=auth(pk, started["session_token"], **SDK)).json()
    assert [decode_message(m)["id"] for m in page["data"]] == [got["id"], sent["id"]]
    assert page["meta"]["next_cursor"] is None
    again = httpx.post(f"{base}/api/v1/chat/sessions", json={"visitor_id": "user_8432"},
                       headers=auth(pk, **SDK))
    resumed = decode_start(again.json()["data"])
    assert resumed["conversation_id"] == conv
    assert resumed["session_token"] != started["session_token"]
    # an unverified resume sees only what it sent, never the stored contact (docs/security.md)
    assert resumed["contact"]["name"] is None and resumed["contact"]["visitor_id"] == "user_8432"
    sock.close()


# --- pusher-js, unmodified ------------------------------------------------------------------

def node_ready() -> None:
    if shutil.which("node") and (JS / "node_modules" / "pusher-js").is_dir():
        return
    message = "pusher-js is not installed: run `npm ci --prefix tests/js` (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PusherJs:
    """tests/js/subscribe.mjs in a subprocess; its JSON lines as they come."""

    def __init__(self, options: dict[str, Any]) -> None:
        node_ready()
        self.proc = subprocess.Popen(["node", "subscribe.mjs", json.dumps(options)], cwd=JS,
                                     stdout=subprocess.PIPE, text=True)
        self.lines: list[dict[str, Any]] = []

    def until(self, kind: str) -> dict[str, Any]:
        """The next line of this kind; an "event" the watcher sends every new channel on its
        own clock (WATCHER_EVENTS) is not one a test waits for."""
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = json.loads(raw)
            self.lines.append(line)
            if line["type"] == kind and line.get("event") not in WATCHER_EVENTS:
                return line
        raise AssertionError(f"pusher-js never printed {kind}: {self.lines}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_pusher_js_receives_the_agent_reply(served: ServedProcess) -> None:
    started = start_visitor(served.base, served.pk, "pusher-js-visitor")
    js = PusherJs({"realtime": started["realtime"], "pk": served.pk,
                   "session_token": started["session_token"], "seconds": 15})
    try:
        assert js.until("subscribed")["channel"] == started["realtime"]["channel"]
        reply = httpx.post(f"{served.base}/api/v1/tickets/{started['conversation_id']}/messages",
                           json={"content": "hello pusher-js"}, headers=auth(served.sk, **SDK))
        event = js.until("event")
        assert event["event"] == "MessageCreated"
        assert event["data"] == reply.json()["data"]
    finally:
        js.stop()


def test_pusher_js_wrong_app_key_gets_4001(served: ServedProcess) -> None:
    started = start_visitor(served.base, served.pk, "pusher-js-wrong-key")
    js = PusherJs({"realtime": started["realtime"], "app_key": "wrong-app-key", "pk": served.pk,
                   "session_token": started["session_token"], "seconds": 8})
    try:
        assert js.until("error")["code"] == 4001
    finally:
        js.stop()


def test_pusher_js_other_sessions_channel_is_refused(served: ServedProcess) -> None:
    mine = start_visitor(served.base, served.pk, "pusher-js-mine")
    theirs = start_visitor(served.base, served.pk, "pusher-js-theirs")
    js = PusherJs({"realtime": mine["realtime"], "channel": theirs["realtime"]["channel"],
                   "pk": served.pk, "session_token": mine["session_token"], "seconds": 8})
    try:
        assert js.until("subscription_error")["status"] == 403
        assert not any(line["type"] == "subscribed" for line in js.lines)
    finally:
        js.stop()


# --- the command line, against the running server ------------------------------------------

def test_cli_init_json_is_one_object(served: ServedProcess) -> None:
    out = subprocess.run(
        ["chatdock", "init", "--business", "Json Co", "--owner-email", "o@json.test", "--json"],
        cwd=ROOT, env=served.env, capture_output=True, text=True, check=True).stdout
    data = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert isinstance(data["business"]["id"], int) and data["business"]["slug"] == "json-co"
    assert data["publishable_key"].startswith("pk_test_")
    assert data["secret_key"].startswith("sk_test_")
    resp = httpx.get(f"{served.base}/api/v1/chat/config",
                     headers=auth(data["publishable_key"], **SDK))
    assert resp.json()["data"]["business"]["name"] == "Json Co"


def test_cli_keys_create_list_revoke(served: ServedProcess) -> None:
    created = served.cli("keys", "create", "--business", "demo-business", "--type",
                         "publishable", "--mode", "live", "--origins", "https://shop.example",
                         "--json")
    key = created["key"]
    assert key.startswith("pk_live_") and created["origins"] == ["https://shop.example"]
    ok = httpx.get(f"{served.base}/api/v1/chat/config",
                   headers=auth(key, Origin="https://shop.example", **SDK))
    assert ok.status_code == 200
    denied = httpx.get(f"{served.base}/api/v1/chat/config",
                       headers=auth(key, Origin="https://evil.example", **SDK))
    assert denied.status_code == 403 and denied.json()["error"] == "origin_not_allowed"
    listed = served.cli("keys", "list", "--business", "demo-business", "--json")["keys"]
    row = next(k for k in listed if k["id"] == created["id"])
    assert row["prefix"] == created["prefix"] and key not in json.dumps(listed)
    served.cli("keys", "revoke", str(created["id"]))
    gone = httpx.get(f"{served.base}/api/v1/chat/config",
                     headers=auth(key, Origin="https://shop.example", **SDK))
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_api_key"


def test_cli_revocation_reaches_open_sockets(served: ServedProcess) -> None:
    created = served.cli("keys", "create", "--business", "demo-business", "--type",
                         "publishable", "--mode", "test", "--json")
    started = start_visitor(served.base, created["key"], "soon-revoked")
    sock = PusherTestClient.for_session(started)
    sock.subscribe_session(started, created["key"])
    served.cli("keys", "revoke", str(created["id"]))
    assert sock.close_code(timeout=8) == 4009
    again = httpx.post(f"{served.base}/api/v1/chat/sessions/{started['conversation_id']}/messages",
                       json={"content": "x"},
                       headers=auth(created["key"], started["session_token"], **SDK))
    assert again.status_code == 401


# --- shutdown --------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_closes_sockets_with_4200(tmp_path: Path, sig: int) -> None:
    server = ServedProcess(tmp_path)
    started = start_visitor(server.base, server.pk)
    sock = PusherTestClient.for_session(started)
    sock.subscribe_session(started, server.pk)
    try:
        assert server.stop(sig) == 0
        assert sock.close_code(timeout=5) == 4200
    finally:
        server.stop(signal.SIGKILL)
