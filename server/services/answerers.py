"""How the bot words an answer from knowledge passages: extractive by default, or an
OpenAI-compatible chat-completions API grounded on the passages (BOT_LLM_URL), which falls
back to the extractive answer on any error or timeout."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

log = logging.getLogger("chatdock.bot")
ANSWER_CHARS = 400  # the extractive answer: the best passage's first sentences up to this
PASSAGES_FOR_LLM = 3
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
SYSTEM_PROMPT = (
    "You are a customer-support assistant. Answer the visitor's question using only the "
    "passages below, briefly, in the visitor's language. If the passages do not answer it, "
    "say you do not know. Do not invent facts.")


class PassageLike(Protocol):
    """What an answer is built from (server.services.knowledge.Passage)."""

    @property
    def document_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Answer:
    """The bot's words and the passages they came from (its message's sources)."""

    text: str
    sources: tuple[PassageLike, ...]


class Answerer(Protocol):
    """Turn a question and its passages (best first, at least one) into an answer."""

    def answer(self, question: str, passages: Sequence[PassageLike]) -> Answer: ...


def first_sentences(text: str, limit: int = ANSWER_CHARS) -> str:
    """Whole sentences from the start of text up to limit characters (one cut short if the
    first alone is longer)."""
    flat = " ".join(text.split())
    out = ""
    for sentence in SENTENCE_END.split(flat):
        if out and len(out) + 1 + len(sentence) > limit:
            break
        out = f"{out} {sentence}" if out else sentence
    return out if len(out) <= limit else out[:limit - 1].rstrip() + "…"


class Extractive:
    """The best passage's first sentences, then "— <document title>"."""

    def answer(self, question: str, passages: Sequence[PassageLike]) -> Answer:
        best = passages[0]
        return Answer(f"{first_sentences(best.text)} — {best.title}", (best,))


class OpenAICompatible:
    """POST {url}/v1/chat/completions with the passages as grounding; extractive on failure."""

    def __init__(self, url: str, model: str, api_key: str = "", timeout: float = 10.0,
                 fallback: Answerer | None = None) -> None:
        self.endpoint = url.rstrip("/") + "/v1/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.fallback = fallback or Extractive()

    def request_body(self, question: str, passages: Sequence[PassageLike]) -> dict[str, Any]:
        """The chat-completions request: a system prompt with the numbered passages."""
        grounding = "\n\n".join(f"[{i}] {p.title}\n{p.text}"
                                for i, p in enumerate(passages, 1))
        return {"model": self.model, "temperature": 0,
                "messages": [{"role": "system",
                              "content": f"{SYSTEM_PROMPT}\n\nPassages:\n\n{grounding}"},
                             {"role": "user", "content": question}]}

    def answer(self, question: str, passages: Sequence[PassageLike]) -> Answer:
        used = tuple(passages[:PASSAGES_FOR_LLM])
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = httpx.post(self.endpoint, json=self.request_body(question, used),
                               headers=headers, timeout=self.timeout)
            reply.raise_for_status()
            text = str(reply.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as failed:
            log.warning("bot LLM answer failed (%s: %s); answering extractively",
                        type(failed).__name__, failed)
            return self.fallback.answer(question, passages)
        if not text:
            return self.fallback.answer(question, passages)
        return Answer(text, used)


def from_config(config: Mapping[str, Any]) -> Answerer:
    """The deployment's answerer: OpenAICompatible when BOT_LLM_URL is set, else Extractive."""
    if not config["BOT_LLM_URL"]:
        return Extractive()
    return OpenAICompatible(config["BOT_LLM_URL"], config["BOT_LLM_MODEL"],
                            config["BOT_LLM_API_KEY"], float(config["BOT_LLM_TIMEOUT_SECONDS"]))
