"""Tests of the headless Python client (app_flet.headless) against the real server."""
