"""The pages the inbox shell mounts: canned responses (every agent), and the owner's:
branding (with a live preview), keys, team.

Each page takes the AsyncAgentClient, fills itself in `await load()` (the shell awaits it
when the page is shown) and shows the server's errors as text in the page. Like
app_flet/ui/screen.py, every repaint tolerates the page not being mounted (yet or any more).
Everything the server sends is shown with `ft.Text(value=…)`: never as markup.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import Agent, ApiKey, BrandingSettings, CannedResponse
from app_flet.headless.errors import ChatError
from app_flet.headless.models import Branding
from app_flet.ui.header import ChatHeader
from app_flet.ui.strings import ChatStrings
from app_flet.ui.theme import ERROR, MUTED, WHITE, Palette

__all__ = ["BrandingPage", "CannedPage", "KeysPage", "Panel", "TeamPage", "action"]

T = TypeVar("T")
P = TypeVar("P", bound="Panel")
Handler = Callable[[P, ft.Event[Any]], Awaitable[None]]

SAVED = "Saved"
ONCE_WARNING = "Copy it now: it will not be shown again."


def when(value: datetime | None) -> str:
    """A timestamp as the pages show it ("" for none)."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


async def copy_to_clipboard(text: str) -> bool:
    """Put `text` on the clipboard of the page this runs for; False without a page."""
    try:
        await ft.Clipboard().set(text)
    except RuntimeError:  # not on a page (tests, or the page is gone), or the client refused
        return False
    return True


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


def action(handler: Handler[P]) -> Handler[P]:
    """A click handler of a Panel that runs one at a time: its button stays disabled (so a
    double click cannot mint two keys), the status line clears first, the result is pushed."""
    @functools.wraps(handler)
    async def run(self: P, e: ft.Event[Any]) -> None:
        button = e.control
        if button.disabled:
            return
        button.disabled = True
        self.say("")
        self.push()
        try:
            await handler(self, e)
        finally:
            button.disabled = False
            self.push()
    return run


class TableRow(ft.Row):
    """A table row of text cells (server text: `ft.Text(value=…)`) and its buttons."""

    def __init__(self, key: str, columns: int, *buttons: ft.Control) -> None:
        self.cells = [ft.Text(value="", expand=1, max_lines=1,
                              overflow=ft.TextOverflow.ELLIPSIS) for _ in range(columns)]
        super().__init__([*self.cells, *buttons], key=key, spacing=8)

    def fill(self, *values: str) -> None:
        for cell, value in zip(self.cells, values, strict=True):
            cell.value = value


class Rows(ft.Column):
    """One row per item id, reused across reloads: Flet freezes a control rebuilt under the
    key of the one it replaces, and a frozen row's buttons could not change any more."""

    def __init__(self, key: str, make: Callable[[Any], Any]) -> None:
        super().__init__(key=key, spacing=4)
        self._make = make
        self._by_id: dict[int, Any] = {}

    def show(self, items: Sequence[Any]) -> None:
        """Show these items, in order (each row's `show(item)` repaints it)."""
        self._by_id = {item.id: self._by_id.get(item.id) or self._make(item) for item in items}
        for item in items:
            self._by_id[item.id].show(item)
        self.controls = list(self._by_id.values())

    def get(self, item_id: int) -> Any:
        """The row of this item id (None when it is not shown)."""
        return self._by_id.get(item_id)


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
        self.copy_button.content = "Copy"

    def clear(self) -> None:
        self.secret.value, self.visible = "", False

    async def _copy(self, e: ft.Event[Any]) -> None:
        if await copy_to_clipboard(self.secret.value or ""):
            self.copy_button.content = "Copied"

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

    @action
    async def _save(self, e: ft.Event[Any]) -> None:
        branding = await self.attempt(self.client.update_branding(**self._fields()))
        if branding is not None:
            self._fill(branding)
            self.say(SAVED)


# ---------- keys ----------

KEY_COLUMNS = ["Prefix", "Kind", "Mode", "Name", "Created", "Revoked", ""]


