"""Semantic retrieval (the `semantic` extra): chunk embeddings and the hybrid ranking.

Enabled when sentence-transformers imports and KNOWLEDGE_SEMANTIC is on; the model
(KNOWLEDGE_EMBEDDING_MODEL: a hub name or a local directory; HF_HUB_OFFLINE is the hub
library's own) loads on first use, once per process. Chunks are written without a vector
and embedded by server/embedding_worker.py in batches (embed_pending): a 1 MB document takes
minutes of CPU here, far too long for its request. Until then a chunk ranks by full text only.

search = reciprocal-rank fusion (k=60) of the full-text top CANDIDATES and the cosine top
CANDIDATES (numpy over the business's vectors, cached per process and re-read when the
business's embedded chunks change). The order is the fused rank; a passage's score is its
relevance, what the bot's min_score compares: the larger of its full-text score (the share
of the question it holds) and its cosine to the question.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from server.models import KnowledgeChunk, KnowledgeDocument

if TYPE_CHECKING:
    import numpy as np

    from server.services.knowledge_search import Passage

log = logging.getLogger("chatdock.embeddings")
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RRF_K = 60
CANDIDATES = 20  # from each ranker; the fused list is cut to the caller's limit
COSINE_FLOOR = 0.25  # a chunk less similar than this is no semantic candidate at all
BATCH = 32  # chunks embedded per transaction by embed_pending
SNIPPET_CHARS = 200


@dataclass
class _State:
    model_name: str = DEFAULT_MODEL
    enabled: bool = True
    model: Any = None
    failed: bool = False  # the model would not load: full text only until reconfigured


_state = _State()
_lock = threading.Lock()
# (business id, model) -> (fingerprint, chunk ids, collection ids, unit vectors)
_cache: dict[tuple[int, str], tuple[tuple[int, int, int], Any, Any, Any]] = {}


def configure(config: Mapping[str, Any]) -> None:
    """Take KNOWLEDGE_EMBEDDING_MODEL and KNOWLEDGE_SEMANTIC (a new model loads on next use)."""
    name = config.get("KNOWLEDGE_EMBEDDING_MODEL") or DEFAULT_MODEL
    with _lock:
        if name != _state.model_name:
            _state.model, _state.failed = None, False
            _cache.clear()
        _state.model_name = name
        _state.enabled = bool(config.get("KNOWLEDGE_SEMANTIC", True))


@functools.cache  # a search asks every time; installing the extra needs a restart anyway
def installed() -> bool:
    """Whether sentence-transformers (the `semantic` extra) can be imported."""
    return importlib.util.find_spec("sentence_transformers") is not None


def available() -> bool:
    """Whether search ranks hybrid and the embedding worker runs."""
    return _state.enabled and not _state.failed and installed()


def model_name() -> str:
    """The configured model (what each chunk's embedding_model records)."""
    return _state.model_name


class ModelUnavailable(RuntimeError):
    """The embedding model could not be loaded (logged once; search falls back)."""


def _model() -> Any:
    with _lock:
        if _state.failed:
            raise ModelUnavailable(_state.model_name)
        if _state.model is None:
            try:
                from sentence_transformers import SentenceTransformer

                _state.model = SentenceTransformer(_state.model_name, device="cpu")
            except Exception as err:  # no hub here, a wrong name or path: say so once
                log.exception("embedding model %s did not load: knowledge search uses "
                              "full text only", _state.model_name)
                _state.failed = True
                raise ModelUnavailable(_state.model_name) from err
        return _state.model


def encode(texts: Sequence[str]) -> np.ndarray:
    """Unit-length float32 vectors of texts, one row each."""
    import numpy as np

    vectors = _model().encode(list(texts), batch_size=BATCH, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype="<f4")


def chunk_text(title: str, heading: str | None, body: str) -> str:
    """What a chunk's vector is made of: its document's title, heading and text."""
    return "\n".join(part for part in (title, heading, body) if part)


def embed_pending(session: Session, limit: int = BATCH) -> int:
    """Embed up to limit chunks lacking this model's vector; how many were."""
    name = model_name()
    rows = session.execute(
        select(KnowledgeChunk.id, KnowledgeDocument.title, KnowledgeChunk.heading,
               KnowledgeChunk.text)
        .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
        .where((KnowledgeChunk.embedding_model.is_(None))
               | (KnowledgeChunk.embedding_model != name))
        .order_by(KnowledgeChunk.id).limit(limit)).all()
    if not rows:
        return 0
    vectors = encode([chunk_text(r.title, r.heading, r.text) for r in rows])
    session.execute(update(KnowledgeChunk), [  # bulk UPDATE by primary key
        {"id": r.id, "embedding": v.tobytes(), "embedding_dim": int(vectors.shape[1]),
         "embedding_model": name} for r, v in zip(rows, vectors, strict=True)])
    return len(rows)


def _vectors(session: Session, business_id: int) -> tuple[Any, Any, Any]:
    """The business's embedded chunks: (ids, collection ids, matrix), from the cache while
    their count, largest id and id sum (a cheap fingerprint of any write) are unchanged."""
    import numpy as np

    name = model_name()
    mine = (KnowledgeChunk.business_id == business_id) & (KnowledgeChunk.embedding_model == name)
    count, largest, total = session.execute(
        select(func.count(), func.coalesce(func.max(KnowledgeChunk.id), 0),
               func.coalesce(func.sum(KnowledgeChunk.id), 0)).where(mine)).one()
    fingerprint = (int(count), int(largest), int(total))
    cached = _cache.get((business_id, name))
    if cached is not None and cached[0] == fingerprint:
        return cached[1], cached[2], cached[3]
    rows = session.execute(select(KnowledgeChunk.id, KnowledgeChunk.collection_id,
                                  KnowledgeChunk.embedding).where(mine)
                           .order_by(KnowledgeChunk.id)).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    collections = np.array([r.collection_id for r in rows], dtype=np.int64)
    matrix = (np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4")
              .reshape(len(rows), -1) if rows else np.zeros((0, 1), dtype="<f4"))
    _cache[(business_id, name)] = (fingerprint, ids, collections, matrix)
    return ids, collections, matrix


def cosine_top(session: Session, business_id: int, query: str,
               collection_ids: list[int] | None, n: int) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the n chunks most like query, at least COSINE_FLOOR, best first."""
    import numpy as np

    ids, collections, matrix = _vectors(session, business_id)
    if not len(ids):
        return []
    scores = matrix @ encode([query])[0]
    if collection_ids:
        scores = np.where(np.isin(collections, collection_ids), scores, -1.0)
    best = np.argsort(-scores, kind="stable")[:n]
    return [(int(ids[i]), float(scores[i])) for i in best if scores[i] >= COSINE_FLOOR]


def fuse(*rankings: Sequence[int]) -> list[int]:
    """Reciprocal-rank fusion: ids by their sum of 1/(k + rank), best first (ties: lower id)."""
    sums: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            sums[key] = sums.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(sums, key=lambda key: (-sums[key], key))


FullText = Callable[[Session, int, str, "list[int] | None", int], "list[Passage]"]


def hybrid_search(session: Session, business_id: int, query: str,
                  collection_ids: list[int] | None, limit: int,
                  fulltext: FullText) -> list[Passage]:
    """The fused ranking of fulltext's and the cosine's candidates, best first."""
    from server.services.knowledge_search import Passage

    lexical = {p.chunk_id: p for p in fulltext(session, business_id, query, collection_ids,
                                                max(limit, CANDIDATES))}
    try:
        semantic = cosine_top(session, business_id, query, collection_ids,
                              max(limit, CANDIDATES))
    except ModelUnavailable:
        return list(lexical.values())[:limit]
    fused = fuse(list(lexical), [chunk for chunk, _ in semantic])[:limit]
    cosine = dict(semantic)
    missing = [chunk for chunk in fused if chunk not in lexical]
    others = {r.id: r for r in session.execute(text(
        "SELECT c.id, c.document_id, d.title, c.text FROM knowledge_chunks c "
        "JOIN knowledge_documents d ON d.id = c.document_id WHERE c.id IN :ids")
        .bindparams(bindparam("ids", expanding=True)), {"ids": missing})} if missing else {}
    out = []
    for chunk in fused:
        hit = lexical.get(chunk)
        # relevance, as the bot's min_score reads it: the share of the question the passage
        # holds, or its cosine to the question when that is more
        score = max(hit.score if hit else 0.0, cosine.get(chunk, 0.0))
        if hit is not None:
            out.append(Passage(hit.document_id, hit.title, chunk, hit.text, hit.snippet, score))
        elif chunk in others:
            row = others[chunk]
            out.append(Passage(row.document_id, row.title, chunk, row.text,
                               row.text[:SNIPPET_CHARS], score))
    return out


def hybrid_document_ids(session: Session, business_id: int, question: str) -> list[int]:
    """Document ids by their best chunk in the hybrid ranking (bench/knowledge.py's hook)."""
    from server.services.knowledge_search import fulltext_search

    hits = hybrid_search(session, business_id, question, None, 10, fulltext_search)
    return list(dict.fromkeys(p.document_id for p in hits))
