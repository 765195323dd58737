"""Agent / owner API: agents."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("agents", __name__, url_prefix="/api/v1")
