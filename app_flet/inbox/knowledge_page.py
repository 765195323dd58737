"""The owner's Knowledge page: the business's collections (add, rename, delete after a
confirm), the selected one's documents (delete; add by pasting text or uploading a .txt /
.md / .html file) and "Ask a question": the passages the bot ranks for it and what the bot
would answer (POST /bot/preview: nothing is sent to anyone).

Like the pages in pages.py it takes the AsyncAgentClient, fills itself in `await load()`
and shows the server's errors on its status line. Server text, snippets included, is shown
as `ft.Text(value=…)` / text spans: a snippet's **hit** marks become bold spans by
splitting on them, never markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app_flet.headless.agent import AsyncAgentClient
from app_flet.headless.agent_models import BotPreview, KnowledgeCollection, KnowledgeDocument
from app_flet.headless.errors import ChatError
from app_flet.inbox.pages import Panel, Rows, TableRow, _header, action, when
from app_flet.ui.attachments import FilePick, PickFile, upload_source
from app_flet.ui.theme import ERROR, MUTED, WHITE

__all__ = ["KnowledgePage", "answer_text", "human_size", "snippet_spans"]

Click = Callable[[ft.Event[Any]], Awaitable[None]]
COLLECTION_COLUMNS = ["Collection", "Documents", "Description", ""]
DOCUMENT_COLUMNS = ["Title", "Passages", "Size", "Added", ""]
HIT = "**"  # how the server marks a search hit in a snippet
BOLD = ft.TextStyle(weight=ft.FontWeight.BOLD)


def snippet_spans(snippet: str) -> list[ft.TextSpan]:
    """The snippet as plain-text spans, each **hit** a bold span (an unpaired ** is text)."""
    parts = snippet.split(HIT)
    if len(parts) % 2 == 0:  # an odd number of marks: the last one is not a hit's end
        parts[-2:] = [parts[-2] + HIT + parts[-1]]
    return [ft.TextSpan(part, style=BOLD if i % 2 else None)
            for i, part in enumerate(parts) if part]


def human_size(size: int) -> str:
    """Bytes as "512 B", "3.4 KB", "1.0 MB"."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


HANDOFF_WHY = {"asked": "the question asks for a person",
               "no_answer": "no passage scores the bot's minimum",
               "error": "the answer failed"}


def answer_text(preview: BotPreview) -> str:
    """What the page says the bot would do: its answer, or that it would hand off and why."""
    if preview.handoff is None:
        return f"The bot would answer: {preview.answer}"
    why = HANDOFF_WHY.get(preview.handoff, preview.handoff)
    return f"The bot would hand off ({why}), saying: {preview.answer}"


class CollectionRow(TableRow):
    """One collection: "Open" shows its documents, "Rename" edits its name in the row,
    "Delete" asks first. Buttons carry the collection's id as `data`."""

    def __init__(self, collection: KnowledgeCollection, *, on_open: Click, on_rename: Click,
                 on_delete: Click) -> None:
        n = collection.id
        self.open_button = ft.TextButton("Open", key=f"open-collection-{n}", data=n,
                                         on_click=on_open)
        self.rename_button = ft.OutlinedButton("Rename", key=f"rename-collection-{n}",
                                               on_click=self._start_rename)
        self.new_name = ft.TextField(label="New name", key=f"collection-name-{n}", width=200)
        self.renaming = ft.Row([
            self.new_name,
            ft.FilledButton("Save", key=f"save-collection-{n}", data=n, on_click=on_rename),
            ft.TextButton("Cancel", key=f"cancel-rename-collection-{n}",
                          on_click=self._cancel),
        ], tight=True)
        self.delete_button = ft.OutlinedButton("Delete", key=f"delete-collection-{n}",
                                               on_click=self._ask)
        self.confirm = ft.Row([
            ft.Text("Delete it and all its documents?", color=ERROR),
            ft.FilledButton("Yes, delete", key=f"confirm-delete-collection-{n}",
                            bgcolor=ERROR, color=WHITE, data=n, on_click=on_delete),
            ft.TextButton("Cancel", key=f"cancel-delete-collection-{n}", on_click=self._cancel),
        ], tight=True)
        super().__init__(f"collection-{n}", len(COLLECTION_COLUMNS) - 1, self.open_button,
                         self.rename_button, self.renaming, self.delete_button, self.confirm)
        self.collection = collection

    def show(self, collection: KnowledgeCollection) -> None:
        """Paint this collection as it is now (neither renaming nor asking)."""
        self.collection = collection
        self.fill(collection.name, str(collection.document_count),
                  collection.description or "")
        self._mode(None)

    def _mode(self, mode: str | None) -> None:
        self.renaming.visible, self.confirm.visible = mode == "rename", mode == "delete"
        self.rename_button.visible = self.delete_button.visible = mode is None

    async def _start_rename(self, e: ft.Event[Any]) -> None:
        self.new_name.value = self.collection.name
        self._mode("rename")

    async def _ask(self, e: ft.Event[Any]) -> None:
        self._mode("delete")

    async def _cancel(self, e: ft.Event[Any]) -> None:
        self._mode(None)


