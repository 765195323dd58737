"""The owner's Webhooks page with the real AsyncAgentClient against the real server on a
socket, whose delivery thread POSTs to a local receiver that verifies every signature with
Stripe's library (driven unmounted, as test_pages.py drives the other owner pages)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app_flet.headless.agent import AgentClient, AsyncAgentClient
from app_flet.inbox.webhooks_page import DeliveryRow, EndpointRow, WebhooksPage
from app_flet.ui.theme import ERROR
from tests.conftest import agent_token, make_business, serving
from tests.flet_page import InMemoryPage
from tests.test_webhooks import Receiver, fast, receiving
from tests.ui.conftest import fire, run


@pytest.fixture
def owner(app: Any) -> dict[str, Any]:
    return make_business(app)


@pytest.fixture
def owner_client(app: Any, owner: dict[str, Any]) -> Iterator[AsyncAgentClient]:
    """The owner's client; the server's delivery thread reaches 127.0.0.1, retries never."""
    fast(app, [])
    token = agent_token(app, owner["id"], user_id=owner["owner_id"])
    with serving(app) as base:
        client = AsyncAgentClient.from_client(AgentClient(base, token=token))
        yield client
        client.sync.close()


def cells(row: Any) -> list[str]:
    return [cell.value for cell in row.cells]


def shown(page: WebhooksPage) -> str | None:
    return page.status.value if page.status.visible else None


def endpoint_rows(page: WebhooksPage) -> list[EndpointRow]:
    return list(page.rows.controls)


def delivery_rows(page: WebhooksPage) -> list[DeliveryRow]:
    return list(page.deliveries.controls)


async def refreshed_until(page: WebhooksPage, status: str, timeout: float = 15.0
                          ) -> DeliveryRow:
    """Press "Refresh" until the newest delivery shows `status` (the worker sends it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await fire(page.refresh_button)
        rows = delivery_rows(page)
        if rows and cells(rows[0])[1] == status:
            return rows[0]
        assert loop.time() < deadline, [cells(row) for row in rows]
        await asyncio.sleep(0.05)


def test_add_shows_the_secret_once_and_a_test_is_delivered_signed(
        owner_client: AsyncAgentClient) -> None:
    receiver = Receiver()

    async def scenario() -> None:
        page = WebhooksPage(owner_client)
        await page.load()
        assert endpoint_rows(page) == [] and not page.log.visible
        with receiving(receiver) as url:
            page.url.value, page.description.value = url, "CRM"
            page.events.all.value = False
            await fire(page.events.all, "change")
            assert not page.events.types["message.created"].disabled
            page.events.types["message.created"].value = True
            await fire(page.add_button)
            assert shown(page) is None
            secret = page.secret.secret.value or ""
            assert page.secret.visible and secret.startswith("whsec_")
            receiver.secret = secret
            [row] = endpoint_rows(page)
            assert cells(row) == [url, "message.created", "enabled"]
            assert page.url.value == "" and page.events.all.value is True  # ready for the next
            [endpoint] = await owner_client.list_webhooks()
            assert endpoint.events == ("message.created",) and endpoint.description == "CRM"

            await fire(row.test_button)
            assert shown(page) == "Test event queued" and page.log.visible
            assert page.deliveries_title.value == f"Deliveries to {url} (1)"
            done = await refreshed_until(page, "succeeded")
            assert cells(done)[:4] == ["webhook.test", "succeeded", "1", "200"]
            assert not done.retry_button.visible
            [request] = receiver.accepted()  # verified with the secret the page showed
            assert request["type"] == "webhook.test"

        again = WebhooksPage(owner_client)
        await again.load()
        assert not again.secret.visible and again.secret.secret.value == ""
        assert [cells(r) for r in endpoint_rows(again)] == [[url, "message.created",
                                                             "enabled"]]
    run(scenario)


def test_a_failed_delivery_shows_its_code_and_retry_delivers_it(
        owner_client: AsyncAgentClient) -> None:
    receiver = Receiver(lambda n: 503 if n == 1 else 200)

    async def scenario() -> None:
        with receiving(receiver) as url:
            receiver.secret = (await owner_client.create_webhook(url, ["*"])).secret
            page = WebhooksPage(owner_client)
            await page.load()
            [row] = endpoint_rows(page)
            assert cells(row)[1] == "all events"
            await fire(row.test_button)
            failed = await refreshed_until(page, "failed")
            assert cells(failed)[:5] == ["webhook.test", "failed", "1", "503", "HTTP 503"]
            assert failed.cells[1].color == ERROR and failed.retry_button.visible
            await fire(failed.retry_button)
            assert shown(page) == "Delivery queued again"
            done = await refreshed_until(page, "succeeded")
            assert done is failed and cells(done)[:4] == ["webhook.test", "succeeded", "2",
                                                          "200"]
            assert not done.retry_button.visible
        assert len({r["webhook_id"] for r in receiver.requests}) == 1  # one delivery, twice
    run(scenario)


def test_disable_enable_and_delete(owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        created = await owner_client.create_webhook("http://127.0.0.1:9/hooks",
                                                    ["contact.updated"])
        page = WebhooksPage(owner_client)
        await page.load()
        [row] = endpoint_rows(page)
        await fire(row.toggle_button)
        assert shown(page) == "Endpoint disabled"
        assert cells(row)[2].startswith("disabled ") and row.toggle_button.content == "Enable"
        await fire(row.test_button)  # the server refuses a test to a disabled endpoint
        assert shown(page) == "This endpoint is disabled; enable it first (PATCH enabled)."
        assert page.status.color == ERROR
        await fire(row.toggle_button)
        assert cells(row)[2] == "enabled" and row.toggle_button.content == "Disable"

        await fire(row.delete_button)
        assert row.confirm.visible and not row.delete_button.visible
        await fire(row.confirm.controls[2])  # Cancel
        assert not row.confirm.visible and await owner_client.list_webhooks()
        await fire(row.delete_button)
        await fire(row.confirm.controls[1])  # Yes, delete
        assert shown(page) == "Endpoint deleted" and endpoint_rows(page) == []
        assert await owner_client.list_webhooks() == []
        assert created.endpoint.id not in {r.endpoint.id for r in endpoint_rows(page)}
    run(scenario)


def test_a_refused_url_shows_the_servers_words_and_adds_nothing(
        app: Any, owner_client: AsyncAgentClient) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False

    async def scenario() -> None:
        page = WebhooksPage(owner_client)
        await page.load()
        page.url.value = "http://127.0.0.1:9/hooks"
        await fire(page.add_button)
        assert (shown(page) or "").startswith("url is refused: its host resolves to a "
                                              "non-public address")
        assert page.status.color == ERROR and not page.secret.visible
        assert page.url.value == "http://127.0.0.1:9/hooks"  # kept, to fix
        assert endpoint_rows(page) == [] and await owner_client.list_webhooks() == []
    run(scenario)


def test_on_a_page_typing_a_url_and_clicking_add_sends_the_secret(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        async with InMemoryPage() as fp:
            page = WebhooksPage(owner_client)
            fp.page.add(page)
            await page.load()
            assert not fp.visible("webhook-secret") and not fp.visible("delivery-log")
            fp.type_into("webhook-url", "http://127.0.0.1:9/hooks")
            await fp.click("add-webhook")
            await fp.wait_for(lambda: fp.visible("webhook-secret"), what="the secret box")
            secret = page.secret.secret.value
            assert secret and secret.startswith("whsec_") and fp.sent(secret)
            [endpoint] = await owner_client.list_webhooks()
            assert fp.visible(f"webhook-{endpoint.id}") and fp.visible("delivery-log")
    run(scenario)
