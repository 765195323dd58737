"""Knowledge base: collections of help documents, stored as chunks the bot searches.

Per business, shared by test and live mode (like branding and canned responses). A document
is sent as JSON `{title, text}` / `{title, chunks}` or uploaded as a text/plain,
text/markdown or text/html file; it is kept only as its chunks and their full-text index
(server.services.knowledge_search), written in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from server.db import flush_unique
from server.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from server.models import (
    MAX_ROW_ID,
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeDocument,
    utcnow,
)

# search() and Passage are the bot's interface (contract.md): re-exported from here
from server.services.knowledge_search import MARK as MARK
from server.services.knowledge_search import Passage as Passage
from server.services.knowledge_search import index_document, unindex_documents
from server.services.knowledge_search import search as search
from server.services.knowledge_text import (
    CHUNK_MAX,
    chunk_sections,
    sections_from_html,
    sections_from_text,
)
from server.validation import check_required_text, check_storable, check_text, is_whole
from server.wire import iso

NAME_MAX = 200
DESCRIPTION_MAX = 2000
TITLE_MAX = 200
MAX_COLLECTIONS = 100  # GET lists them all
DOCUMENT_MAX_BYTES = 1024 * 1024
MAX_CHUNKS = 2000  # per document: 1 MB of text in ~800-character chunks is ~1,300
SEARCH_LIMIT_MAX = 20
QUERY_MAX = 5000
# The types a file may have; application/octet-stream (what many clients send for an
# unknown extension) is taken by the file name's extension instead.
FILE_TYPES = {"text/plain": "text", "text/markdown": "text", "text/x-markdown": "text",
              "text/html": "html"}
EXTENSIONS = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html",
              ".htm": "html"}


@dataclass(frozen=True)
class CollectionFields:
    """A validated collection body (None: left as it is, on a PATCH; description "" clears)."""

    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class NewDocument:
    """A validated document: its title, size in bytes and (heading, text) chunks."""

    title: str
    size: int
    chunks: list[tuple[str | None, str]]


def check_new_collection(body: dict[str, Any]) -> CollectionFields:
    """Validate POST /knowledge/collections: name (required), description."""
    return CollectionFields(check_required_text(body, "name", NAME_MAX),
                            check_text(body, "description", DESCRIPTION_MAX))


def check_collection_patch(body: dict[str, Any]) -> CollectionFields:
    """Validate PATCH /knowledge/collections/{id}: name and/or description."""
    unknown = sorted(set(body) - {"name", "description"})
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here.", field=unknown[0])
    return CollectionFields(
        check_required_text(body, "name", NAME_MAX) if "name" in body else None,
        (check_text(body, "description", DESCRIPTION_MAX) or "") if "description" in body
        else None)


def collection_json(row: KnowledgeCollection, document_count: int) -> dict[str, Any]:
    """A collection as the API shows it."""
    return {"id": row.id, "name": row.name, "description": row.description,
            "document_count": document_count, "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at)}


def document_json(row: KnowledgeDocument) -> dict[str, Any]:
    """A document as the API shows it (its text lives on as chunks only)."""
    return {"id": row.id, "collection_id": row.collection_id, "title": row.title,
            "chunk_count": row.chunk_count, "size": row.size, "created_at": iso(row.created_at)}


def _document_counts(session: Session, collection_ids: list[int]) -> dict[int, int]:
    rows = session.execute(select(KnowledgeDocument.collection_id, func.count())
                           .where(KnowledgeDocument.collection_id.in_(collection_ids))
                           .group_by(KnowledgeDocument.collection_id))
    return {collection_id: count for collection_id, count in rows}


def list_collections(session: Session, business_id: int) -> list[dict[str, Any]]:
    """The business's collections by name."""
    rows = session.scalars(select(KnowledgeCollection)
                           .where(KnowledgeCollection.business_id == business_id)
                           .order_by(KnowledgeCollection.name, KnowledgeCollection.id)).all()
    counts = _document_counts(session, [r.id for r in rows])
    return [collection_json(r, counts.get(r.id, 0)) for r in rows]


def find_collection(session: Session, business_id: int, collection_id: int) -> KnowledgeCollection:
    """The business's collection, else 404 (another business's looks absent)."""
    row = session.get(KnowledgeCollection, collection_id) if collection_id <= MAX_ROW_ID else None
    if row is None or row.business_id != business_id:
        raise NotFound("No such knowledge collection.")
    return row


def get_collection(session: Session, business_id: int, collection_id: int) -> dict[str, Any]:
    """One collection with its document count."""
    row = find_collection(session, business_id, collection_id)
    return collection_json(row, _document_counts(session, [row.id]).get(row.id, 0))


