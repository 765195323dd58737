"""Agent / owner API: branding."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("branding", __name__, url_prefix="/api/v1")