class DocumentRow(TableRow):
    """One document of the open collection; "Delete" (its `data` the id) removes it."""

    def __init__(self, document: KnowledgeDocument, on_delete: Click) -> None:
        self.delete_button = ft.OutlinedButton("Delete", key=f"delete-document-{document.id}",
                                               data=document.id, on_click=on_delete)
        super().__init__(f"document-{document.id}", len(DOCUMENT_COLUMNS) - 1,
                         self.delete_button)

    def show(self, document: KnowledgeDocument) -> None:
        self.fill(document.title, str(document.chunk_count), human_size(document.size),
                  when(document.created_at))


def passage_row(rank: int, title: str, snippet: str, score: float) -> ft.Control:
    """One ranked passage: its rank and title, the snippet (hits bold) and its score."""
    return ft.Column([
        ft.Row([ft.Text(value=f"{rank}. {title}", weight=ft.FontWeight.W_600, expand=True),
                ft.Text(value=f"score {score:.2f}", key=f"passage-{rank}-score",
                        color=MUTED)]),
        ft.Text(key=f"passage-{rank}-snippet", spans=snippet_spans(snippet)),
    ], key=f"passage-{rank}", spacing=2, tight=True)


class KnowledgePage(Panel):
    """Collections, the open one's documents, adding documents, and "Ask a question".
    `pick_file` asks for the file to upload (default: Flet's FilePicker)."""

    def __init__(self, client: AsyncAgentClient, pick_file: PickFile | None = None) -> None:
        super().__init__(client, "knowledge-page")
        self._pick_file: PickFile = pick_file or FilePick()
        self.selected: int | None = None
        self.new_collection = ft.TextField(label="New collection", key="new-collection",
                                           width=280)
        self.add_collection_button = ft.FilledButton("Add collection", key="add-collection",
                                                     on_click=self._add_collection)
        self.collections = Rows("collections", lambda c: CollectionRow(
            c, on_open=self._open, on_rename=self._rename, on_delete=self._delete_collection))
        self.documents_title = ft.Text("", key="documents-title", weight=ft.FontWeight.W_600)
        self.documents = Rows("documents", lambda d: DocumentRow(d, self._delete_document))
        self.doc_title = ft.TextField(label="Title", key="document-title", width=360)
        self.doc_text = ft.TextField(label="Text (plain or markdown)", key="document-text",
                                     multiline=True, min_lines=4)
        self.add_document_button = ft.FilledButton("Add document", key="add-document",
                                                   on_click=self._add_document)
        self.upload_button = ft.OutlinedButton("Upload .txt / .md / .html…",
                                               key="upload-document", on_click=self._upload)
        self.documents_box = ft.Column([
            self.documents_title, _header(DOCUMENT_COLUMNS), self.documents,
            self.doc_title, self.doc_text,
            ft.Row([self.add_document_button, self.upload_button]),
        ], key="collection-documents", spacing=8, visible=False)
        self.question = ft.TextField(label="Ask a question as a visitor would",
                                     key="ask-question-text", expand=True,
                                     on_submit=self._ask)
        self.ask_button = ft.FilledButton("Ask", key="ask-question", on_click=self._ask)
        self.answer = ft.Text("", key="bot-answer", visible=False, selectable=True)
        self.passages = ft.Column(key="passages", spacing=10)
        self.controls = [
            ft.Text("Knowledge", size=20, weight=ft.FontWeight.W_600),
            ft.Row([self.new_collection, self.add_collection_button], wrap=True),
            self.status, _header(COLLECTION_COLUMNS), self.collections,
            ft.Divider(), self.documents_box, ft.Divider(),
            ft.Text("Ask a question", weight=ft.FontWeight.W_600),
            ft.Text("What the bot would answer with its current settings (nothing is sent).",
                    color=MUTED),
            ft.Row([self.question, self.ask_button]), self.answer, self.passages,
        ]

    async def load(self) -> None:
        """List the collections (and the open one's documents)."""
        await self._reload()
        self.push()

    async def _reload(self) -> None:
        collections = await self.attempt(self.client.knowledge_collections())
        if collections is None:
            return
        self.collections.show(collections)
        if self.selected not in {c.id for c in collections}:
            self.selected = None
        await self._reload_documents()

    async def _reload_documents(self) -> None:
        self.documents_box.visible = self.selected is not None
        if self.selected is None:
            self.documents.show([])
            return
        documents = await self.attempt(self.client.documents(self.selected))
        if documents is not None:
            row = self.collections.get(self.selected)
            name = row.collection.name if row is not None else ""
            self.documents_title.value = f"Documents of {name} ({len(documents)})"
            self.documents.show(documents)

    @action
    async def _add_collection(self, e: ft.Event[Any]) -> None:
        made = await self.attempt(self.client.create_collection(
            (self.new_collection.value or "").strip()))
        if made is not None:  # else the server's words show and the field keeps the text
            self.new_collection.value = ""
            self.selected = made.id
            self.say("Collection added")
            await self._reload()

    @action
    async def _open(self, e: ft.Event[Any]) -> None:
        self.selected = e.control.data
        await self._reload_documents()

    @action
    async def _rename(self, e: ft.Event[Any]) -> None:
        row = self.collections.get(e.control.data)
        if row is None:
            return
        if await self.attempt(self.client.update_collection(
                row.collection.id, name=(row.new_name.value or "").strip())) is not None:
            self.say("Collection renamed")
            await self._reload()

    @action
    async def _delete_collection(self, e: ft.Event[Any]) -> None:
        if await self._done(self.client.delete_collection(e.control.data)):
            self.say("Collection deleted")
        await self._reload()

    @action
    async def _add_document(self, e: ft.Event[Any]) -> None:
        if self.selected is None:
            return
        added = await self.attempt(self.client.add_document(
            self.selected, (self.doc_title.value or "").strip(), text=self.doc_text.value or ""))
        if added is not None:
            self.doc_title.value = self.doc_text.value = ""
            self.say(f"Added {added.title} ({added.chunk_count} passages)")
            await self._reload()

    @action
    async def _upload(self, e: ft.Event[Any]) -> None:
        picked = await self._pick_file() if self.selected is not None else None
        source = upload_source(picked) if picked is not None else None
        if self.selected is None or picked is None or source is None:
            return
        title = (self.doc_title.value or "").strip() or None
        added = await self.attempt(self.client.upload_document(self.selected, source,
                                                               picked.name, title=title))
        if added is not None:
            self.doc_title.value = ""
            self.say(f"Uploaded {added.title} ({added.chunk_count} passages)")
            await self._reload()

    @action
    async def _delete_document(self, e: ft.Event[Any]) -> None:
        if self.selected is not None and await self._done(
                self.client.delete_document(self.selected, e.control.data)):
            self.say("Document deleted")
        await self._reload()

    @action
    async def _ask(self, e: ft.Event[Any]) -> None:
        preview = await self.attempt(self.client.preview_bot(self.question.value or ""))
        if preview is None:
            return
        self.answer.value, self.answer.visible = answer_text(preview), True
        self.passages.controls = [passage_row(i, p.title, p.snippet, p.score)
                                  for i, p in enumerate(preview.passages, 1)] or [
            ft.Text("No passage matches this question.", color=MUTED)]

    async def _done(self, call: Awaitable[None]) -> bool:
        """Await a call answering nothing; False (the server's words shown) on an error."""
        try:
            await call
        except ChatError as err:
            self.say(err.message, error=True)
            return False
        return True