def _save(session: Session, row: KnowledgeCollection) -> None:
    """Flush a new or renamed collection; a name the business already uses is a 409."""
    flush_unique(session, row, select(KnowledgeCollection.id).where(
        KnowledgeCollection.business_id == row.business_id,
        KnowledgeCollection.name == row.name), _name_taken)


def _name_taken() -> Conflict:
    return Conflict("A knowledge collection with this name exists.", field="name")


def do_create_collection(session: Session, business_id: int,
                         new: CollectionFields) -> dict[str, Any]:
    """Add a collection (at most MAX_COLLECTIONS per business)."""
    held = session.scalar(select(func.count()).select_from(KnowledgeCollection)
                          .where(KnowledgeCollection.business_id == business_id)) or 0
    if held >= MAX_COLLECTIONS:
        raise ValidationError(f"A business holds at most {MAX_COLLECTIONS} knowledge "
                              "collections; delete one first.")
    now = utcnow()
    row = KnowledgeCollection(business_id=business_id, name=new.name,
                              description=new.description, created_at=now, updated_at=now)
    session.add(row)
    _save(session, row)
    return collection_json(row, 0)


def do_update_collection(session: Session, business_id: int, collection_id: int,
                         changes: CollectionFields) -> dict[str, Any]:
    """Rename and/or describe a collection (updated_at only on a change)."""
    row = find_collection(session, business_id, collection_id)
    values = {k: v for k, v in (("name", changes.name),
                                ("description", changes.description))
              if v is not None and (v or None) != getattr(row, k)}
    if values:
        for name, value in values.items():
            setattr(row, name, value or None)
        row.updated_at = utcnow()
        _save(session, row)
    return get_collection(session, business_id, collection_id)


def _delete_documents(session: Session, document_ids: list[int]) -> None:
    """Delete documents with their chunks and the chunks' index rows."""
    unindex_documents(session, document_ids)
    for collection_id, chunks in session.execute(
            select(KnowledgeDocument.collection_id, func.sum(KnowledgeDocument.chunk_count))
            .where(KnowledgeDocument.id.in_(document_ids))
            .group_by(KnowledgeDocument.collection_id)).all():
        _count_chunks(session, collection_id, -chunks)
    session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.document_id.in_(document_ids)))
    session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id.in_(document_ids)))


def do_delete_collection(session: Session, business_id: int, collection_id: int) -> None:
    """Delete a collection, its documents, their chunks and index rows."""
    row = find_collection(session, business_id, collection_id)
    ids = list(session.scalars(select(KnowledgeDocument.id)
                               .where(KnowledgeDocument.collection_id == row.id)))
    for start in range(0, len(ids), 500):  # bounded IN lists
        _delete_documents(session, ids[start:start + 500])
    session.delete(row)
    session.flush()


def check_json_document(body: dict[str, Any]) -> NewDocument:
    """Validate a JSON document: {title, text} (chunked here) or {title, chunks: [str]}."""
    title = check_required_text(body, "title", TITLE_MAX)
    if ("text" in body) == ("chunks" in body):
        raise ValidationError("Send either text or chunks.", field="text")
    if "text" in body:
        text = body["text"]
        if not isinstance(text, str):
            raise ValidationError("text must be a string.", field="text")
        return _document(title, _size(text, "text"), text_chunks(text), "text")
    return _document(title, _size_of_chunks(body["chunks"]), _given_chunks(body["chunks"]),
                     "chunks")


def text_chunks(text: str) -> list[tuple[str | None, str]]:
    """Plain text or markdown as (heading, text) chunks."""
    return chunk_sections(sections_from_text(text))


def _size(text: str, field: str) -> int:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > DOCUMENT_MAX_BYTES:
        raise PayloadTooLarge(f"A document holds at most {DOCUMENT_MAX_BYTES} bytes.",
                              field=field)
    return size


def _size_of_chunks(chunks: Any) -> int:
    if not isinstance(chunks, list) or not all(isinstance(c, str) for c in chunks):
        raise ValidationError("chunks must be a list of strings.", field="chunks")
    return _size("".join(chunks), "chunks")


def _given_chunks(chunks: list[str]) -> list[tuple[str | None, str]]:
    """Chunks as sent (trimmed, blank ones dropped), each at most CHUNK_MAX characters."""
    for chunk in chunks:
        if len(chunk.strip()) > CHUNK_MAX:
            raise ValidationError(f"A chunk holds at most {CHUNK_MAX} characters.",
                                  field="chunks")
    return [(None, c.strip()) for c in chunks if c.strip()]


