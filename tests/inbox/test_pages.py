"""The owner pages and the contact panel with the real AsyncAgentClient against the real
server on a socket, logged in as the business's owner (the pages are driven unmounted,
which also proves they tolerate not being on a page)."""

from __future__ import annotations

import asyncio
from typing import Any

import flet as ft
import httpx
import pytest

from app_flet.headless import AuthError
from app_flet.headless.agent import AgentClient, AsyncAgentClient
from app_flet.inbox.contact_panel import ContactPanel
from app_flet.inbox.pages import SAVED, BrandingPage, KeysPage, TeamPage
from app_flet.ui.theme import DEFAULT_PRIMARY, ERROR
from tests.conftest import auth
from tests.flet_page import InMemoryPage, find, find_all
from tests.ui.conftest import fire, run


def texts(row: Any) -> list[str]:
    return [c.value for c in row.controls if isinstance(c, ft.Text)]


def shown(panel: Any) -> str | None:
    return panel.status.value if panel.status.visible else None


def type_in(fp: InMemoryPage, field: ft.TextField, text: str) -> None:
    """What the Flutter client sends when the user types into a field."""
    fp.session.apply_patch(field._i, {"value": text})


# ---------- branding ----------

def test_branding_edits_repaint_the_preview_and_save_persists(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        page = BrandingPage(owner_client)
        await page.load()
        assert page.primary.value == DEFAULT_PRIMARY
        assert page.preview.bgcolor == DEFAULT_PRIMARY and page.preview.name.value == "Acme"

        page.primary.value = "#0e7490"
        await fire(page.primary, "change")
        page.welcome.value = "Hi from **Acme** <b>team</b>"
        await fire(page.welcome, "change")
        preview = find(page, "branding-preview")
        assert preview.bgcolor == "#0E7490"
        assert page.preview_welcome.value == "Hi from **Acme** <b>team</b>"
        assert (await owner_client.get_branding()).primary_color == DEFAULT_PRIMARY  # not saved

        page.accent.value, page.logo.value = "#FDE047", "https://acme.test/logo.png"
        await fire(page.save_button)
        assert shown(page) == SAVED
        saved = await owner_client.get_branding()
        assert (saved.primary_color, saved.accent_color) == ("#0E7490", "#FDE047")
        assert saved.welcome_message == "Hi from **Acme** <b>team</b>"
        assert saved.logo_url == "https://acme.test/logo.png"
        assert page.preview.logo.visible and page.preview.logo.src == saved.logo_url

        again = BrandingPage(owner_client)
        await again.load()
        assert (again.primary.value, again.welcome.value) == ("#0E7490", saved.welcome_message)
    run(scenario)


def test_on_a_page_typing_a_color_sends_the_repainted_preview(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            page = BrandingPage(owner_client)
            fp.page.add(page)
            await page.load()
            assert fp.visible("branding-preview") and fp.sent(DEFAULT_PRIMARY)
            type_in(fp, page.primary, "#0e7490")
            await fp.session.dispatch_event(page.primary._i, "change", None)
            # only the preview repaint carries the upper-cased color to the client
            await fp.wait_for(lambda: fp.sent("#0E7490"), what="the preview patch")
            fp.page.remove(page)  # the shell shows another page while this one saves
            await fire(page.save_button)
            assert shown(page) == SAVED
            assert (await owner_client.get_branding()).primary_color == "#0E7490"
    run(scenario)


def test_branding_refused_shows_the_servers_words_and_changes_nothing(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        page = BrandingPage(owner_client)
        await page.load()
        page.primary.value = "teal"
        await fire(page.primary, "change")
        assert page.preview.bgcolor == DEFAULT_PRIMARY  # a malformed color previews the default
        await fire(page.save_button)
        assert shown(page) == "primary_color must be a color like #4F46E5."
        assert page.status.color == ERROR
        assert (await owner_client.get_branding()).primary_color == DEFAULT_PRIMARY
    run(scenario)


# ---------- keys ----------

def _rows(page: KeysPage) -> dict[int, Any]:
    return {int(str(row.key).removeprefix("key-")): row for row in page.rows.controls}


def test_mint_shows_the_secret_once_and_it_works_until_revoked(
        owner_client: AsyncAgentClient, owner: dict[str, Any], base: str) -> None:
    async def scenario() -> None:
        page = KeysPage(owner_client)
        await page.load()
        assert set(_rows(page)) == {owner["pk_id"], owner["sk_id"]}
        assert not page.minted.visible

        page.kind.value, page.mode.value, page.name.value = "secret", "test", "CI <deploy>"
        await fire(page.mint_button)
        secret_text = find(page, "minted-secret")
        secret = secret_text.value
        assert page.minted.visible and secret.startswith("sk_test_")
        assert "will not be shown again" in " ".join(
            c.value for c in find_all(page.minted, lambda c: isinstance(c, ft.Text)))
        await fire(find(page, "minted-secret-copy"))  # no page: copying is a no-op, no crash
        (new_id,) = set(_rows(page)) - {owner["pk_id"], owner["sk_id"]}
        row = find(page, f"key-{new_id}")
        assert texts(row)[1:4] == ["secret", "test", "CI <deploy>"]
        assert secret.startswith(texts(row)[0]) and texts(row)[0] != secret
        with AgentClient(base, secret_key=secret) as by_key:
            assert by_key.list_tickets().tickets == ()

        await page.load()  # shown again: the plaintext is gone
        assert not page.minted.visible and page.minted.secret.value == ""

        row = find(page, f"key-{new_id}")
        await fire(row.revoke_button)
        assert row.confirm.visible and not row.revoke_button.visible
        await fire(find(page, f"cancel-revoke-{new_id}"))
        assert not row.confirm.visible and row.revoke_button.visible
        with AgentClient(base, secret_key=secret) as by_key:
            by_key.list_tickets()  # asking, then cancelling, revoked nothing
        await fire(find(page, f"revoke-{new_id}"))
        await fire(find(page, f"confirm-revoke-{new_id}"))
        assert texts(find(page, f"key-{new_id}"))[5] != ""
        assert find(page, f"revoke-{new_id}").visible is False
        with AgentClient(base, secret_key=secret) as by_key, pytest.raises(AuthError):
            by_key.list_tickets()
    run(scenario)


def test_mint_refused_shows_the_error_and_mints_nothing(
        owner_client: AsyncAgentClient, owner: dict[str, Any]) -> None:
    async def scenario() -> None:
        page = KeysPage(owner_client)
        await page.load()
        page.name.value = "x" * 201
        await fire(page.mint_button)
        assert shown(page) == "name must be a string of at most 200 characters."
        assert not page.minted.visible
        assert {k.id for k in await owner_client.list_keys()} == {owner["pk_id"], owner["sk_id"]}
    run(scenario)


def test_a_double_click_on_mint_mints_one_key(
        owner_client: AsyncAgentClient, owner: dict[str, Any]) -> None:
    async def scenario() -> None:
        page = KeysPage(owner_client)
        await page.load()
        await asyncio.gather(fire(page.mint_button), fire(page.mint_button))
        assert len(await owner_client.list_keys()) == 3 and len(page.rows.controls) == 3
        assert page.minted.visible and not page.mint_button.disabled
    run(scenario)


def test_on_a_page_rows_stay_live_across_reloads(
        owner_client: AsyncAgentClient, owner: dict[str, Any], base: str) -> None:
    """Minting reloads the rows; the reloaded rows' buttons still work (Flet freezes a
    control rebuilt under the same key, so the rows are reused)."""
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            page = KeysPage(owner_client)
            fp.page.add(page)
            await page.load()
            for name in ("first", "second"):
                type_in(fp, page.name, name)
                await fp.click("mint-key")
                assert fp.visible("minted-secret") and fp.sent(page.minted.secret.value)
            sk = f"revoke-{owner['sk_id']}"
            await fp.click(sk)
            assert fp.visible(f"confirm-revoke-{owner['sk_id']}") and not fp.visible(sk)
            await fp.click(f"confirm-revoke-{owner['sk_id']}")
            assert shown(page) == "Key revoked" and not fp.visible(sk)
            with AgentClient(base, secret_key=owner["sk"]) as by_key, pytest.raises(AuthError):
                by_key.list_tickets()
    run(scenario)


# ---------- team ----------

def test_invite_adds_a_row_with_a_working_token_and_deactivate_marks_it(
        owner_client: AsyncAgentClient, owner: dict[str, Any], base: str) -> None:
    async def scenario() -> None:
        page = TeamPage(owner_client)
        await page.load()
        assert set(find_all(page.rows, lambda c: str(c.key or "").startswith("agent-"))) == {
            find(page, f"agent-{owner['owner_id']}")}

        page.email.value, page.name.value = "New.Agent@Acme.test", "Nia <New>"
        await fire(page.invite_button)
        token = find(page, "invite-token").value
        assert page.invite.visible and token
        (agent,) = [a for a in await owner_client.list_agents() if a.id != owner["owner_id"]]
        assert texts(find(page, f"agent-{agent.id}")) == [
            "Nia <New>", "new.agent@acme.test", "agent", "offline", "invited", "active"]
        accepted = httpx.post(f"{base}/api/v1/auth/accept-invite",
                              json={"token": token, "password": "a long passphrase"})
        assert accepted.status_code == 200, accepted.text

        await page.load()
        assert not page.invite.visible
        assert texts(find(page, f"agent-{agent.id}"))[4] == "joined"
        await fire(find(page, f"deactivate-{agent.id}"))
        assert texts(find(page, f"agent-{agent.id}"))[5] == "deactivated"
        assert find(page, f"deactivate-{agent.id}").visible is False
        assert [a.active for a in await owner_client.list_agents() if a.id == agent.id] == [False]
    run(scenario)


def test_on_a_page_invite_then_deactivate(owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            page = TeamPage(owner_client)
            fp.page.add(page)
            await page.load()
            type_in(fp, page.email, "kai@acme.test")
            type_in(fp, page.name, "Kai")
            await fp.click("invite")
            assert fp.visible("invite-token") and fp.sent(page.invite.secret.value)
            assert page.email.value == "" and fp.sent("kai@acme.test")
            (kai,) = [a for a in await owner_client.list_agents() if a.name == "Kai"]
            await page.load()  # the shell shows the page again: the same rows, reloaded
            assert not fp.visible("invite-token")
            await fp.click(f"deactivate-{kai.id}")
            assert shown(page) == "Agent deactivated" and not fp.visible(f"deactivate-{kai.id}")
            assert fp.sent("deactivated")
    run(scenario)


def test_invite_of_a_taken_email_shows_the_error(owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        page = TeamPage(owner_client)
        await page.load()
        page.email.value, page.name.value = "owner@acme.test", "Again"
        await fire(page.invite_button)
        assert shown(page) == "An agent with this email already exists."
        assert not page.invite.visible and len(page.rows.controls) == 1
    run(scenario)


# ---------- contact panel ----------

def _ticket(base: str, sk: str, email: str, message: str, name: str = "Ann") -> dict[str, Any]:
    resp = httpx.post(f"{base}/api/v1/tickets", headers=auth(sk), json={
        "customer": {"email": email, "name": name}, "message": message, "subject": message})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


def test_contact_panel_saves_fields_and_opens_past_conversations(
        owner_client: AsyncAgentClient, owner: dict[str, Any], base: str) -> None:
    first = _ticket(base, owner["sk"], "ann@example.test", "Where is **my** order?")
    current = _ticket(base, owner["sk"], "ann@example.test", "Still waiting")
    _ticket(base, owner["sk"], "bob@example.test", "Someone else's", name="Bob")
    contact_id = current["customer"]["id"]
    opened: list[int] = []

    async def on_open(ticket_id: int) -> None:
        opened.append(ticket_id)

    async def scenario() -> None:
        panel = ContactPanel(owner_client, on_open)
        await panel.show(contact_id, current_ticket_id=current["id"])
        assert (panel.name.value, panel.email.value) == ("Ann", "ann@example.test")
        past: list[Any] = find_all(panel.past, lambda c: str(c.key or "").startswith("past-"))
        assert [str(b.key) for b in past] == [f"past-{first['id']}"]
        assert "Where is **my** order?" in past[0].content.value
        await fire(past[0])
        assert opened == [first["id"]]

        panel.name.value, panel.phone.value = "Ann Lee", "+1 555 0100"
        await fire(panel.save_button)
        assert shown(panel) == SAVED
        contact = await owner_client.get_contact(contact_id)
        assert (contact.name, contact.email, contact.phone) == (
            "Ann Lee", "ann@example.test", "+1 555 0100")

        panel.email.value = "not an email"
        await fire(panel.save_button)
        assert panel.status.color == ERROR and shown(panel)
        assert (await owner_client.get_contact(contact_id)).email == "ann@example.test"
    run(scenario)


def test_contact_panel_shows_a_missing_contact_as_an_error(
        owner_client: AsyncAgentClient) -> None:
    async def never(ticket_id: int) -> None:
        raise AssertionError("nothing to open")

    async def scenario() -> None:
        panel = ContactPanel(owner_client, never)
        await panel.show(999_999)
        assert panel.status.color == ERROR and shown(panel)
        assert panel.save_button.disabled and panel.past.controls == []
    run(scenario)


# ---------- canned responses ----------

def test_canned_responses_add_edit_delete_and_the_reply_expands_the_edit(
        owner_client: AsyncAgentClient) -> None:
    from app_flet.inbox.conversation import CannedResponses
    from app_flet.inbox.pages import CannedPage

    async def scenario() -> None:
        canned = CannedResponses(owner_client)
        page = CannedPage(owner_client, canned.forget)
        await page.load()
        assert page.rows.controls == []
        page.shortcut.value, page.content.value = "/Refund", "Your refund is on its way."
        await fire(page.save_button)
        (stored,) = await owner_client.canned_responses()
        assert (stored.shortcut, stored.content) == ("refund", "Your refund is on its way.")
        row = find(page, f"canned-{stored.id}")
        assert texts(row) == ["/refund", "Your refund is on its way."]
        assert page.shortcut.value == "" and await canned.find("refund") == stored.content

        # a taken shortcut: the server's words, the fields keep what was typed, nothing added
        page.shortcut.value, page.content.value = "refund", "again"
        await fire(page.save_button)
        assert shown(page) is not None and page.status.color == ERROR
        assert page.content.value == "again" and len(await owner_client.canned_responses()) == 1

        await fire(find(page, f"edit-canned-{stored.id}"))
        assert page.shortcut.value == "refund" and page.save_button.content == "Save response"
        page.content.value = "Refunded <b>today</b>."
        await fire(page.save_button)
        (edited,) = await owner_client.canned_responses()
        assert edited.id == stored.id and edited.content == "Refunded <b>today</b>."
        assert texts(find(page, f"canned-{stored.id}"))[1] == "Refunded <b>today</b>."
        assert await canned.find("refund") == "Refunded <b>today</b>."  # not the stale copy

        await fire(find(page, f"delete-canned-{stored.id}"))
        assert await owner_client.canned_responses() == []
        assert page.rows.controls == [] and await canned.find("refund") is None
    run(scenario)
