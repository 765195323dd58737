"""The owner's Bot and Knowledge pages with the real AsyncAgentClient against the real server
(driven unmounted, as test_pages.py drives the other owner pages): a collection made, a
markdown file uploaded, a question asked (ranked passages, the bot's answer), the bot's
settings saved and read back, and a bad value showing the server's message."""

from __future__ import annotations

from pathlib import Path

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.inbox.bot_page import BotPage, number
from app_flet.inbox.knowledge_page import KnowledgePage, human_size, snippet_spans
from app_flet.inbox.pages import SAVED
from app_flet.ui.theme import ERROR
from tests.flet_page import InMemoryPage
from tests.inbox.test_pages import shown
from tests.test_bot import FILLER, RETURNS
from tests.ui.conftest import Picker, fire, picked, run

PASSWORDS = ("# Forgotten password\n\nForgot your password? Use the reset link on the sign-in "
             "page; the link is valid for one hour.\n\n## Locked accounts\n\nAfter five "
             "wrong passwords the account locks for 15 minutes.\n")


def spans(text: ft.Text) -> list[tuple[str, bool]]:
    """The text's spans as (text, bold)."""
    return [(s.text or "", s.style is not None and s.style.weight == ft.FontWeight.BOLD)
            for s in text.spans or []]


def test_a_snippet_shows_hits_bold_and_everything_else_as_plain_text() -> None:
    parts = snippet_spans("…reset your **password** from <b>the</b> **sign** page")
    assert [(s.text, s.style is not None) for s in parts] == [
        ("…reset your ", False), ("password", True), (" from <b>the</b> ", False),
        ("sign", True), (" page", False)]
    assert [(s.text, s.style) for s in snippet_spans("2 ** 3 = 8")] == [("2 ** 3 = 8", None)]
    assert (human_size(512), human_size(3500), human_size(2 * 1024 * 1024)) == (
        "512 B", "3.4 KB", "2.0 MB")
    assert (number(" 0.25 "), number("15"), number("soon")) == (0.25, 15, "soon")


def test_collection_upload_and_a_question_show_the_ranked_passages_and_the_answer(
        owner_client: AsyncAgentClient, tmp_path: Path) -> None:
    async def scenario() -> None:
        picker = Picker()
        page = KnowledgePage(owner_client, pick_file=picker)
        await page.load()
        assert page.collections.controls == [] and not page.documents_box.visible
        page.new_collection.value = "Help centre"
        await fire(page.add_collection_button)
        assert shown(page) == "Collection added"
        [collection] = await owner_client.knowledge_collections()
        assert page.selected == collection.id and page.documents_box.visible

        for title, text in {"Returns and refunds": RETURNS, **FILLER}.items():
            page.doc_title.value, page.doc_text.value = title, text
            await fire(page.add_document_button)
            assert shown(page) == f"Added {title} (1 passages)", shown(page)
        # a markdown file: from the desktop dialog (a path), then in web mode (bytes)
        md = tmp_path / "passwords.md"
        md.write_text(PASSWORDS, encoding="utf-8")
        picker.files = [picked("passwords.md", data=b"", path=md),
                        picked("gifts.html", data=b"<h1>Gift cards</h1><p>They never "
                                                  b"expire.</p><script>x()</script>")]
        await fire(page.upload_button)
        assert shown(page) == "Uploaded passwords (2 passages)"
        await fire(page.upload_button)
        assert shown(page) == "Uploaded gifts (1 passages)"
        rows = page.documents.controls
        assert [r.cells[0].value for r in rows[:2]] == ["gifts", "passwords"]
        assert [c.value for c in rows[1].cells][1:3] == ["2", human_size(len(PASSWORDS))]
        assert page.documents_title.value == f"Documents of Help centre ({len(FILLER) + 3})"
        assert page.collections.get(collection.id).cells[1].value == str(len(FILLER) + 3)

        page.question.value = "I forgot my password, how do I reset it?"
        await fire(page.ask_button)
        assert page.answer.visible
        assert page.answer.value.startswith("The bot would answer: Forgot your password? "
                                            "Use the reset link")
        assert page.answer.value.endswith("— passwords")
        first = page.passages.controls[0]
        assert first.key == "passage-1"
        title, snippet = first.controls[0].controls[0], first.controls[1]
        assert title.value == "1. passwords"
        assert ("password", True) in [(t.lower(), b) for t, b in spans(snippet)]
        assert all("**" not in t for t, _ in spans(snippet))
        scores = [float(p.controls[0].controls[1].value.split()[1])
                  for p in page.passages.controls]
        assert scores == sorted(scores, reverse=True) and len(scores) >= 2

        page.question.value = "Can I talk to a person?"
        await fire(page.ask_button)
        assert page.answer.value.startswith("The bot would hand off (the question asks "
                                            "for a person), saying: Let me get a person")
        page.question.value = "   "
        await fire(page.ask_button)
        assert shown(page) == "question must not be empty." and page.status.color == ERROR

        passwords = next(r for r in rows if r.cells[0].value == "passwords")
        await fire(passwords.delete_button)
        assert shown(page) == "Document deleted"
        assert "passwords" not in [r.cells[0].value for r in page.documents.controls]
        assert all(p.title != "passwords" for p in
                   await owner_client.search_knowledge("password reset"))
    run(scenario)


