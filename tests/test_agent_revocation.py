"""Agent tokens can be revoked: POST /auth/logout ends the agent's tokens, DELETE /agents/{id}
deactivates the agent; both hold on every process at once and close the agent's sockets."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from tests.conftest import agent_token, auth, make_business
from tests.test_admin import business_socket
from tests.test_scaleout import postgres_url, redis_url, two_workers, worker_pids  # noqa: F401

API = "/api/v1"
PASSWORD = "correct horse battery"


def new_agent(client: Any, sk: str, email: str = "ann@acme.test", role: str = "agent") -> int:
    made = client.post(f"{API}/agents", json={"email": email, "password": PASSWORD,
                                              "role": role}, headers=auth(sk))
    assert made.status_code == 201, made.get_data(as_text=True)
    return int(made.get_json()["data"]["id"])


def login(client: Any, email: str = "ann@acme.test") -> str:
    resp = client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD,
                                                  "mode": "test"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return str(resp.get_json()["data"]["token"])


def test_logout_ends_every_token_of_the_agent(client: Any, biz: dict[str, Any]) -> None:
    new_agent(client, biz["sk"])
    phone, laptop = login(client), login(client)
    assert client.get(f"{API}/tickets", headers=auth(phone)).status_code == 200
    out = client.post(f"{API}/auth/logout", headers=auth(phone))
    assert (out.status_code, out.get_json()) == (200, {"ok": True})
    for token in (phone, laptop):
        refused = client.get(f"{API}/tickets", headers=auth(token))
        assert refused.status_code == 401
        assert refused.get_json() == {"error": "token_revoked", "message": (
            "The agent token was revoked (logged out); log in again.")}
    again = login(client)  # logging in again works at once
    assert client.get(f"{API}/tickets", headers=auth(again)).status_code == 200


def test_logout_ends_tokens_issued_before_it_had_an_issue_time(app: Any, client: Any,
                                                               biz: dict[str, Any]) -> None:
    token = agent_token(app, biz["id"])  # signed {u, b, m}: as tokens minted before logout
    assert client.post(f"{API}/auth/logout", headers=auth(token)).status_code == 200
    assert client.get(f"{API}/tickets", headers=auth(token)).get_json()["error"] == (
        "token_revoked")


def test_a_secret_key_does_not_log_out(client: Any, biz: dict[str, Any]) -> None:
    resp = client.post(f"{API}/auth/logout", headers=auth(biz["sk"]))
    assert resp.status_code == 403 and resp.get_json()["error"] == "forbidden"
    assert client.get(f"{API}/tickets", headers=auth(biz["sk"])).status_code == 200


def test_an_owner_deactivates_an_agent(app: Any, client: Any, biz: dict[str, Any]) -> None:
    ann = new_agent(client, biz["sk"])
    token = login(client)
    owner = agent_token(app, biz["id"], role="owner")
    assert client.delete(f"{API}/agents/{ann}", headers=auth(token)).status_code == 403
    done = client.delete(f"{API}/agents/{ann}", headers=auth(owner))
    assert done.status_code == 200
    data = done.get_json()["data"]
    assert (data["id"], data["active"], data["online"]) == (ann, False, False)
    assert client.get(f"{API}/tickets", headers=auth(token)).status_code == 401
    relogin = client.post(f"{API}/auth/login", json={"email": "ann@acme.test",
                                                     "password": PASSWORD})
    assert relogin.get_json()["error"] == "invalid_credentials"
    again = client.delete(f"{API}/agents/{ann}", headers=auth(owner))  # once
    assert again.get_json()["data"]["deactivated_at"] == data["deactivated_at"]


def test_deactivation_stays_in_the_business(app: Any, client: Any, biz: dict[str, Any]) -> None:
    other = make_business(app, "Other")
    theirs = new_agent(client, other["sk"], "bob@other.test")
    resp = client.delete(f"{API}/agents/{theirs}", headers=auth(biz["sk"]))
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    assert client.get(f"{API}/tickets", headers=auth(login(client, "bob@other.test"))
                      ).status_code == 200


def test_the_last_owner_stays(client: Any, biz: dict[str, Any]) -> None:
    owners = [a for a in client.get(f"{API}/agents", headers=auth(biz["sk"])).get_json()["data"]
              if a["role"] == "owner"]
    resp = client.delete(f"{API}/agents/{owners[0]['id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 400 and "last active owner" in resp.get_json()["message"]


def test_logout_closes_the_agents_sockets_but_not_the_next_login(live: str, app: Any,
                                                                 biz: dict[str, Any]) -> None:
    httpx.post(f"{live}{API}/agents", json={"email": "ann@acme.test", "password": PASSWORD},
               headers=auth(biz["sk"])).raise_for_status()

    def log_in() -> str:
        answer = httpx.post(f"{live}{API}/auth/login", json={
            "email": "ann@acme.test", "password": PASSWORD, "mode": "test"})
        return str(answer.json()["data"]["token"])
    token = log_in()
    before = business_socket(live, app, token, biz["id"])
    owner = business_socket(live, app, biz["sk"], biz["id"])
    assert httpx.post(f"{live}{API}/auth/logout", headers=auth(token)).status_code == 200
    assert before.close_code(timeout=6) == 4009
    after = business_socket(live, app, log_in(), biz["id"])
    time.sleep(5)  # two more revocation polls: the logout already acted on is not repeated
    assert after.connected and owner.connected
    for sock in (before, after, owner):
        sock.close()


def test_deactivation_holds_on_every_worker_at_once(
        tmp_path: Path, postgres_url: str, redis_url: str) -> None:  # noqa: F811
    server = two_workers(tmp_path, postgres_url, redis_url)
    sockets: list[Any] = []
    try:
        base, sk = server.base, server.sk
        made = httpx.post(f"{base}{API}/agents", json={"email": "ann@demo.test",
                                                       "password": PASSWORD}, headers=auth(sk))
        ann = made.json()["data"]["id"]
        login = httpx.post(f"{base}{API}/auth/login", json={
            "email": "ann@demo.test", "password": PASSWORD, "mode": "live"}).json()["data"]
        token, realtime = login["token"], login["realtime"]
        keyed = SimpleNamespace(config={"REALTIME_APP_KEY": realtime["key"]})
        business_id = int(realtime["channel"].rsplit(".", 1)[1])
        for _ in range(8):  # spread over both workers
            sockets.append(business_socket(base, keyed, token, business_id))
        assert len(worker_pids(server.port)) == 2
        assert httpx.delete(f"{base}{API}/agents/{ann}", headers=auth(sk)).status_code == 200
        for _ in range(8):  # every request, whichever worker answers it
            assert httpx.get(f"{base}{API}/tickets", headers=auth(token)).status_code == 401
        assert [s.close_code(timeout=8) for s in sockets] == [4009] * 8
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
