"""The contact panel beside a conversation: the contact's fields, past conversations and
recent activity (the analytics events their app tracked)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import AgentContact, AnalyticsEvent, Ticket
from app_flet.inbox.pages import SAVED, Panel, action, when
from app_flet.ui.theme import MUTED

__all__ = ["ContactPanel"]

PAST_LIMIT = 25  # past conversations listed (newest first)
ACTIVITY_LIMIT = 10  # recent analytics events listed (newest first)


class ContactPanel(Panel):
    """`await show(contact_id)` fills it; Name, Email and Phone save with "Save contact";
    each past conversation is a button that awaits `on_open(ticket_id)`; "Recent activity"
    lists the contact's latest analytics events (type, title or URL, time), as plain text."""

    def __init__(self, client: AsyncAgentClient,
                 on_open: Callable[[int], Awaitable[None]]) -> None:
        super().__init__(client, "contact-panel")
        self._on_open = on_open
        self.contact_id: int | None = None
        self.name = ft.TextField(label="Name")
        self.email = ft.TextField(label="Email", keyboard_type=ft.KeyboardType.EMAIL)
        self.phone = ft.TextField(label="Phone", keyboard_type=ft.KeyboardType.PHONE)
        self.save_button = ft.FilledButton("Save contact", key="save-contact",
                                           on_click=self._save, disabled=True)
        self.visitor = ft.Text("", key="contact-visitor", color=MUTED)
        self.custom = ft.Column(key="contact-custom-fields", spacing=2)
        self.past = ft.Column(key="contact-conversations", spacing=4)
        self.activity = ft.Column(key="contact-activity", spacing=2)
        self.controls = [
            ft.Text("Contact", size=16, weight=ft.FontWeight.W_600),
            self.visitor, self.name, self.email, self.phone,
            ft.Row([self.save_button, self.status], wrap=True), self.custom,
            ft.Text("Past conversations", color=MUTED), self.past,
            ft.Text("Recent activity", color=MUTED), self.activity,
        ]

    async def show(self, contact_id: int, current_ticket_id: int | None = None) -> None:
        """Show this contact, their other conversations and their recent activity."""
        self.say("")
        self.contact_id = contact_id
        self._clear()
        contact = await self.attempt(self.client.get_contact(contact_id))
        if contact is not None and self.contact_id == contact_id:
            self._fill(contact)
            page, activity = await asyncio.gather(
                self.attempt(self.client.list_tickets(contact_id=contact_id,
                                                      per_page=PAST_LIMIT)),
                self.attempt(self.client.analytics_events(contact_id=contact_id,
                                                          per_page=ACTIVITY_LIMIT)))
            if self.contact_id == contact_id:
                if page is not None:
                    self.past.controls = [self._past_button(ticket) for ticket in page.tickets
                                          if ticket.id != current_ticket_id]
                if activity is not None:
                    self.activity.controls = [_activity_row(e) for e in activity.events] or [
                        ft.Text("No activity yet.", key="activity-none", size=12, color=MUTED)]
        self.push()

    def _clear(self) -> None:
        self.name.value = self.email.value = self.phone.value = self.visitor.value = ""
        self.custom.controls, self.past.controls, self.activity.controls = [], [], []
        self.save_button.disabled = True

    def _fill(self, contact: AgentContact) -> None:
        self.name.value = contact.name or ""
        self.email.value = contact.email or ""
        self.phone.value = contact.phone or ""
        self.visitor.value = f"Visitor {contact.visitor_id}" if contact.visitor_id else ""
        self.custom.controls = [ft.Text(value=f"{name}: {value}", size=12)
                                for name, value in sorted(contact.custom_fields.items())]
        self.save_button.disabled = False

    def _past_button(self, ticket: Ticket) -> ft.Control:
        async def open_it(e: ft.Event[Any]) -> None:
            await self._on_open(ticket.id)

        summary = ticket.subject or ticket.last_message_preview or ""
        label = f"#{ticket.id} · {ticket.status} · {when(ticket.updated_at)}  {summary}"
        return ft.TextButton(content=ft.Text(value=label, max_lines=1,
                                             overflow=ft.TextOverflow.ELLIPSIS),
                             key=f"past-{ticket.id}", on_click=open_it)

    @action
    async def _save(self, e: ft.Event[Any]) -> None:
        if self.contact_id is None:
            return
        contact = await self.attempt(self.client.update_contact(
            self.contact_id, name=(self.name.value or "").strip(),
            email=(self.email.value or "").strip(), phone=(self.phone.value or "").strip()))
        if contact is not None:
            self._fill(contact)
            self.say(SAVED)


def _activity_row(event: AnalyticsEvent) -> ft.Control:
    """One event: its type, what it was about (title, else URL, else the element's label),
    when it happened. Plain Text: the app's strings are never markup."""
    about = event.title or event.url or event.element_label or ""
    return ft.Text(value=f"{when(event.occurred_at)} · {event.type}" + (f" · {about}"
                                                                        if about else ""),
                   key=f"activity-{event.id}", size=12, max_lines=1,
                   overflow=ft.TextOverflow.ELLIPSIS)
