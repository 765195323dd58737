"""Attachments: the Tickki SDK's upload replayed byte-for-byte, signed URLs, limits, erasure."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from server.db import session_scope
from server.models import Attachment, Contact, WebhookEndpoint, WebhookEvent
from server.services.webhooks import new_secret
from tests.conftest import (
    ServedProcess,
    auth,
    connect_postgres,
    db_upgrade,
    make_business,
    postgres_database,
    start_visitor,
)
from tests.pusher import PusherTestClient

# A PNG's signature and IHDR chunk (1x1, RGBA): enough for any sniffer.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
       b"\x00\x00\x1f\x15\xc4\x89" + os.urandom(64))
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + os.urandom(512)
# package:http's boundary alphabet (lib/src/boundary_characters.dart)
DART_BOUNDARY_CHARS = "+_-." + string.digits + string.ascii_uppercase + string.ascii_lowercase


def dart_boundary() -> str:
    """A boundary as package:http's MultipartRequest makes one: 70 characters in all."""
    prefix = "dart-http-boundary-"
    return prefix + "".join(secrets.choice(DART_BOUNDARY_CHARS) for _ in range(70 - len(prefix)))


def dart_multipart(boundary: str, field: str, file_name: str, data: bytes,
                   content_type: str = "application/octet-stream") -> bytes:
    """The body MultipartRequest.finalize() writes for one MultipartFile.fromPath (its
    default type application/octet-stream), header names lower-case as package:http
    writes them."""
    return (f"--{boundary}\r\n"
            f"content-type: {content_type}\r\n"
            f'content-disposition: form-data; name="{field}"; filename="{file_name}"\r\n'
            "\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()


def tickki_upload(base: str, pk: str, started: dict[str, Any], file_name: str,
                  data: bytes) -> tuple[int, dict[str, Any]]:
    """ChatSession.uploadAttachment(File) as the SDK sends it over dart:io, on a raw socket:
    TickkiApiClient._headers() (no JSON content type) plus MultipartRequest's own."""
    boundary = dart_boundary()
    body = dart_multipart(boundary, "file", file_name, data)
    url = urlsplit(base)
    path = f"/api/v1/chat/sessions/{started['conversation_id']}/attachments"
    head = (f"POST {path} HTTP/1.1\r\n"
            "user-agent: Dart/3.5 (dart:io)\r\n"
            "accept-encoding: gzip\r\n"
            f"content-length: {len(body)}\r\n"
            f"authorization: Bearer {pk}\r\n"
            "accept: application/json\r\n"
            f"x-tickki-session: {started['session_token']}\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\n"
            f"host: {url.hostname}:{url.port}\r\n\r\n")
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        import json
        return resp.status, json.loads(resp.read())


def upload(client: Any, path: str, headers: dict[str, str], data: bytes,
           file_name: str = "photo.png", **fields: str) -> Any:
    """A multipart POST through Flask's test client (field `file`)."""
    import io
    form: dict[str, Any] = {"file": (io.BytesIO(data), file_name), **fields}
    return client.post(path, data=form, headers=headers, content_type="multipart/form-data")


def stored_files(app: Any) -> list[Path]:
    root = app.extensions["storage"].root
    return [p for p in Path(root).rglob("*") if p.is_file()] if Path(root).exists() else []


def attachment_rows(app: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count()).select_from(Attachment)) or 0)


@pytest.fixture
def visitor(live: str, biz: dict[str, Any]) -> dict[str, Any]:
    return start_visitor(live, biz["pk"])


def visitor_path(started: dict[str, Any]) -> str:
    return f"/api/v1/chat/sessions/{started['conversation_id']}/attachments"


def test_the_tickki_sdk_upload_replayed_byte_for_byte(live: str, biz: dict[str, Any],
                                                      visitor: dict[str, Any]) -> None:
    status, body = tickki_upload(live, biz["pk"], visitor, "photo.png", PNG)
    assert status == 201, body
    attachment, message = body["data"]["attachment"], body["data"]["message"]
    assert set(attachment) == {"id", "file_name", "mime_type", "file_size", "signed_url"}
    assert attachment["file_name"] == "photo.png"
    assert attachment["mime_type"] == "image/png"  # sniffed: the SDK says octet-stream
    assert attachment["file_size"] == len(PNG)
    assert attachment["signed_url"].startswith(live + "/api/v1/chat/attachments/")
    assert message["type"] == "attachment" and message["direction"] == "inbound"
    assert message["content"] == "" and message["attachments"] == [attachment]