class KeyRow(TableRow):
    """One key; "Revoke" asks "Yes, revoke" / "Cancel" in the row; "Yes, revoke" (its `data`
    the key's id) runs `on_revoke`."""

    def __init__(self, key: ApiKey, on_revoke: Callable[[ft.Event[Any]], Awaitable[None]]
                 ) -> None:
        self.revoke_button = ft.OutlinedButton("Revoke", key=f"revoke-{key.id}",
                                               on_click=self._ask)
        self.confirm = ft.Row([
            ft.Text("Revoke it? Apps using it stop working at once.", color=ERROR),
            ft.FilledButton("Yes, revoke", key=f"confirm-revoke-{key.id}", bgcolor=ERROR,
                            color=WHITE, data=key.id, on_click=on_revoke),
            ft.TextButton("Cancel", key=f"cancel-revoke-{key.id}", on_click=self._cancelled),
        ], tight=True)
        super().__init__(f"key-{key.id}", len(KEY_COLUMNS) - 1, self.revoke_button,
                         self.confirm)
        self.revoked = False

    def show(self, key: ApiKey) -> None:
        """Paint this key as it is now (not asking)."""
        self.fill(key.prefix, key.kind, key.mode, key.name, when(key.created_at),
                  when(key.revoked_at))
        self.revoked = key.revoked
        self._asking(False)

    def _asking(self, asking: bool) -> None:
        self.confirm.visible = asking
        self.revoke_button.visible = not asking and not self.revoked

    async def _ask(self, e: ft.Event[Any]) -> None:
        self._asking(True)

    async def _cancelled(self, e: ft.Event[Any]) -> None:
        self._asking(False)


class KeysPage(Panel):
    """The business's keys; "Mint key" shows the new plaintext once, "Revoke" asks first."""

    def __init__(self, client: AsyncAgentClient) -> None:
        super().__init__(client, "keys-page")
        self.kind = _dropdown("Kind", ["secret", "publishable"])
        self.mode = _dropdown("Mode", ["test", "live"])
        self.name = ft.TextField(label="Key name", width=240)
        self.mint_button = ft.FilledButton("Mint key", key="mint-key", on_click=self._mint)
        self.minted = OnceBox("minted-secret", "Your new key")
        self.rows = Rows("keys", lambda key: KeyRow(key, self._revoke))
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
            self.rows.show(keys)

    @action
    async def _revoke(self, e: ft.Event[Any]) -> None:
        if await self.attempt(self.client.revoke_key(e.control.data)) is not None:
            self.say("Key revoked")
        await self._reload()

    @action
    async def _mint(self, e: ft.Event[Any]) -> None:
        minted = await self.attempt(self.client.create_key(
            self.kind.value or "secret", self.mode.value or "test",
            name=(self.name.value or "").strip()))
        if minted is not None:
            self.minted.reveal(minted.secret)
            self.name.value = ""
            await self._reload()


# ---------- team ----------

AGENT_COLUMNS = ["Name", "Email", "Role", "Online", "Invited", "Active", ""]


class AgentRow(TableRow):
    """One agent; "Deactivate" (its `data` the agent's id) runs `on_deactivate`."""

    def __init__(self, agent: Agent,
                 on_deactivate: Callable[[ft.Event[Any]], Awaitable[None]]) -> None:
        self.deactivate_button = ft.OutlinedButton("Deactivate", key=f"deactivate-{agent.id}",
                                                   data=agent.id, on_click=on_deactivate)
        super().__init__(f"agent-{agent.id}", len(AGENT_COLUMNS) - 1, self.deactivate_button)

    def show(self, agent: Agent) -> None:
        """Paint this agent as they are now."""
        self.fill(agent.name, agent.email, agent.role, "online" if agent.online else "offline",
                  "invited" if agent.invited else "joined",
                  "active" if agent.active else "deactivated")
        self.deactivate_button.visible = agent.active


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
        self.rows = Rows("agents", lambda agent: AgentRow(agent, self._deactivate))
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
            self.rows.show(agents)

    @action
    async def _deactivate(self, e: ft.Event[Any]) -> None:
        if await self.attempt(self.client.deactivate_agent(e.control.data)) is not None:
            self.say("Agent deactivated")
        await self._reload()

    @action
    async def _invite(self, e: ft.Event[Any]) -> None:
        invite = await self.attempt(self.client.invite_agent(
            (self.email.value or "").strip(), (self.name.value or "").strip(),
            role=self.role.value or "agent"))
        if invite is not None:
            if invite.token:
                self.invite.reveal(invite.token)
            self.email.value = self.name.value = ""
            await self._reload()