def _document(title: str, size: int, chunks: list[tuple[str | None, str]],
              field: str) -> NewDocument:
    if not chunks:
        raise ValidationError("The document has no text.", field=field)
    if len(chunks) > MAX_CHUNKS:
        raise ValidationError(f"The document makes {len(chunks)} chunks; at most "
                              f"{MAX_CHUNKS} are kept per document.", field=field)
    return NewDocument(title, size, chunks)


def _file_kind(file_name: str, mime_type: str) -> str:
    """"text" or "html" by the part's type (by extension for application/octet-stream)."""
    if mime_type == "application/octet-stream":
        kind = EXTENSIONS.get(PurePath(file_name).suffix.lower())
    else:
        kind = FILE_TYPES.get(mime_type)
    if kind is None:
        raise UnsupportedMediaType("A document file must be text/plain, text/markdown or "
                                   "text/html.", field="file")
    return kind


def check_file_document(file_name: str, mime_type: str, data: bytes,
                        title: str | None) -> NewDocument:
    """Validate an uploaded document: its type, size and UTF-8 text; HTML reduced to text."""
    kind = _file_kind(file_name, mime_type.lower())
    if len(data) > DOCUMENT_MAX_BYTES:
        raise PayloadTooLarge(f"A document holds at most {DOCUMENT_MAX_BYTES} bytes.",
                              field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text.", field="file") from None
    check_storable(text, "file")
    title = check_required_text({"title": title or PurePath(file_name).stem or file_name},
                                "title", TITLE_MAX)
    sections = sections_from_html(text) if kind == "html" else sections_from_text(text)
    return _document(title, len(data), chunk_sections(sections), "file")


def do_add_document(session: Session, business_id: int, collection_id: int,
                    new: NewDocument) -> dict[str, Any]:
    """Store a document's chunks and their index rows in the collection."""
    collection = find_collection(session, business_id, collection_id)
    doc = KnowledgeDocument(collection_id=collection.id, title=new.title, size=new.size,
                            chunk_count=len(new.chunks), created_at=utcnow())
    session.add(doc)
    session.flush()
    session.execute(insert(KnowledgeChunk), [
        {"document_id": doc.id, "business_id": business_id, "collection_id": collection.id,
         "ordinal": i, "heading": heading, "text": text}
        for i, (heading, text) in enumerate(new.chunks)])
    index_document(session, doc.id, doc.title)
    _count_chunks(session, collection.id, len(new.chunks))
    return document_json(doc)


def _count_chunks(session: Session, collection_id: int, change: int) -> None:
    """Add change to the collection's chunk_count: an increment in SQL, so concurrent
    writers of one collection each count theirs."""
    session.execute(update(KnowledgeCollection).where(KnowledgeCollection.id == collection_id)
                    .values(chunk_count=KnowledgeCollection.chunk_count + change))


def list_documents(session: Session, business_id: int, collection_id: int, page: int,
                   per_page: int) -> tuple[list[dict[str, Any]], int]:
    """A page of a collection's documents, newest first, and their total."""
    collection = find_collection(session, business_id, collection_id)
    where = KnowledgeDocument.collection_id == collection.id
    total = session.scalar(select(func.count()).select_from(KnowledgeDocument).where(where))
    rows = session.scalars(select(KnowledgeDocument).where(where)
                           .order_by(KnowledgeDocument.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    return [document_json(r) for r in rows], total or 0


def do_delete_document(session: Session, business_id: int, collection_id: int,
                       document_id: int) -> None:
    """Delete a document of this collection with its chunks and index rows (else 404)."""
    collection = find_collection(session, business_id, collection_id)
    doc = session.get(KnowledgeDocument, document_id) if document_id <= MAX_ROW_ID else None
    if doc is None or doc.collection_id != collection.id:
        raise NotFound("No such knowledge document.")
    _delete_documents(session, [doc.id])
    session.expunge(doc)


def check_search(query: str | None) -> str:
    """?q=: required, at most QUERY_MAX characters (any text: it never reaches a parser)."""
    if query is None or not query.strip():
        raise ValidationError("q is required.", field="q")
    if len(query) > QUERY_MAX:
        raise ValidationError(f"q is longer than {QUERY_MAX} characters.", field="q")
    return query


def check_search_collection(session: Session, business_id: int,
                            raw: str | None) -> list[int] | None:
    """?collection_id=: one of the business's collections (404 otherwise), or all."""
    if raw is None or raw == "":
        return None
    if not is_whole(raw):
        raise ValidationError("collection_id must be a whole number.", field="collection_id")
    return [find_collection(session, business_id, int(raw)).id]


def passage_json(p: Passage) -> dict[str, Any]:
    """A search hit as the API shows it (snippet: plain text with hits as **word**)."""
    return {"document_id": p.document_id, "title": p.title, "chunk_id": p.chunk_id,
            "snippet": p.snippet, "score": round(p.score, 4)}
