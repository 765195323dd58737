"""The owner pages the inbox shell mounts: branding (with a live preview), keys, team.

Each page takes the AsyncAgentClient, fills itself in `await load()` (the shell awaits it
when the page is shown) and shows the server's errors as text in the page. Like
app_flet/ui/screen.py, every repaint tolerates the page not being mounted (yet or any more).
Everything the server sends is shown with `ft.Text(value=…)`: never as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import Agent, ApiKey, BrandingSettings
from app_flet.headless.errors import ChatError
from app_flet.headless.models import Branding
from app_flet.ui.header import ChatHeader
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, MUTED, Palette

__all__ = ["BrandingPage", "KeysPage", "Panel", "TeamPage"]

T = TypeVar("T")

SAVED = "Saved"
ONCE_WARNING = "Copy it now: it will not be shown again."


def when(value: datetime | None) -> str:
    """A timestamp as the pages show it ("" for none)."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


async def copy_to_clipboard(text: str) -> None:
    """Put `text` on the clipboard of the page this runs for; a no-op without a page."""
    try:
        await ft.Clipboard().set(text)
    except RuntimeError:
        pass  # not on a page (tests, or the page is gone): nothing to copy to


class Panel(ft.Column):
    """A column with a status line; `attempt` shows a client error there instead of raising."""

    def __init__(self, client: AsyncAgentClient, key: str) -> None:
        super().__init__(key=key, spacing=12, expand=True, scroll=ft.ScrollMode.AUTO)
        self.client = client
        self.status = ft.Text("", key=f"{key}-status", visible=False)

    def say(self, text: str, *, error: bool = False) -> None:
        """Show `text` (the server's words for an error) on the status line."""
        self.status.value, self.status.visible = text, bool(text)
        self.status.color = ERROR if error else MUTED

    async def attempt(self, call: Awaitable[T]) -> T | None:
        """Await a client call; on a ChatError show its message and return None."""
        try:
            return await call
        except ChatError as err:
            self.say(err.message, error=True)
            return None

    def push(self) -> None:
        """Send the changes to the client; a no-op while not mounted."""
        try:
            self.update()
        except RuntimeError:
            pass  # not on a page (yet, or any more): the next mount renders the state


def _cells(cells: list[str]) -> list[ft.Control]:
    return [ft.Text(value=cell, expand=1, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS)
            for cell in cells]


def _header(cells: list[str]) -> ft.Row:
    return ft.Row([ft.Text(cell, expand=1, color=MUTED, weight=ft.FontWeight.W_600)
                   for cell in cells], spacing=8)


def _dropdown(label: str, choices: list[str]) -> ft.Dropdown:
    return ft.Dropdown(label=label, value=choices[0], width=180,
                       options=[ft.DropdownOption(key=c, text=c) for c in choices])


class OnceBox(ft.Container):
    """A secret shown once: the text, a "Copy" button and the will-not-be-shown-again warning."""

    def __init__(self, key: str, title: str) -> None:
        self.secret = ft.Text("", key=key, selectable=True, font_family="monospace")
        self.copy_button = ft.OutlinedButton("Copy", key=f"{key}-copy", on_click=self._copy)
        self.hide_button = ft.TextButton("Done", key=f"{key}-done", on_click=self._hide)
        super().__init__(ft.Column([
            ft.Text(title, weight=ft.FontWeight.W_600),
            ft.Row([self.secret, self.copy_button, self.hide_button], wrap=True),
            ft.Text(ONCE_WARNING, color=ERROR),
        ], tight=True, spacing=6), visible=False, padding=12, bgcolor="#FEF3C7",
            border_radius=8)

    def reveal(self, secret: str) -> None:
        self.secret.value, self.visible = secret, True

    def clear(self) -> None:
        self.secret.value, self.visible = "", False

    async def _copy(self, e: ft.Event[Any]) -> None:
        await copy_to_clipboard(self.secret.value or "")

    async def _hide(self, e: ft.Event[Any]) -> None:
        self.clear()


# ---------- branding ----------

