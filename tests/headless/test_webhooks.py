"""AgentClient's webhook calls against the real server: REST in process (WSGI transport), the
delivery thread of the `live` server POSTing to a local receiver that verifies every
signature with Stripe's library."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app_flet.headless import AgentClient, AsyncAgentClient, ForbiddenError, ValidationError
from app_flet.headless.agent_models import CreatedWebhook, WebhookDelivery
from tests.headless.conftest import Login
from tests.test_webhooks import Receiver, fast, receiving


@pytest.fixture
def owner(app: Any, boss: Login, live: str) -> Iterator[AgentClient]:
    """The owner's client; the live server's delivery thread reaches 127.0.0.1 at once."""
    fast(app, [])  # no retries: the first refused attempt fails the delivery
    client = AgentClient("http://testserver", token=boss.token,
                         transport=httpx.WSGITransport(app=app))
    yield client
    for endpoint in client.list_webhooks():
        client.delete_webhook(endpoint.id)
    client.close()


def settled(client: AgentClient, endpoint_id: int, receiver: Receiver,
            status: str) -> WebhookDelivery:
    """The newest delivery once the worker recorded it as `status`."""
    found: list[WebhookDelivery] = []

    def done() -> bool:
        found[:] = client.webhook_deliveries(endpoint_id).deliveries[:1]
        return bool(found) and found[0].status == status
    receiver.wait(done)
    return found[0]


def test_create_shows_the_secret_once_and_a_test_event_is_delivered_signed(
        owner: AgentClient) -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        created = owner.create_webhook(url, ["message.created"], description="CRM <sync>")
        assert isinstance(created, CreatedWebhook) and created.secret.startswith("whsec_")
        assert created.secret not in repr(created)
        receiver.secret = created.secret
        endpoint = created.endpoint
        assert (endpoint.url, endpoint.events, endpoint.description) == (
            url, ("message.created",), "CRM <sync>")
        assert endpoint.enabled and endpoint.mode == "test"
        assert owner.list_webhooks() == [endpoint]

        queued = owner.send_test_webhook(endpoint.id)
        assert (queued.type, queued.status, queued.attempts) == ("webhook.test", "pending", 0)
        done = settled(owner, endpoint.id, receiver, "succeeded")
        assert (done.id, done.attempts, done.last_status_code) == (queued.id, 1, 200)
        assert done.delivered_at is not None and done.next_attempt_at is None
        assert [r["webhook_id"] for r in receiver.accepted()] == [done.webhook_id]
        page = owner.webhook_deliveries(endpoint.id, per_page=1)
        assert (page.total, page.page, page.per_page) == (1, 1, 1)


def test_a_failed_delivery_retried_succeeds_with_the_same_webhook_id(
        owner: AgentClient) -> None:
    receiver = Receiver(lambda n: 503 if n == 1 else 200)
    with receiving(receiver) as url:
        created = owner.create_webhook(url, ["*"])
        receiver.secret = created.secret
        owner.send_test_webhook(created.endpoint.id)
        failed = settled(owner, created.endpoint.id, receiver, "failed")
        assert (failed.last_status_code, failed.last_error) == (503, "HTTP 503")
        assert owner.retry_delivery(created.endpoint.id, failed.id).status == "pending"
        done = settled(owner, created.endpoint.id, receiver, "succeeded")
        assert (done.attempts, done.last_status_code) == (2, 200)
        assert [r["webhook_id"] for r in receiver.requests] == [failed.webhook_id] * 2
        with pytest.raises(ValidationError):  # nothing to retry any more
            owner.retry_delivery(created.endpoint.id, failed.id)


def test_disable_enable_update_and_delete(owner: AgentClient) -> None:
    created = owner.create_webhook("http://127.0.0.1:9/hooks", ["*"])
    endpoint_id = created.endpoint.id
    disabled = owner.update_webhook(endpoint_id, enabled=False)
    assert not disabled.enabled and disabled.disabled_at is not None
    with pytest.raises(ValidationError):  # a disabled endpoint takes no test
        owner.send_test_webhook(endpoint_id)
    enabled = owner.update_webhook(endpoint_id, enabled=True, events=["contact.updated"])
    assert enabled.enabled and enabled.events == ("contact.updated",)
    with pytest.raises(ValidationError) as err:
        owner.update_webhook(endpoint_id, url="ftp://example.com")
    assert err.value.field == "url"
    owner.delete_webhook(endpoint_id)
    assert owner.list_webhooks() == []


def test_an_agent_lacks_the_scope(inbox: AgentClient) -> None:
    with pytest.raises(ForbiddenError):
        inbox.list_webhooks()


def test_the_async_flavour(owner: AgentClient) -> None:
    async def scenario() -> None:
        client = AsyncAgentClient.from_client(owner)
        created = await client.create_webhook("http://127.0.0.1:9/hooks", ["*"])
        assert [e.id for e in await client.list_webhooks()] == [created.endpoint.id]
        delivery = await client.send_test_webhook(created.endpoint.id)
        page = await client.webhook_deliveries(created.endpoint.id)
        assert delivery.id in {d.id for d in page.deliveries}
        await client.update_webhook(created.endpoint.id, description="x")
        await client.delete_webhook(created.endpoint.id)
    asyncio.run(asyncio.wait_for(scenario(), 20))
