"""The README's quickstart, run as written against a real `chatdock serve` (curl + python3)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServedProcess

README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_script() -> str:
    """The sh blocks between '## Quickstart' and the next section, in order."""
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's quickstart (apt-get install curl)")
    served = ServedProcess(tmp_path)
    try:
        script = quickstart_script()
        # the placeholders a reader fills in from the banner, and the port this test got
        for name, value in (("BASE", served.base), ("PK", served.pk), ("SK", served.sk)):
            script, n = re.subn(rf"^{name}=\S+.*$", f"{name}={value}", script, count=1,
                                flags=re.M)
            assert n == 1, f"the quickstart no longer sets {name}"
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        # the agent's listing finds the visitor's conversation, then the reply is stored
        assert re.search(r"\b1 visitor-42 1 Where is my order\?$", out.stdout, re.M), out.stdout
        assert '"content": "On its way!"' in out.stdout, out.stdout
    finally:
        served.stop()