def test_collections_are_renamed_refused_by_the_server_and_deleted_after_a_confirm(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        await owner_client.create_collection("FAQ")
        page = KnowledgePage(owner_client, pick_file=Picker())
        await page.load()
        page.new_collection.value = "FAQ"
        await fire(page.add_collection_button)
        assert shown(page) == "A knowledge collection with this name exists."
        assert page.status.color == ERROR
        assert page.new_collection.value == "FAQ"  # the field keeps the text
        row = page.collections.controls[0]
        await fire(row.rename_button)
        assert row.renaming.visible and row.new_name.value == "FAQ"
        row.new_name.value = "Questions"
        await fire(row.renaming.controls[1])
        assert shown(page) == "Collection renamed" and row.cells[0].value == "Questions"
        assert not row.renaming.visible
        await fire(row.delete_button)
        assert row.confirm.visible  # asks first: nothing deleted yet
        assert len(await owner_client.knowledge_collections()) == 1
        await fire(row.confirm.controls[1])
        assert shown(page) == "Collection deleted" and page.collections.controls == []
        assert await owner_client.knowledge_collections() == []
    run(scenario)


def test_the_bot_settings_are_saved_read_back_and_a_bad_value_shows_the_servers_words(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        help_centre = await owner_client.create_collection("Help centre")
        await owner_client.create_collection("Internal")
        page = BotPage(owner_client)
        await page.load()
        assert page.enabled.value is False and page.name.value == "Assistant"
        assert page.min_score.value == "0.1" and page.inactivity.value == "30"
        assert page.keywords.value.startswith("human, agent")
        assert [b.label for b in page.boxes.values()] == ["Help centre", "Internal"]
        assert not any(b.value for b in page.boxes.values())

        page.enabled.value, page.public_api.value = True, True
        page.name.value, page.handoff.value = "Ada", "A person will reply soon."
        page.keywords.value = "Human, talk to a person, "
        page.boxes[help_centre.id].value = True
        page.min_score.value, page.inactivity.value = "0.25", "15"
        await fire(page.save_button)
        assert shown(page) == SAVED
        saved = await owner_client.get_bot()
        assert (saved.enabled, saved.name, saved.handoff_message) == (
            True, "Ada", "A person will reply soon.")
        assert saved.handoff_keywords == ("human", "talk to a person")
        assert saved.collection_ids == (help_centre.id,) and saved.public_api_enabled
        assert (saved.min_score, saved.inactivity_minutes) == (0.25, 15)
        assert page.keywords.value == "human, talk to a person"  # as the server stored it

        again = BotPage(owner_client)
        await again.load()
        assert again.enabled.value is True and again.name.value == "Ada"
        assert again.boxes[help_centre.id].value is True and again.min_score.value == "0.25"

        again.min_score.value = "1.5"
        await fire(again.save_button)
        assert shown(again) == "min_score must be a number from 0 to 1."
        assert again.status.color == ERROR and again.min_score.error == shown(again)
        again.min_score.value, again.inactivity.value = "0.3", "soon"
        await fire(again.save_button)
        assert again.min_score.error is None
        assert again.inactivity.error == "inactivity_minutes must be a whole number from " \
                                         "1 to 10080." == shown(again)
        again.inactivity.value, again.name.value = "15", " "
        await fire(again.save_button)
        assert again.name.error and again.inactivity.error is None
        assert await owner_client.get_bot() == saved  # nothing refused was stored
    run(scenario)


def test_on_a_page_the_passages_go_out_as_text_spans_never_markup(
        owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        collection = await owner_client.create_collection("Help")
        for title, text in {**FILLER, "Tags": "Write <b>bold</b> with **stars** around "
                                              "a word to make it bold."}.items():
            await owner_client.add_document(collection.id, title, text=text)
        async with InMemoryPage() as fp:
            page = KnowledgePage(owner_client, pick_file=Picker())
            fp.page.add(page)
            await page.load()
            page.question.value = "How do I make a word bold?"
            await fire(page.ask_button)
            assert fp.visible("passage-1-snippet") and fp.visible("bot-answer")
            assert fp.sent("bold") and fp.sent("1. Tags")  # a hit: a span of its own
            snippet = fp.find("passage-1-snippet")
            assert any("<b>" in t for t, _ in spans(snippet))  # user text stays text
    run(scenario)
