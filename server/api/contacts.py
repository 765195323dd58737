"""Agent / owner API: contacts (/api/v1/contacts/...): search, read, update, export, erase."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from server.api.common import commit_ok, json_body, ok, ok_page, page_args
from server.auth import agent_api
from server.db import get_session
from server.services import contacts

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")


@bp.get("/contacts")
@agent_api("contacts:read")
def list_contacts() -> Response:
    page, per_page = page_args()
    q = contacts.check_query(request.args.get("q"))
    rows, total = contacts.list_contacts(get_session(), g.actor.business_id, g.actor.mode, q,
                                         page, per_page)
    return ok_page(rows, total, page, per_page)


@bp.get("/contacts/<int:contact_id>")
@agent_api("contacts:read")
def get_contact(contact_id: int) -> Response:
    return ok(contacts.get_contact(get_session(), g.actor.business_id, g.actor.mode,
                                   contact_id))


@bp.patch("/contacts/<int:contact_id>")
@agent_api("contacts:write")
def update_contact(contact_id: int) -> Response:
    changes = contacts.check_patch(json_body())
    return commit_ok(contacts.do_update_contact(get_session(), g.actor.business_id,
                                                g.actor.mode, contact_id, changes))


@bp.delete("/contacts/<int:contact_id>")
@agent_api("contacts:write")
def erase_contact(contact_id: int) -> Response:
    stored = contacts.do_erase_contact(get_session(), g.actor.business_id, g.actor.mode,
                                       contact_id)
    resp = commit_ok({"id": contact_id, "deleted": True})
    for key in stored:  # committed: the files go too
        current_app.extensions["storage"].delete(key)
    return resp


@bp.get("/contacts/<int:contact_id>/export")
@agent_api("contacts:read")
def export_contact(contact_id: int) -> Response:
    resp = ok(contacts.export_contact(get_session(), g.actor.business_id, g.actor.mode,
                                      contact_id))
    resp.headers["Content-Disposition"] = f'attachment; filename="contact-{contact_id}.json"'
    return resp
