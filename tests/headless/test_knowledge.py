"""AgentClient's knowledge-base and bot calls against the real app in process: collections,
documents (text, passages, an uploaded file), ranked search, the bot's settings and its
preview answer; the agent role may read but not write."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_flet.headless import (
    AgentClient,
    AsyncAgentClient,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from app_flet.headless.agent_models import BotSettings, KnowledgeCollection
from tests.headless.conftest import Login
from tests.test_bot import FILLER, RETURNS


@pytest.fixture
def owner(app: Any, boss: Login) -> Iterator[AgentClient]:
    client = AgentClient("http://testserver", token=boss.token,
                         transport=httpx.WSGITransport(app=app))
    yield client
    for collection in client.knowledge_collections():
        client.delete_collection(collection.id)
    client.close()


def filled(owner: AgentClient) -> KnowledgeCollection:
    """A collection holding FILLER's articles."""
    collection = owner.create_collection(f"Help {uuid.uuid4().hex[:6]}", "The help centre")
    for title, text in FILLER.items():
        owner.add_document(collection.id, title, text=text)
    return collection


def test_collections_are_created_renamed_listed_and_deleted(owner: AgentClient) -> None:
    made = owner.create_collection("FAQ", description="Questions <b>often</b> asked")
    assert (made.name, made.description, made.document_count) == (
        "FAQ", "Questions <b>often</b> asked", 0)
    with pytest.raises(ConflictError) as taken:
        owner.create_collection("FAQ")
    assert taken.value.field == "name"
    renamed = owner.update_collection(made.id, name="Questions")
    assert renamed.name == "Questions" and renamed.id == made.id
    assert [c.name for c in owner.knowledge_collections()] == ["Questions"]
    with pytest.raises(ValidationError) as bad:
        owner.update_collection(made.id, name="")
    assert bad.value.field == "name"
    owner.delete_collection(made.id)
    assert owner.knowledge_collections() == []
    with pytest.raises(NotFoundError):
        owner.documents(made.id)


def test_documents_from_text_passages_and_files_are_searched_best_first(
        owner: AgentClient, tmp_path: Path) -> None:
    collection = filled(owner)
    text = owner.add_document(collection.id, "Returns and refunds", text=RETURNS)
    cut = owner.add_document(collection.id, "Payments",
                             chunks=["We take cards.", "Invoices are emailed monthly."])
    page = tmp_path / "reset-password.md"
    page.write_text("# Passwords\n\nForgot your password? Use the reset link on the "
                    "sign-in page; it is valid for one hour.\n", encoding="utf-8")
    uploaded = owner.upload_document(collection.id, page)
    html = owner.upload_document(collection.id, b"<h1>Gift cards</h1><p>Gift cards never "
                                 b"expire.</p><script>steal()</script>", "gifts.html",
                                 title="Gift cards")
    assert (text.chunk_count, cut.chunk_count, uploaded.title, html.title) == (
        1, 2, "reset-password", "Gift cards")
    assert uploaded.size == page.stat().st_size
    listed = owner.documents(collection.id)
    assert [d.id for d in listed[:4]] == [html.id, uploaded.id, cut.id, text.id]
    assert owner.knowledge_collections()[0].document_count == len(FILLER) + 4

    hits = owner.search_knowledge("I forgot my password!", collection_id=collection.id)
    assert hits[0].document_id == uploaded.id and "**password**" in hits[0].snippet.lower()
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert owner.search_knowledge("steal") == []  # a script is never indexed
    assert len(owner.search_knowledge("gift cards wrapping", limit=1)) == 1

    owner.delete_document(collection.id, uploaded.id)
    assert uploaded.id not in {h.document_id for h in owner.search_knowledge("password")}
    with pytest.raises(ValidationError) as refused:
        owner.upload_document(collection.id, b"\x89PNG", "logo.png")
    assert refused.value.field == "file" and refused.value.status == 415
    with pytest.raises(ValidationError):
        owner.add_document(collection.id, "Both", text="x", chunks=["y"])


def test_the_bot_settings_are_saved_read_back_and_refused_by_field(
        owner: AgentClient, inbox: AgentClient) -> None:
    collection = filled(owner)
    before = owner.get_bot()
    assert isinstance(before, BotSettings) and before.enabled is False
    saved = owner.update_bot(enabled=True, name="Ada", handoff_keywords=("Human", "Agent"),
                             collection_ids=[collection.id], min_score=0.2,
                             inactivity_minutes=15, public_api_enabled=True,
                             welcome_message="Hi!")
    assert (saved.enabled, saved.name, saved.handoff_keywords, saved.collection_ids) == (
        True, "Ada", ("human", "agent"), (collection.id,))
    assert (saved.min_score, saved.inactivity_minutes, saved.public_api_enabled) == (
        0.2, 15, True)
    assert owner.get_bot() == saved and inbox.get_bot() == saved  # every agent reads it
    with pytest.raises(ValidationError) as bad:
        owner.update_bot(min_score=1.5, name="Eve")
    assert bad.value.field == "min_score" and "0 to 1" in bad.value.message
    assert owner.get_bot() == saved  # nothing changed
    with pytest.raises(ForbiddenError):
        inbox.update_bot(enabled=False)
    with pytest.raises(ForbiddenError):
        inbox.create_collection("Mine")
    owner.update_bot(enabled=False, collection_ids=[], public_api_enabled=False)


def test_the_preview_shows_the_ranked_passages_and_the_answer(
        owner: AgentClient, inbox: AgentClient) -> None:
    collection = filled(owner)
    returns = owner.add_document(collection.id, "Returns and refunds", text=RETURNS)
    owner.update_bot(collection_ids=[collection.id], min_score=0.05)
    preview = inbox.preview_bot("How many days do I have to return an item?")
    assert preview.passages[0].document_id == returns.id and preview.handoff is None
    assert preview.answer.startswith("You can return any item within 30 days")
    assert preview.sources == ((returns.id, "Returns and refunds"),)
    asked = inbox.preview_bot("I want a human")
    assert asked.handoff == "asked" and asked.sources == ()
    with pytest.raises(ValidationError) as bad:
        inbox.preview_bot("  ")
    assert bad.value.field == "question"
    owner.update_bot(collection_ids=[])


def test_async_flavours(app: Any, boss: Login) -> None:
    async def run() -> tuple[Any, ...]:
        client = AsyncAgentClient("http://testserver", token=boss.token,
                                  transport=httpx.WSGITransport(app=app))
        try:
            made = await client.create_collection("Async")
            doc = await client.upload_document(made.id, b"Opening hours: nine to five.",
                                               "hours.txt")
            found = await client.search_knowledge("opening hours")
            docs = await client.documents(made.id)
            bot = await client.get_bot()
            preview = await client.preview_bot("opening hours")
            await client.delete_document(made.id, doc.id)
            renamed = await client.update_collection(made.id, description="d")
            await client.delete_collection(made.id)
            left = await client.knowledge_collections()
            updated = await client.update_bot(name=bot.name)
            return doc, found, docs, preview, renamed, left, bot, updated
        finally:
            await client.close()

    doc, found, docs, preview, renamed, left, bot, updated = asyncio.run(run())
    assert found[0].document_id == doc.id and docs == [doc]
    assert preview.passages[0].document_id == doc.id
    assert renamed.description == "d" and left == [] and updated == bot
