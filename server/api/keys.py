"""Agent / owner API: keys."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("keys", __name__, url_prefix="/api/v1")
