"""The owner's Webhooks page: the business's endpoints (add, with the signing secret shown
once; enable / disable; delete; "Send test") and the delivery log of the one selected, with
"Retry" on failed deliveries and a "Refresh".

Like the pages in pages.py it takes the AsyncAgentClient, fills itself in `await load()`,
shows the server's errors on its status line and shows server text as `ft.Text(value=…)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import WebhookDelivery, WebhookEndpoint
from app_flet.headless.errors import ChatError
from app_flet.inbox.pages import OnceBox, Panel, Rows, TableRow, _header, action, when
from app_flet.ui.theme import ERROR, WHITE

__all__ = ["EVENT_TYPES", "WebhooksPage", "endpoint_state"]

Click = Callable[[ft.Event[Any]], Awaitable[None]]

# What an endpoint can ask for (docs/api-webhooks.md); webhook.test reaches it whatever it asks
EVENT_TYPES = ("message.created", "conversation.created", "conversation.updated",
               "conversation.resolved", "conversation.handoff", "contact.created",
               "contact.updated", "contact.deleted", "rating.created")
ALL = "*"
ENDPOINT_COLUMNS = ["URL", "Events", "State", ""]
DELIVERY_COLUMNS = ["Type", "Status", "Attempts", "Response", "Last error", "Next attempt", ""]


def endpoint_state(endpoint: WebhookEndpoint) -> str:
    """Enabled, or since when it is disabled and the run of failures the server counted."""
    if endpoint.enabled:
        return "enabled"
    failures = endpoint.consecutive_failures
    run = f" after {failures} failed deliveries in a row" if failures else ""
    return f"disabled {when(endpoint.disabled_at)}{run}"


class EndpointRow(TableRow):
    """One endpoint; its buttons carry its id as `data`. "Delete" asks first in the row."""

    def __init__(self, endpoint: WebhookEndpoint, *, on_select: Click, on_test: Click,
                 on_toggle: Click, on_delete: Click) -> None:
        n = endpoint.id
        self.select_button = ft.TextButton("Deliveries", key=f"select-webhook-{n}", data=n,
                                           on_click=on_select)
        self.test_button = ft.OutlinedButton("Send test", key=f"test-webhook-{n}", data=n,
                                             on_click=on_test)
        self.toggle_button = ft.OutlinedButton("Disable", key=f"toggle-webhook-{n}", data=n,
                                               on_click=on_toggle)
        self.delete_button = ft.OutlinedButton("Delete", key=f"delete-webhook-{n}",
                                               on_click=self._ask)
        self.confirm = ft.Row([
            ft.Text("Delete it and its delivery log?", color=ERROR),
            ft.FilledButton("Yes, delete", key=f"confirm-delete-webhook-{n}", bgcolor=ERROR,
                            color=WHITE, data=n, on_click=on_delete),
            ft.TextButton("Cancel", key=f"cancel-delete-webhook-{n}", on_click=self._cancel),
        ], tight=True)
        super().__init__(f"webhook-{n}", len(ENDPOINT_COLUMNS) - 1, self.select_button,
                         self.test_button, self.toggle_button, self.delete_button,
                         self.confirm)
        self.endpoint = endpoint

    def show(self, endpoint: WebhookEndpoint) -> None:
        """Paint this endpoint as it is now (not asking)."""
        self.endpoint = endpoint
        self.fill(endpoint.url, "all events" if ALL in endpoint.events
                  else ", ".join(endpoint.events), endpoint_state(endpoint))
        self.toggle_button.content = "Disable" if endpoint.enabled else "Enable"
        self._asking(False)

    def _asking(self, asking: bool) -> None:
        self.confirm.visible, self.delete_button.visible = asking, not asking

    async def _ask(self, e: ft.Event[Any]) -> None:
        self._asking(True)

    async def _cancel(self, e: ft.Event[Any]) -> None:
        self._asking(False)


class DeliveryRow(TableRow):
    """One delivery of the selected endpoint; "Retry" (its `data` the id) on a failed one."""

    def __init__(self, delivery: WebhookDelivery, on_retry: Click) -> None:
        self.retry_button = ft.OutlinedButton("Retry", key=f"retry-delivery-{delivery.id}",
                                              data=delivery.id, on_click=on_retry)
        super().__init__(f"delivery-{delivery.id}", len(DELIVERY_COLUMNS) - 1,
                         self.retry_button)

    def show(self, delivery: WebhookDelivery) -> None:
        """Paint this delivery as it is now."""
        code = delivery.last_status_code
        self.fill(delivery.type, delivery.status, str(delivery.attempts),
                  "" if code is None else str(code), delivery.last_error or "",
                  when(delivery.next_attempt_at))
        self.cells[1].color = ERROR if delivery.status == "failed" else None
        self.retry_button.visible = delivery.status == "failed"


class EventChoice(ft.Column):
    """"All events", or a checkbox per event type (greyed out while "All events" is on)."""

    def __init__(self) -> None:
        self.all = ft.Checkbox(label="All events", key="webhook-all-events", value=True,
                               on_change=self._all_changed)
        self.types = {name: ft.Checkbox(label=name, key=f"webhook-event-{name}", value=False,
                                        disabled=True) for name in EVENT_TYPES}
        super().__init__([self.all, ft.Row(list(self.types.values()), wrap=True)],
                         spacing=4, tight=True)

    def chosen(self) -> list[str]:
        """What the endpoint asks for: ["*"], or the ticked types (the server refuses none)."""
        if self.all.value:
            return [ALL]
        return [name for name, box in self.types.items() if box.value]

    def reset(self) -> None:
        self.all.value = True
        for box in self.types.values():
            box.value, box.disabled = False, True

    async def _all_changed(self, e: ft.Event[Any]) -> None:
        for box in self.types.values():
            box.disabled = bool(self.all.value)


class WebhooksPage(Panel):
    """The business's webhook endpoints and the selected one's delivery log."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "webhooks-page")
        self.selected: int | None = None
        self.url = ft.TextField(label="Endpoint URL", key="webhook-url", width=360,
                                hint_text="https://crm.example.com/chatdock")
        self.description = ft.TextField(label="Description", key="webhook-description",
                                        width=240)
        self.events = EventChoice()
        self.add_button = ft.FilledButton("Add endpoint", key="add-webhook", on_click=self._add)
        self.secret = OnceBox("webhook-secret", "Signing secret: verify Chatdock-Signature "
                                                "with it")
        self.rows = Rows("webhooks", lambda endpoint: EndpointRow(
            endpoint, on_select=self._select, on_test=self._test, on_toggle=self._toggle,
            on_delete=self._delete))
        self.deliveries_title = ft.Text("", key="deliveries-title", weight=ft.FontWeight.W_600)
        self.refresh_button = ft.OutlinedButton("Refresh", key="refresh-deliveries",
                                                on_click=self._refresh)
        self.deliveries = Rows("deliveries", lambda d: DeliveryRow(d, self._retry))
        self.log = ft.Column([ft.Row([self.deliveries_title, self.refresh_button]),
                              _header(DELIVERY_COLUMNS), self.deliveries],
                             key="delivery-log", spacing=8, visible=False)
        self.controls = [
            ft.Text("Webhooks", size=20, weight=ft.FontWeight.W_600),
            ft.Row([self.url, self.description, self.add_button], wrap=True),
            self.events, self.secret, self.status, _header(ENDPOINT_COLUMNS), self.rows,
            ft.Divider(), self.log,
        ]

    async def load(self) -> None:
        """List the endpoints (and the selected one's log); a secret shown earlier is gone."""
        self.secret.clear()
        await self._reload()
        self.push()

    async def _reload(self) -> None:
        endpoints = await self.attempt(self.client.list_webhooks())
        if endpoints is None:
            return
        self.rows.show(endpoints)
        if self.selected not in {e.id for e in endpoints}:
            self.selected = None
        await self._reload_log()

    async def _reload_log(self) -> None:
        self.log.visible = self.selected is not None
        if self.selected is None:
            self.deliveries.show([])
            return
        page = await self.attempt(self.client.webhook_deliveries(self.selected))
        if page is not None:
            row = self.rows.get(self.selected)
            url = row.endpoint.url if row is not None else ""
            self.deliveries_title.value = f"Deliveries to {url} ({page.total})"
            self.deliveries.show(page.deliveries)

    @action
    async def _add(self, e: ft.Event[Any]) -> None:
        created = await self.attempt(self.client.create_webhook(
            (self.url.value or "").strip(), self.events.chosen(),
            description=(self.description.value or "").strip() or None))
        if created is not None:  # else the server's words show and the fields keep the text
            self.secret.reveal(created.secret)
            self.url.value = self.description.value = ""
            self.events.reset()
            self.selected = created.endpoint.id
            await self._reload()

    @action
    async def _select(self, e: ft.Event[Any]) -> None:
        self.selected = e.control.data
        await self._reload_log()

    @action
    async def _refresh(self, e: ft.Event[Any]) -> None:
        await self._reload()

    @action
    async def _test(self, e: ft.Event[Any]) -> None:
        if await self.attempt(self.client.send_test_webhook(e.control.data)) is not None:
            self.say("Test event queued")
            self.selected = e.control.data
        await self._reload()

    @action
    async def _toggle(self, e: ft.Event[Any]) -> None:
        row = self.rows.get(e.control.data)
        if row is None:
            return
        enable = not row.endpoint.enabled
        if await self.attempt(self.client.update_webhook(row.endpoint.id,
                                                         enabled=enable)) is not None:
            self.say("Endpoint enabled" if enable else "Endpoint disabled")
        await self._reload()

    @action
    async def _delete(self, e: ft.Event[Any]) -> None:
        try:
            await self.client.delete_webhook(e.control.data)
        except ChatError as err:
            self.say(err.message, error=True)
        else:
            self.say("Endpoint deleted")
        await self._reload()

    @action
    async def _retry(self, e: ft.Event[Any]) -> None:
        if self.selected is not None and await self.attempt(
                self.client.retry_delivery(self.selected, e.control.data)) is not None:
            self.say("Delivery queued again")
        await self._reload()
