"""The headless module imports without Flet and never imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import app_flet.headless

HEADLESS = Path(app_flet.headless.__file__).parent
ROOT = HEADLESS.parent.parent

PROBE = """
import sys
sys.modules["flet"] = None  # any `import flet` now raises ImportError
import app_flet.headless
from app_flet.headless import AsyncChatClient, ChatClient, ChatSession, MessageCreated
from app_flet.headless.agent import AgentClient, AsyncAgentClient
heavy = sorted(m for m, module in sys.modules.items() if module is not None and (
    m.split(".")[0] in {"flet", "flet_web", "playwright", "psycopg"}
    or m.startswith("app_flet.ui")))
print(heavy)
"""


def test_imports_with_flet_blocked() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_source_file_imports_flet() -> None:
    for path in HEADLESS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] in {"flet", "playwright"}
                        or n.startswith("app_flet.ui")], (path, names)
