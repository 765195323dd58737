"""The visitor app's web page: Flet's own index.html with a script policy (app_flet/offline.py).

The browser side (the CDN request refused, the chat still working) is in
tests/e2e/test_visitor_app.py; this checks the page the app writes, from the installed Flet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app_flet.offline import SCRIPT_POLICY, index_with_policy, write_index

pytest.importorskip("flet_web", reason="the visitor app needs the flet extra")


def test_the_installed_flet_page_gets_the_policy_before_any_script(tmp_path: Path) -> None:
    from flet_web import get_package_web_dir

    assert write_index(tmp_path)
    page = (tmp_path / "index.html").read_text("utf-8")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{SCRIPT_POLICY}">'
    assert page.index(meta) < page.index("<script")  # a policy applies to what follows it
    original = (Path(get_package_web_dir()) / "index.html").read_text("utf-8")
    assert page.replace("\n  " + meta, "", 1) == original  # nothing else changed


def test_a_page_without_head_is_left_alone() -> None:
    assert index_with_policy("<html><body></body></html>") is None
    assert index_with_policy('<HEAD lang="en"><title>x</title>').startswith(
        '<HEAD lang="en">\n  <meta http-equiv="Content-Security-Policy"')
