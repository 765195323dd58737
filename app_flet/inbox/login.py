"""The log-in form: Email, Password (and the business, for an email in several)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless.errors import ChatConnectionError, ChatError
from app_flet.ui.theme import ERROR, MUTED

__all__ = ["LoginView"]

NO_SERVER = "Can't reach the chatdock server. Check the address and your connection."


class LoginView(ft.Container):
    """`on_logged_in(me)` runs once the client holds an agent token; a refusal shows why."""

    def __init__(self, client: Any, on_logged_in: Callable[[Any], Awaitable[None]], *,
                 mode: str = "test") -> None:
        super().__init__(key="login", expand=True, alignment=ft.Alignment.CENTER, padding=24)
        self.client, self._on_logged_in, self._mode = client, on_logged_in, mode
        self.busy = False
        self.email = ft.TextField(label="Email", key="login-email", autofocus=True, width=320,
                                  keyboard_type=ft.KeyboardType.EMAIL,
                                  on_submit=self._submitted)
        self.password = ft.TextField(label="Password", key="login-password", password=True,
                                     can_reveal_password=True, width=320,
                                     on_submit=self._submitted)
        self.business = ft.TextField(label="Business (optional)", key="login-business",
                                     width=320, on_submit=self._submitted)
        self.error = ft.Text("", key="login-error", color=ERROR, visible=False, width=320)
        self.button = ft.FilledButton("Log in", key="login-submit", on_click=self._submitted)
        self.content = ft.Column([
            ft.Text("chatdock inbox", size=22, weight=ft.FontWeight.BOLD),
            ft.Text(f"Agents log in here ({mode} mode).", color=MUTED),
            self.email, self.password, self.business, self.error, self.button,
        ], tight=True, spacing=12, horizontal_alignment=ft.CrossAxisAlignment.CENTER)

    async def submit(self) -> bool:
        """Log in with what is typed; True once logged in."""
        email, password = (self.email.value or "").strip(), self.password.value or ""
        if self.busy or not email or not password:
            self._show_error("Enter your email and password.")
            return False
        self.busy = self.button.disabled = True
        try:
            me = await self.client.login(email, password,
                                         business=(self.business.value or "").strip() or None,
                                         mode=self._mode)
        except ChatConnectionError:
            self._show_error(NO_SERVER)
            return False
        except ChatError as err:  # the server's words: wrong password, too many tries, …
            self._show_error(err.message)
            return False
        finally:
            self.busy = self.button.disabled = False
        self.error.visible = False
        await self._on_logged_in(me)
        return True

    def _show_error(self, text: str) -> None:
        self.error.value, self.error.visible = text, True

    async def _submitted(self, e: ft.Event[Any]) -> None:
        await self.submit()