def test_the_visitor_sees_it_in_history_and_the_url_downloads_it(
        live: str, biz: dict[str, Any], visitor: dict[str, Any]) -> None:
    status, body = tickki_upload(live, biz["pk"], visitor, "notes.txt", "Grüße\n".encode())
    assert status == 201
    history = httpx.get(f"{live}/api/v1/chat/sessions/{visitor['conversation_id']}/messages",
                        headers=auth(biz["pk"], visitor["session_token"])).json()["data"]
    [shown] = history[0]["attachments"]
    assert shown["id"] == body["data"]["attachment"]["id"]
    assert shown["mime_type"] == "text/plain"
    got = httpx.get(shown["signed_url"])  # no key
    assert got.status_code == 200
    assert got.content == "Grüße\n".encode()
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
    image = tickki_upload(live, biz["pk"], visitor, "p.png", PNG)[1]["data"]["attachment"]
    got = httpx.get(image["signed_url"])
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("inline")


def test_agent_upload_reaches_the_visitor_socket(live: str, biz: dict[str, Any],
                                                 visitor: dict[str, Any]) -> None:
    client = PusherTestClient.for_session(visitor)
    client.subscribe_session(visitor, biz["pk"])
    try:
        resp = httpx.post(f"{live}/api/v1/tickets/{visitor['conversation_id']}/attachments",
                          headers=auth(biz["sk"]), files={"file": ("invoice.pdf",
                                                                   b"%PDF-1.4\n%\xe2\xe3\n")},
                          data={"content": "Your invoice"})
        assert resp.status_code == 201, resp.text
        created = resp.json()["data"]
        assert created["message"]["direction"] == "outbound"
        assert created["message"]["content"] == "Your invoice"
        event = client.expect("MessageCreated")["data"]
        assert event["id"] == created["message"]["id"]
        [sent] = event["attachments"]
        assert sent["mime_type"] == "application/pdf" and sent["file_name"] == "invoice.pdf"
        assert httpx.get(sent["signed_url"]).content == b"%PDF-1.4\n%\xe2\xe3\n"
    finally:
        client.close()
    ticket = httpx.get(f"{live}/api/v1/tickets/{visitor['conversation_id']}",
                       headers=auth(biz["sk"])).json()["data"]
    assert ticket["messages"][-1]["attachments"][0]["id"] == sent["id"]
    assert ticket["last_message_preview"] == "Your invoice"
    team = httpx.get(f"{live}/api/v1/tickets/{visitor['conversation_id']}/messages",
                     headers=auth(biz["sk"])).json()["data"]
    assert team[0]["attachments"][0]["id"] == sent["id"]
    feed = httpx.get(f"{live}/api/v1/messages", params={"after_id": "0"},
                     headers=auth(biz["sk"])).json()["data"]
    assert feed[-1]["attachments"][0]["id"] == sent["id"]


def test_a_renamed_executable_is_415_and_nothing_is_stored(app: Any, client: Any,
                                                           live: str, biz: dict[str, Any],
                                                           visitor: dict[str, Any]) -> None:
    status, body = tickki_upload(live, biz["pk"], visitor, "cat.png", EXE)
    assert status == 415 and body["error"] == "unsupported_media_type", body
    resp = upload(client, visitor_path(visitor), auth(biz["pk"], visitor["session_token"]),
                  b"\x00\x01binary junk" * 100, "a.txt")
    assert resp.status_code == 415
    assert attachment_rows(app) == 0 and stored_files(app) == []


def test_over_the_limit_is_413_and_nothing_is_stored(tmp_path: Path, migrated_db: Path) -> None:
    import shutil

    from server import create_app
    shutil.copyfile(migrated_db, tmp_path / "test.db")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}", "MAX_UPLOAD_KB": 4})
    client = app.test_client()
    biz = make_business(app)
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v"},
                          headers=auth(biz["pk"])).get_json()["data"]
    resp = upload(client, visitor_path(started), auth(biz["pk"], started["session_token"]),
                  PNG + b"\0" * 5000)
    assert resp.status_code == 413 and resp.get_json()["error"] == "payload_too_large"
    assert attachment_rows(app) == 0 and stored_files(app) == []
    ok = upload(client, visitor_path(started), auth(biz["pk"], started["session_token"]),
                PNG + b"\0" * 3000)
    assert ok.status_code == 201, ok.get_json()  # a legal upload passes the JSON body limit


