"""Alembic's environment and the schema's revisions; server.migrate configures it in code."""
