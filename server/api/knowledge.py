"""Agent API: the knowledge base (/api/v1/knowledge), per business: collections, their
documents (JSON or an uploaded file) and ranked search."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from server.api.common import (
    OK,
    commit_answer,
    commit_ok,
    idempotent,
    int_arg,
    json_body,
    ok,
    ok_page,
    page_args,
)
from server.auth import agent_api
from server.db import get_session
from server.errors import ValidationError
from server.services import knowledge
from server.services.knowledge import NewDocument

bp = Blueprint("knowledge", __name__, url_prefix="/api/v1/knowledge")
COLLECTION = "/collections/<int:collection_id>"


@bp.get("/collections")
@agent_api("tickets:read")
def list_collections() -> Response:
    return ok(knowledge.list_collections(get_session(), g.actor.business_id))


@bp.post("/collections")
@agent_api("knowledge:write")
@idempotent
def create_collection() -> Response:
    new = knowledge.check_new_collection(json_body())
    return commit_ok(knowledge.do_create_collection(get_session(), g.actor.business_id, new),
                     201)


@bp.get(COLLECTION)
@agent_api("tickets:read")
def get_collection(collection_id: int) -> Response:
    return ok(knowledge.get_collection(get_session(), g.actor.business_id, collection_id))


@bp.patch(COLLECTION)
@agent_api("knowledge:write")
@idempotent
def update_collection(collection_id: int) -> Response:
    changes = knowledge.check_collection_patch(json_body())
    return commit_ok(knowledge.do_update_collection(get_session(), g.actor.business_id,
                                                    collection_id, changes))


@bp.delete(COLLECTION)
@agent_api("knowledge:write")
def delete_collection(collection_id: int) -> Response:
    knowledge.do_delete_collection(get_session(), g.actor.business_id, collection_id)
    return commit_answer(OK)


def _document_body() -> NewDocument:
    """The document a POST sends: a multipart `file` (+ optional `title`) or a JSON body."""
    if request.mimetype != "multipart/form-data":
        return knowledge.check_json_document(json_body())
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("file is required (a multipart file field).", field="file")
    return knowledge.check_file_document(upload.filename or "", upload.mimetype,
                                         upload.read(knowledge.DOCUMENT_MAX_BYTES + 1),
                                         request.form.get("title"))


@bp.post(f"{COLLECTION}/documents")
@agent_api("knowledge:write")
@idempotent
def add_document(collection_id: int) -> Response:
    knowledge.find_collection(get_session(), g.actor.business_id, collection_id)  # 404 first
    new = _document_body()
    return commit_ok(knowledge.do_add_document(get_session(), g.actor.business_id,
                                               collection_id, new), 201)


@bp.get(f"{COLLECTION}/documents")
@agent_api("tickets:read")
def list_documents(collection_id: int) -> Response:
    page, per_page = page_args()
    rows, total = knowledge.list_documents(get_session(), g.actor.business_id, collection_id,
                                           page, per_page)
    return ok_page(rows, total, page, per_page)


@bp.delete(f"{COLLECTION}/documents/<int:document_id>")
@agent_api("knowledge:write")
def delete_document(collection_id: int, document_id: int) -> Response:
    knowledge.do_delete_document(get_session(), g.actor.business_id, collection_id,
                                 document_id)
    return commit_answer(OK)


@bp.get("/search")
@agent_api("tickets:read")
def search() -> Response:
    query = knowledge.check_search(request.args.get("q"))
    limit = int_arg("limit", 5, 1, knowledge.SEARCH_LIMIT_MAX)
    session = get_session()
    collections = knowledge.check_search_collection(session, g.actor.business_id,
                                                    request.args.get("collection_id"))
    passages = knowledge.search(session, g.actor.business_id, query,
                                collection_ids=collections, limit=limit)
    return ok([knowledge.passage_json(p) for p in passages])