def test_no_file_field_is_400_and_json_is_415(client: Any, biz: dict[str, Any]) -> None:
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v"},
                          headers=auth(biz["pk"])).get_json()["data"]
    headers = auth(biz["pk"], started["session_token"])
    import io
    resp = client.post(visitor_path(started), data={"other": (io.BytesIO(PNG), "x.png")},
                       headers=headers, content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.get_json()["field"] == "file"
    resp = client.post(visitor_path(started), json={"file": "x"}, headers=headers)
    assert resp.status_code == 415 and resp.get_json()["error"] == "unsupported_media_type"


def test_tampered_and_expired_urls_are_403_json(live: str, biz: dict[str, Any],
                                                visitor: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = tickki_upload(live, biz["pk"], visitor, "p.png", PNG)[1]["data"]["attachment"][
        "signed_url"]
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    resp = httpx.get(tampered)
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    assert resp.headers["content-type"] == "application/json"
    real = time.time()
    with monkeypatch.context() as m:  # the history read signs its URLs 61 minutes ago
        m.setattr(time, "time", lambda: real - 61 * 60)
        old = httpx.get(f"{live}/api/v1/chat/sessions/{visitor['conversation_id']}/messages",
                        headers=auth(biz["pk"], visitor["session_token"])).json()["data"]
    expired = old[0]["attachments"][0]["signed_url"]
    resp = httpx.get(expired)
    assert resp.status_code == 403 and "expired" in resp.json()["message"]
    fresh = httpx.get(f"{live}/api/v1/chat/sessions/{visitor['conversation_id']}/messages",
                      headers=auth(biz["pk"], visitor["session_token"])).json()["data"]
    assert httpx.get(fresh[0]["attachments"][0]["signed_url"]).status_code == 200


def test_another_business_ticket_is_404(app: Any, client: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "v"},
                          headers=auth(biz["pk"])).get_json()["data"]
    resp = upload(client, f"/api/v1/tickets/{started['conversation_id']}/attachments",
                  auth(other["sk"]), PNG)
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    assert attachment_rows(app) == 0 and stored_files(app) == []


def test_erasing_the_contact_removes_the_files(app: Any, client: Any,
                                              biz: dict[str, Any]) -> None:
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "gone"},
                          headers=auth(biz["pk"])).get_json()["data"]
    resp = upload(client, visitor_path(started), auth(biz["pk"], started["session_token"]), PNG)
    url = resp.get_json()["data"]["attachment"]["signed_url"]
    assert len(stored_files(app)) == 1
    with session_scope(app) as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.visitor_id == "gone"))
    assert client.delete(f"/api/v1/contacts/{contact_id}",
                         headers=auth(biz["sk"])).status_code == 200
    assert stored_files(app) == [] and attachment_rows(app) == 0
    assert client.get(urlsplit(url).path).status_code == 404


def test_config_offers_uploads(client: Any, biz: dict[str, Any]) -> None:
    data = client.get("/api/v1/chat/config", headers=auth(biz["pk"])).get_json()["data"]
    assert data["features"]["file_uploads"] is True
    assert data["limits"]["max_upload_kb"] == 5120


# ---------- memory: the body is streamed, never held ----------------------------------------


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def worker_pid(served: ServedProcess) -> int:
    import subprocess
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(served.proc.pid)],
                         capture_output=True, text=True).stdout
    [pid] = [int(p) for p in out.split()]
    return pid


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    proc = ServedProcess(tmp_path_factory.mktemp("uploads"),
                         env={"CHATDOCK_MAX_UPLOAD_KB": "1024", "CHATDOCK_LOG_LEVEL": "WARNING"})
    yield proc
    proc.stop()