class BrandingPage(Panel):
    """The widget's colors, welcome message and logo, previewed live; "Save branding" saves."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "branding-page")
        self.business_name = ""
        self.primary = ft.TextField(label="Primary color", on_change=self._edited)
        self.accent = ft.TextField(label="Accent color", on_change=self._edited)
        self.welcome = ft.TextField(label="Welcome message", multiline=True, min_lines=2,
                                    on_change=self._edited)
        self.logo = ft.TextField(label="Logo URL", on_change=self._edited)
        self.save_button = ft.FilledButton("Save branding", key="save-branding",
                                           on_click=self._save)
        self.preview = ChatHeader(ChatStrings())
        self.preview.key = "branding-preview"
        self.preview_welcome = ft.Text("", key="branding-preview-welcome")
        self.preview_send_text = ft.Text("Send")
        self.preview_send = ft.Container(self.preview_send_text,
                                         key="branding-preview-send", border_radius=16,
                                         padding=ft.Padding.symmetric(horizontal=14, vertical=6))
        self.controls = [
            ft.Text("Branding", size=20, weight=ft.FontWeight.W_600),
            self.primary, self.accent, self.welcome, self.logo,
            ft.Row([self.save_button, self.status]),
            ft.Text("Preview", color=MUTED),
            ft.Container(ft.Column([self.preview, ft.Container(
                ft.Column([self.preview_welcome, self.preview_send], tight=True, spacing=12),
                padding=12)], spacing=0, tight=True), border=ft.Border.all(1, MUTED),
                border_radius=8, width=360),
        ]

    async def load(self) -> None:
        """Fill the fields and the preview from the current branding."""
        branding = await self.attempt(self.client.get_branding())
        if branding is not None:
            self._fill(branding)
        self.push()

    def _fill(self, branding: BrandingSettings) -> None:
        self.business_name = branding.name
        self.primary.value, self.accent.value = branding.primary_color, branding.accent_color
        self.welcome.value = branding.welcome_message or ""
        self.logo.value = branding.logo_url or ""
        self.paint_preview()

    def _fields(self) -> dict[str, Any]:
        return {"primary_color": (self.primary.value or "").strip(),
                "accent_color": (self.accent.value or "").strip(),
                "welcome_message": self.welcome.value or "",
                "logo_url": (self.logo.value or "").strip() or None}

    def paint_preview(self) -> None:
        """Paint the preview from what the fields hold now (malformed colors: the defaults)."""
        branding = Branding(**self._fields())
        palette = Palette.from_branding(branding)
        self.preview.paint(self.business_name, branding.logo_url, None, palette)
        self.preview_welcome.value = branding.welcome_message or ChatStrings().welcome_fallback
        self.preview_send.bgcolor = palette.accent
        self.preview_send_text.color = palette.on_accent

    async def _edited(self, e: ft.Event[Any]) -> None:
        self.say("")
        self.paint_preview()

    async def _save(self, e: ft.Event[Any]) -> None:
        self.say("")
        branding = await self.attempt(self.client.update_branding(**self._fields()))
        if branding is not None:
            self._fill(branding)
            self.say(SAVED)
        self.push()


# ---------- keys ----------

KEY_COLUMNS = ["Prefix", "Kind", "Mode", "Name", "Created", "Revoked", ""]


class KeyRow(ft.Row):
    """One key; "Revoke" asks "Yes, revoke" / "Cancel" in the row before `on_revoke` runs."""

    def __init__(self, key: ApiKey, on_revoke: Callable[[], Awaitable[None]]) -> None:
        self._on_revoke = on_revoke
        self.revoke_button = ft.OutlinedButton("Revoke", key=f"revoke-{key.id}",
                                               visible=not key.revoked,
                                               on_click=self._ask)
        self.confirm = ft.Row([
            ft.Text("Revoke it? Apps using it stop working at once.", color=ERROR),
            ft.FilledButton("Yes, revoke", key=f"confirm-revoke-{key.id}", bgcolor=ERROR,
                            color="#FFFFFF", on_click=self._confirmed),
            ft.TextButton("Cancel", key=f"cancel-revoke-{key.id}", on_click=self._cancelled),
        ], visible=False, tight=True)
        super().__init__([*_cells([key.prefix, key.kind, key.mode, key.name or "",
                                   when(key.created_at), when(key.revoked_at)]),
                          self.revoke_button, self.confirm], key=f"key-{key.id}", spacing=8)

    def _asking(self, asking: bool) -> None:
        self.confirm.visible, self.revoke_button.visible = asking, not asking

    async def _ask(self, e: ft.Event[Any]) -> None:
        self._asking(True)

    async def _cancelled(self, e: ft.Event[Any]) -> None:
        self._asking(False)

    async def _confirmed(self, e: ft.Event[Any]) -> None:
        await self._on_revoke()


class KeysPage(Panel):
    """The business's keys; "Mint key" shows the new plaintext once, "Revoke" asks first."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "keys-page")
        self.kind = _dropdown("Kind", ["secret", "publishable"])
        self.mode = _dropdown("Mode", ["test", "live"])
        self.name = ft.TextField(label="Key name", width=240)
        self.mint_button = ft.FilledButton("Mint key", key="mint-key", on_click=self._mint)
        self.minted = OnceBox("minted-secret", "Your new key")
        self.rows = ft.Column(key="keys", spacing=4)
        self.controls = [
            ft.Text("API keys", size=20, weight=ft.FontWeight.W_600),
            ft.Row([self.kind, self.mode, self.name, self.mint_button], wrap=True),
            self.minted, self.status, _header(KEY_COLUMNS), self.rows,
        ]

    async def load(self) -> None:
        """List the keys; a secret minted earlier is not shown again."""
        self.minted.clear()
        await self._reload()
        self.push()

    async def _reload(self) -> None:
        keys = await self.attempt(self.client.list_keys())
        if keys is not None:
            self.rows.controls = [self._key_row(key) for key in keys]

    def _key_row(self, key: ApiKey) -> KeyRow:
        async def revoke() -> None:
            await self._revoke(key.id)
        return KeyRow(key, revoke)

    async def _revoke(self, key_id: int) -> None:
        self.say("")
        if await self.attempt(self.client.revoke_key(key_id)) is not None:
            self.say("Key revoked")
        await self._reload()
        self.push()

    async def _mint(self, e: ft.Event[Any]) -> None:
        self.say("")
        minted = await self.attempt(self.client.create_key(
            self.kind.value or "secret", self.mode.value or "test",
            name=(self.name.value or "").strip()))
        if minted is not None:
            self.minted.reveal(minted.secret)
            self.name.value = ""
            await self._reload()
        self.push()


