"""The knowledge benchmark's labelled set (bench/data/knowledge), readable without the bench
extra: tests/test_semantic.py ranks its paraphrases too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "knowledge"


@dataclass(frozen=True)
class Question:
    q: str
    slug: str
    kind: str  # lexical | paraphrase


def load() -> tuple[dict[str, tuple[str, str]], list[Question]]:
    """The articles (slug -> (title, markdown)) and the labelled questions."""
    docs = {}
    for path in sorted((DATA / "docs").glob("*.md")):
        body = path.read_text()
        docs[path.stem] = (body.splitlines()[0].lstrip("# ").strip(), body)
    questions = [Question(r["q"], r["doc"], r["kind"])
                 for r in json.loads((DATA / "questions.json").read_text())]
    return docs, questions