def chunked_body(total: int) -> Iterator[bytes]:
    """A multipart body `total` bytes of file long, produced as it is sent."""
    boundary = "b0undary"
    yield (f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; "
           'filename="big.png"\r\ncontent-type: image/png\r\n\r\n').encode() + PNG
    chunk = b"\0" * (1024 * 1024)
    for _ in range(total // len(chunk)):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_50_mb_upload_is_413_with_memory_flat(small_limit_server: ServedProcess) -> None:
    served = small_limit_server
    started = start_visitor(served.base, served.pk, "big-sender")
    headers = {**auth(served.pk, started["session_token"]),
               "Content-Type": "multipart/form-data; boundary=b0undary"}
    pid = worker_pid(served)
    before = vm_rss_kb(pid)
    try:  # chunked (no Content-Length): the server must count the bytes itself
        resp = httpx.post(f"{served.base}{visitor_path(started)}", headers=headers,
                          content=chunked_body(50 * 1024 * 1024), timeout=60)
        assert resp.status_code == 413 and "1024 KB" in resp.json()["message"], resp.text
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server may close the socket while the client is still sending
    grew = vm_rss_kb(pid) - before
    assert grew < 4 * 1024, f"the worker grew {grew} KB"
    # and with a Content-Length over the limit it answers before reading the body
    resp = httpx.post(f"{served.base}{visitor_path(started)}", headers=headers,
                      content=b"".join(chunked_body(2 * 1024 * 1024)))
    assert resp.status_code == 413
    stored = Path(served.env["CHATDOCK_DATABASE_URL"].removeprefix("sqlite:///")).parent
    assert [p for p in (stored / "uploads").rglob("*") if p.is_file()] == []


def test_an_upload_just_under_the_limit_is_stored(small_limit_server: ServedProcess) -> None:
    served = small_limit_server
    started = start_visitor(served.base, served.pk, "near-the-limit")
    data = PNG + os.urandom(1024 * 1024 - len(PNG))  # exactly MAX_UPLOAD_KB
    status, body = tickki_upload(served.base, served.pk, started, "full.png", data)
    assert status == 201, body
    assert httpx.get(body["data"]["attachment"]["signed_url"]).content == data


def test_an_idempotency_key_replays_the_same_upload(app: Any, client: Any,
                                                    biz: dict[str, Any]) -> None:
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "retry"},
                          headers=auth(biz["pk"])).get_json()["data"]
    headers = auth(biz["pk"], started["session_token"], **{"Idempotency-Key": "upload-1"})
    first = upload(client, visitor_path(started), headers, PNG)
    again = upload(client, visitor_path(started), headers, PNG)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = upload(client, visitor_path(started), headers, PNG + b"more")
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_conflict"
    assert attachment_rows(app) == 1 and len(stored_files(app)) == 1


def test_the_message_created_webhook_carries_the_attachment(app: Any, client: Any,
                                                           biz: dict[str, Any]) -> None:
    with session_scope(app) as session:
        session.add(WebhookEndpoint(business_id=biz["id"], mode="test", url="https://hooks.test/",
                                    events=["message.created"], secret=new_secret()))
    started = client.post("/api/v1/chat/sessions", json={"visitor_id": "hooked"},
                          headers=auth(biz["pk"])).get_json()["data"]
    sent = upload(client, visitor_path(started), auth(biz["pk"], started["session_token"]),
                  PNG).get_json()["data"]
    with session_scope(app) as session:
        [payload] = session.scalars(select(WebhookEvent.payload).where(
            WebhookEvent.type == "message.created"))
    assert payload["type"] == "attachment"
    assert payload["attachments"][0]["id"] == sent["attachment"]["id"]
    assert payload["attachments"][0]["signed_url"].startswith("http")


def test_upload_history_download_and_erasure_on_postgresql(tmp_path: Path) -> None:
    from server import create_app
    try:
        admin = connect_postgres()
    except ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PostgreSQL is not reachable")
    with postgres_database(admin) as url:
        db_upgrade(url)
        app = create_app({"DATABASE_URL": url, "UPLOAD_DIR": str(tmp_path / "files")})
        try:
            client, biz = app.test_client(), make_business(app)
            started = client.post("/api/v1/chat/sessions", json={"visitor_id": "pg"},
                                  headers=auth(biz["pk"])).get_json()["data"]
            headers = auth(biz["pk"], started["session_token"])
            assert upload(client, visitor_path(started), headers, PNG).status_code == 201
            history = client.get(f"/api/v1/chat/sessions/{started['conversation_id']}/messages",
                                 headers=headers).get_json()["data"]
            url_path = urlsplit(history[0]["attachments"][0]["signed_url"]).path
            assert client.get(url_path).data == PNG
            with session_scope(app) as session:
                contact_id = session.scalar(select(Contact.id).where(Contact.visitor_id == "pg"))
            assert client.delete(f"/api/v1/contacts/{contact_id}",
                                 headers=auth(biz["sk"])).status_code == 200
            assert stored_files(app) == [] and client.get(url_path).status_code == 404
        finally:
            app.extensions["engine"].dispose()
