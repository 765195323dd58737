"""Agent / owner API: contacts."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")
