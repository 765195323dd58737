"""What `chatdock serve` answers to requests the app never sees whole (gunicorn's own error
pages) or that a router could redirect: always the contract's JSON, never HTML, never a
Location built from a request header. Raw bytes on a socket, as an attacker sends them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import ServedProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    proc = ServedProcess(tmp_path_factory.mktemp("edge"),
                         env={"CHATDOCK_PUBLIC_URL": "https://chat.example.com"})
    yield proc
    proc.stop()


def exchange(server: ServedProcess, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes or the first answer is complete."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body[:_length(data)]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def assert_contract_error(headers: dict[str, str], body: bytes, code: str) -> None:
    assert headers["content-type"] == "application/json", headers
    answer = json.loads(body)
    assert answer["error"] == code and isinstance(answer["message"], str), answer
    assert set(answer) <= {"error", "message", "field"}
    assert b"<html" not in body


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 400) for i in range(100)) + b"\r\n",
     431, "headers_too_large"),
], ids=["malformed-request-line", "10kb-uri", "40kb-headers"])
def test_gunicorn_error_pages_are_contract_json(server: ServedProcess, raw: bytes, status: int,
                                                code: str) -> None:
    got, headers, body = exchange(server, raw)
    assert got == status
    assert_contract_error(headers, body, code)


def test_a_malformed_chunk_is_a_400_not_a_500(server: ServedProcess) -> None:
    raw = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    status, headers, body = exchange(server, raw)
    assert status == 400
    assert_contract_error(headers, body, "malformed_body")
    assert "Traceback" not in "".join(server.output)


def test_a_doubled_slash_is_a_404_with_no_redirect_from_the_host(server: ServedProcess) -> None:
    raw = (b"POST /api/v1//tickets HTTP/1.1\r\nHost: evil.example\r\n"
           b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    status, headers, body = exchange(server, raw)
    assert status == 404
    assert "location" not in headers
    assert_contract_error(headers, body, "not_found")


def test_a_raw_lone_surrogate_in_a_body_is_invalid_json(server: ServedProcess) -> None:
    """UTF-8 never encodes a surrogate: the bytes ED A0 80 are not text (they were a 500)."""
    body = b'{"visitor_id": "\xed\xa0\x80"}'
    raw = (b"POST /api/v1/chat/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Authorization: Bearer " + server.pk.encode() + b"\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, headers, answer = exchange(server, raw)
    assert status == 400
    assert_contract_error(headers, answer, "invalid_json")