CANNED_COLUMNS = ["Shortcut", "Content", ""]


class CannedRow(TableRow):
    """One canned response; "Edit" and "Delete" (their `data` its id) run the page's."""

    def __init__(self, canned: CannedResponse, on_edit: Callable[[ft.Event[Any]], Awaitable[None]],
                 on_delete: Callable[[ft.Event[Any]], Awaitable[None]]) -> None:
        self.edit_button = ft.TextButton("Edit", key=f"edit-canned-{canned.id}",
                                         data=canned.id, on_click=on_edit)
        self.delete_button = ft.OutlinedButton("Delete", key=f"delete-canned-{canned.id}",
                                               data=canned.id, on_click=on_delete)
        super().__init__(f"canned-{canned.id}", len(CANNED_COLUMNS) - 1, self.edit_button,
                         self.delete_button)
        self.canned = canned

    def show(self, canned: CannedResponse) -> None:
        """Paint this response as it is now."""
        self.canned = canned
        self.fill(f"/{canned.shortcut}", canned.content)


class CannedPage(Panel):
    """The business's canned responses, which every agent's Reply expands (`/shortcut`):
    add, edit, delete. `on_change` hears every change (the composer forgets its copy)."""

    def __init__(self, client: AsyncAgentClient,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(client, "canned-page")
        self._on_change = on_change
        self.editing: int | None = None
        self.shortcut = ft.TextField(label="Shortcut", key="canned-shortcut", width=180,
                                     prefix=ft.Text("/"))
        self.content = ft.TextField(label="Content", key="canned-content", multiline=True,
                                    min_lines=1, max_lines=4, expand=True)
        self.save_button = ft.FilledButton("Add response", key="save-canned",
                                           on_click=self._save)
        self.cancel_button = ft.TextButton("Cancel", key="cancel-canned", visible=False,
                                           on_click=self._cancel)
        self.rows = Rows("canned", lambda canned: CannedRow(canned, self._edit, self._delete))
        self.controls = [
            ft.Text("Canned responses", size=20, weight=ft.FontWeight.W_600),
            ft.Text("Type /shortcut in Reply, then a space or Enter, to insert the content.",
                    color=MUTED),
            ft.Row([self.shortcut, self.content, self.save_button, self.cancel_button],
                   vertical_alignment=ft.CrossAxisAlignment.START),
            self.status, _header(CANNED_COLUMNS), self.rows,
        ]

    async def load(self) -> None:
        """List the responses; an edit left open is dropped."""
        self._stop_editing()
        await self._reload()
        self.push()

    async def _reload(self) -> None:
        found = await self.attempt(self.client.canned_responses())
        if found is not None:
            self.rows.show(found)

    def _stop_editing(self) -> None:
        self.editing = None
        self.shortcut.value = self.content.value = ""
        self.save_button.content, self.cancel_button.visible = "Add response", False

    async def _edit(self, e: ft.Event[Any]) -> None:
        row = self.rows.get(e.control.data)
        if row is None:
            return
        self.editing = row.canned.id
        self.shortcut.value, self.content.value = row.canned.shortcut, row.canned.content
        self.save_button.content, self.cancel_button.visible = "Save response", True
        self.push()

    async def _cancel(self, e: ft.Event[Any]) -> None:
        self._stop_editing()
        self.push()

    @action
    async def _save(self, e: ft.Event[Any]) -> None:
        shortcut = (self.shortcut.value or "").strip().lstrip("/")
        content = (self.content.value or "").strip()
        if self.editing is None:
            saved = await self.attempt(self.client.create_canned_response(shortcut, content))
        else:
            saved = await self.attempt(self.client.update_canned_response(
                self.editing, shortcut=shortcut, content=content))
        if saved is not None:  # else the server's words show and the fields keep the text
            self._stop_editing()
            self.say(f"Saved /{saved.shortcut}")
            self._on_change()
            await self._reload()

    @action
    async def _delete(self, e: ft.Event[Any]) -> None:
        try:
            await self.client.delete_canned_response(e.control.data)
        except ChatError as err:
            self.say(err.message, error=True)
        else:
            self.say("Deleted")
            self._on_change()
        if self.editing == e.control.data:
            self._stop_editing()
        await self._reload()
