"""chatdock server: a Flask service speaking the Tickki Chat wire protocol."""

from server.app import create_app

__all__ = ["create_app"]
