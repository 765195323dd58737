"""Fixtures for the inbox UI: the real AsyncAgentClient and real visitors (the headless
chat client) against the real server on a socket; the controls are driven directly or on
an in-memory Flet page (tests/flet_page.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app_flet.headless import AgentClient, AsyncAgentClient, AsyncChatClient, AsyncChatSession
from app_flet.inbox.shell import InboxShell
from server.db import session_scope
from server.models import User
from server.services.agents import NewAgent, do_create_agent, do_set_password
from tests.conftest import agent_token, make_business, serving

PASSWORD = "inbox-password-1"
OWNER_EMAIL = "owner@acme.test"  # make_business's owner
AGENT_EMAIL = "ann@acme.test"


@dataclass
class Team:
    owner_id: int
    agent_id: int


@pytest.fixture
def team(app: Any, biz: dict[str, Any]) -> Team:
    """The business's owner and one agent (Ann), both with PASSWORD."""
    with session_scope(app) as session:
        owner = session.get(User, biz["owner_id"])
        assert owner is not None and owner.email == OWNER_EMAIL
        do_set_password(session, owner, PASSWORD)
        ann = do_create_agent(session, biz["id"], NewAgent(AGENT_EMAIL, "Ann", "agent",
                                                            PASSWORD))
        return Team(owner_id=owner.id, agent_id=ann.id)


@pytest.fixture
def inbox_client(live: str) -> Iterator[AsyncAgentClient]:
    """The client the inbox app makes for each page session: not logged in yet."""
    client = AsyncAgentClient(live)
    yield client
    client.sync.close()


async def logged_in(client: AsyncAgentClient, email: str = AGENT_EMAIL,
                    **shell_options: Any) -> InboxShell:
    """Log in, then start a shell (list loaded, realtime connected) as the app does."""
    me = await client.login(email, PASSWORD)

    async def logout() -> None:
        await client.logout()
    shell = InboxShell(client, me, logout, **shell_options)
    await shell.start()
    return shell


@dataclass
class Visitor:
    """A visitor in the widget: a real chat client, its session and what it received."""

    client: AsyncChatClient
    session: AsyncChatSession
    events: list[Any] = field(default_factory=list)

    @property
    def conversation_id(self) -> int:
        return self.session.conversation_id

    async def say(self, text: str) -> Any:
        return await self.session.send(text)


@pytest.fixture
def visitors(live: str, biz: dict[str, Any]) -> Iterator[Any]:
    """`await visitors(name)`: a new visitor whose session is connected; all closed after."""
    made: list[Visitor] = []

    async def make(name: str | None = None) -> Visitor:
        client = AsyncChatClient(biz["pk"], live)
        session = await client.start_session(f"v-{uuid.uuid4().hex[:10]}", name=name)
        visitor = Visitor(client, session)
        session.on(visitor.events.append)
        await session.connect()
        made.append(visitor)
        return visitor
    yield make
    for visitor in made:
        visitor.client.sync.close()


async def settle(seconds: float = 0.3) -> None:
    """Let pushes that are not coming prove it (a short wait on the loop)."""
    await asyncio.sleep(seconds)


# ---------- the owner pages: a business of their own, its owner logged in


@pytest.fixture
def owner(app: Any) -> dict[str, Any]:
    return make_business(app)


@pytest.fixture
def base(app: Any) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture
def owner_client(app: Any, base: str, owner: dict[str, Any]) -> Iterator[AsyncAgentClient]:
    """What the shell injects after the owner logged in."""
    token = agent_token(app, owner["id"], user_id=owner["owner_id"])
    client = AsyncAgentClient.from_client(AgentClient(base, token=token))
    yield client
    client.sync.close()