# ---------- team ----------

AGENT_COLUMNS = ["Name", "Email", "Role", "Online", "Invited", "Active", ""]


class TeamPage(Panel):
    """The business's agents; "Invite" shows the invite token once, "Deactivate" deactivates."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "team-page")
        self.email = ft.TextField(label="Invite email", width=260,
                                  keyboard_type=ft.KeyboardType.EMAIL)
        self.name = ft.TextField(label="Invite name", width=200)
        self.role = _dropdown("Role", ["agent", "owner"])
        self.invite_button = ft.FilledButton("Invite", key="invite", on_click=self._invite)
        self.invite = OnceBox("invite-token", "Invite token: the new agent signs up with it")
        self.rows = ft.Column(key="agents", spacing=4)
        self.controls = [
            ft.Text("Team", size=20, weight=ft.FontWeight.W_600),
            ft.Row([self.email, self.name, self.role, self.invite_button], wrap=True),
            self.invite, self.status, _header(AGENT_COLUMNS), self.rows,
        ]

    async def load(self) -> None:
        """List the agents; an invite token shown earlier is not shown again."""
        self.invite.clear()
        await self._reload()
        self.push()

    async def _reload(self) -> None:
        agents = await self.attempt(self.client.list_agents())
        if agents is not None:
            self.rows.controls = [self._agent_row(agent) for agent in agents]

    def _agent_row(self, agent: Agent) -> ft.Row:
        async def deactivate(e: ft.Event[Any]) -> None:
            await self._deactivate(agent.id)

        button = ft.OutlinedButton("Deactivate", key=f"deactivate-{agent.id}",
                                   visible=agent.active, on_click=deactivate)
        return ft.Row([*_cells([
            agent.name, agent.email, agent.role, "online" if agent.online else "offline",
            "invited" if agent.invited else "joined", "active" if agent.active else "deactivated",
        ]), button], key=f"agent-{agent.id}", spacing=8)

    async def _deactivate(self, agent_id: int) -> None:
        self.say("")
        if await self.attempt(self.client.deactivate_agent(agent_id)) is not None:
            self.say("Agent deactivated")
        await self._reload()
        self.push()

    async def _invite(self, e: ft.Event[Any]) -> None:
        self.say("")
        invite = await self.attempt(self.client.invite_agent(
            (self.email.value or "").strip(), (self.name.value or "").strip(),
            role=self.role.value or "agent"))
        if invite is not None:
            if invite.token:
                self.invite.reveal(invite.token)
            self.email.value = self.name.value = ""
            await self._reload()
        self.push()
