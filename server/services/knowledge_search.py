"""Full-text index and search of knowledge chunks: SQLite FTS5 (bm25) or PostgreSQL tsvector
(ts_rank over a GIN index), behind one search().

The database ranks (SQLite: bm25, PostgreSQL: ts_rank); the score, in [0, 1], is the share
of the question's term weight the passage holds, each term weighted by its idf over the
scope searched (score_passages): it means the same on both databases and on an index of two
passages or of 100,000, where bm25's own value collapses on a tiny one (FTS5 floors the idf
of a word in half the rows at 1e-6). Snippets mark each hit as **word**: plain text, never
HTML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select, text
from sqlalchemy.orm import Session

from server.models import KnowledgeCollection
from server.services import embeddings  # imports numpy and torch only when used

MARK = "**"
MAX_TERMS = 32  # a long visitor message: its first 32 distinct words carry the question
TERM_MAX = 64
# bm25 column weights: a word of the title counts 4x one of the text, of a heading 2x
SQLITE_WEIGHTS = "4.0, 2.0, 1.0"
# ts_rank weights {D, C, B, A}: the title is A, the heading and text B (0.6 rather than the
# default 0.4: a paraphrased question rarely repeats the title's words; bench/knowledge.py)
POSTGRES_WEIGHTS = "{0.1, 0.2, 0.6, 1.0}"
_WORD = re.compile(r"[^\W_]+")
# PostgreSQL's english.stop (Snowball), then the fragments of contractions ("couldn" of
# "couldn't") NLTK's list adds: dropped here, both databases search the same words.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves what which who whom this that
these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further then once here
there when where why how all any both each few more most other some such no nor not only own
same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn
doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split())


@dataclass(frozen=True)
class Passage:
    """A ranked chunk: its document, its text, the snippet with hits marked, its score."""

    document_id: int
    title: str
    chunk_id: int
    text: str
    snippet: str
    score: float


def query_terms(query: str) -> list[str]:
    """The question's distinct words (letters and digits), lower-cased, stop words dropped."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in STOP_WORDS and word not in terms and len(word) <= TERM_MAX:
            terms.append(word)
            if len(terms) == MAX_TERMS:
                break
    return terms


def search(session: Session, business_id: int, query: str, *,
           collection_ids: list[int] | None = None, limit: int = 5) -> list[Passage]:
    """Rank the business's chunks against query (any visitor text), best first: hybrid
    (server.services.embeddings) when the `semantic` extra is on, else full text."""
    if not query_terms(query) or limit < 1 or collection_ids == []:
        return []
    if embeddings.available():
        return embeddings.hybrid_search(session, business_id, query, collection_ids, limit,
                                        fulltext_search)
    return fulltext_search(session, business_id, query, collection_ids, limit)


def fulltext_search(session: Session, business_id: int, query: str,
                    collection_ids: list[int] | None, limit: int) -> list[Passage]:
    """Rank by full text only: bm25 (SQLite) or ts_rank (PostgreSQL), best first (the
    database's order; each scored by score_passages)."""
    terms = query_terms(query)
    if not terms or limit < 1 or collection_ids == []:
        return []
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = (_search_sqlite if sqlite else _search_postgres)(
        session, business_id, terms, collection_ids, limit)
    scores = score_passages(session, business_id, terms, collection_ids, [r.id for r in rows])
    # the database's order stands (re-sorting by score lost recall@3 in bench/knowledge.py)
    return [Passage(r.document_id, r.title, r.id, r.text, r.snippet, scores[r.id])
            for r in rows]


def idf(matches: int, total: int) -> float:
    """A term's weight: BM25's idf with Lucene's +1, so positive however small the index
    (a word in every one of 2 passages weighs 0.29, one in none of 2,000 weighs 8.3)."""
    return math.log(1 + (total - matches + 0.5) / (matches + 0.5))


def score_passages(session: Session, business_id: int, terms: list[str],
                   collection_ids: list[int] | None, chunk_ids: list[int]) -> dict[int, float]:
    """Each chunk's score: the idf-weighted share of the terms it holds, in [0, 1]."""
    if not chunk_ids:
        return {}
    total, whole = _chunk_totals(session, business_id, collection_ids)
    if session.get_bind().dialect.name == "sqlite":
        stats = _term_stats_sqlite(session, business_id, terms, collection_ids, chunk_ids, whole)
    else:
        stats = _term_stats_postgres(session, business_id, terms, collection_ids, chunk_ids)
    weights = {term: idf(stats[term][0], total) for term in terms}
    whole_weight = sum(weights.values())
    return {chunk: sum(w for term, w in weights.items() if chunk in stats[term][1])
            / whole_weight for chunk in chunk_ids}


def _chunk_totals(session: Session, business_id: int,
                  collection_ids: list[int] | None) -> tuple[int, bool]:
    """How many chunks the search covers, and whether that is every chunk of the index
    (from the collections' kept counts: no scan of documents or chunks)."""
    scope = KnowledgeCollection.business_id == business_id
    if collection_ids:
        scope = scope & KnowledgeCollection.id.in_(collection_ids)
    searched, every = session.execute(select(
        func.coalesce(func.sum(case((scope, KnowledgeCollection.chunk_count), else_=0)), 0),
        func.coalesce(func.sum(KnowledgeCollection.chunk_count), 0))).one()
    return int(searched), searched == every


TermStats = dict[str, tuple[int, set[int]]]  # term -> (chunks in scope holding it, of chunk_ids)


def _term_stats_sqlite(session: Session, business_id: int, terms: list[str],
                       collection_ids: list[int] | None, chunk_ids: list[int],
                       whole: bool) -> TermStats:
    """Per term (a quoted FTS5 string: its porter stem, as the search matched it), how many
    chunks of the scope hold it and which of chunk_ids do, in one statement. When the scope
    is the whole index, FTS5's own match counts; else each match's business and collection
    checked in the covering index (~6x slower at 100,000 chunks: bench/knowledge.py)."""
    if whole:
        branch = ("SELECT {i} AS i, count(*) AS n, group_concat(CASE WHEN rowid IN :ids "
                  "THEN rowid END) AS held FROM knowledge_fts WHERE knowledge_fts MATCH :t{i}")
    else:
        branch = ("SELECT {i} AS i, count(*) AS n, group_concat(CASE WHEN c.id IN :ids "
                  "THEN c.id END) AS held FROM knowledge_fts CROSS JOIN knowledge_chunks AS c "
                  "INDEXED BY ix_knowledge_chunks_scope ON c.id = knowledge_fts.rowid "
                  f"WHERE knowledge_fts MATCH :t{{i}} AND c.business_id = :business"
                  f"{_scope(collection_ids)}")
    statement = text(" UNION ALL ".join(branch.format(i=i) for i in range(len(terms)))
                     ).bindparams(bindparam("ids", expanding=True))
    if not whole:
        statement = _params(statement, collection_ids)
    rows = session.execute(statement, {
        **{f"t{i}": f'"{term}"' for i, term in enumerate(terms)}, "ids": chunk_ids,
        "business": business_id, "collections": collection_ids or []})
    return {terms[r.i]: (r.n, {int(i) for i in (r.held or "").split(",") if i}) for r in rows}


def _term_stats_postgres(session: Session, business_id: int, terms: list[str],
                         collection_ids: list[int] | None, chunk_ids: list[int]) -> TermStats:
    """Per term (its english stem, as the search matched it), how many chunks of the scope
    hold it and which of chunk_ids do: one pass over the chunks matching any term (the GIN
    index), each term counted on the vectors read (half the time of a GIN lookup and heap
    pass per term at 100,000 chunks: bench/knowledge.py)."""
    columns = ", ".join(
        f"count(*) FILTER (WHERE c.search_vector @@ to_tsquery('english', :t{i})) AS n{i}, "
        f"array_agg(c.id) FILTER (WHERE c.id = ANY(:ids) AND "
        f"c.search_vector @@ to_tsquery('english', :t{i})) AS h{i}" for i in range(len(terms)))
    row = session.execute(_params(text(
        f"SELECT {columns} FROM knowledge_chunks c "
        "WHERE c.search_vector @@ to_tsquery('english', :any) "
        f"AND c.business_id = :business{_scope(collection_ids)}"), collection_ids),
        {**{f"t{i}": term for i, term in enumerate(terms)}, "any": " | ".join(terms),
         "ids": chunk_ids, "business": business_id,
         "collections": collection_ids or []}).one()
    return {term: (row[2 * i], set(row[2 * i + 1] or ())) for i, term in enumerate(terms)}


def _scope(collection_ids: list[int] | None) -> str:
    return " AND c.collection_id IN :collections" if collection_ids else ""


def _params(stmt: Any, collection_ids: list[int] | None) -> Any:
    return stmt.bindparams(bindparam("collections", expanding=True)) if collection_ids else stmt


# SQLite ranks the index's best GLOBAL_TOP matches first, without looking at their chunks:
# when `limit` of them are the business's (and collections'), they are its best (bm25 is
# global either way). Otherwise (a crowded multi-business index) it ranks the business's
# matches only, checking each in the small covering index (bench/knowledge.py: ranking a
# median question's ~1,400 matches, ~3 ms of CPU instead of 4.7).
GLOBAL_TOP = 50


@dataclass(frozen=True)
class _Row:
    id: int
    document_id: int
    title: str
    text: str
    snippet: str


def _ranked_sqlite(session: Session, match: str, business_id: int,
                   collection_ids: list[int] | None, limit: int) -> list[Any]:
    """(chunk id, bm25) of the business's best matches: bm25 is negative, best lowest."""
    params: dict[str, Any] = {"match": match, "business": business_id, "limit": limit,
                              "collections": collection_ids or [], "top": GLOBAL_TOP}
    where = f"c.business_id = :business{_scope(collection_ids)}"
    ranked = session.execute(_params(text(
        f"SELECT g.id, g.r FROM (SELECT rowid AS id, bm25(knowledge_fts, {SQLITE_WEIGHTS}) AS r "
        "FROM knowledge_fts WHERE knowledge_fts MATCH :match ORDER BY r LIMIT :top) AS g "
        f"JOIN knowledge_chunks AS c ON c.id = g.id WHERE {where} ORDER BY g.r LIMIT :limit"),
        collection_ids), params).all()
    if len(ranked) == limit:
        return list(ranked)
    # fewer than asked among the global best: rank the business's own matches (the index
    # first: CROSS JOIN keeps that order)
    return list(session.execute(_params(text(
        f"SELECT c.id AS id, bm25(knowledge_fts, {SQLITE_WEIGHTS}) AS r FROM knowledge_fts "
        "CROSS JOIN knowledge_chunks AS c INDEXED BY ix_knowledge_chunks_scope "
        f"ON c.id = knowledge_fts.rowid WHERE knowledge_fts MATCH :match AND {where} "
        "ORDER BY r LIMIT :limit"), collection_ids), params))


def _search_sqlite(session: Session, business_id: int, terms: list[str],
                   collection_ids: list[int] | None, limit: int) -> list[_Row]:
    """bm25 over FTS5, then snippets and texts of the few winners only; each term is a
    quoted string, so no text is FTS5 syntax."""
    match = " OR ".join(f'"{t}"' for t in terms)
    ranked = _ranked_sqlite(session, match, business_id, collection_ids, limit)
    if not ranked:
        return []
    ids = {"ids": [r.id for r in ranked]}
    snippets: dict[int, str] = {rowid: snippet for rowid, snippet in session.execute(text(
        f"SELECT rowid, snippet(knowledge_fts, 2, '{MARK}', '{MARK}', '…', 24) "
        "FROM knowledge_fts WHERE knowledge_fts MATCH :match AND rowid IN :ids")
        .bindparams(bindparam("ids", expanding=True)), {"match": match, **ids})}
    texts = {r.id: r for r in session.execute(text(
        "SELECT id, document_id, title, text FROM knowledge_chunk_texts WHERE id IN :ids")
        .bindparams(bindparam("ids", expanding=True)), ids)}
    return [_Row(r.id, texts[r.id].document_id, texts[r.id].title, texts[r.id].text,
                 snippets.get(r.id) or texts[r.id].text[:200])
            for r in ranked if r.id in texts]


def _search_postgres(session: Session, business_id: int, terms: list[str],
                     collection_ids: list[int] | None, limit: int) -> list[Any]:
    """ts_rank over the GIN-indexed tsvector with the terms OR-ed (plainto_tsquery ANDs
    them, which a long question never matches); headlines for the winners only."""
    return list(session.execute(_params(text(
        "SELECT w.id, w.document_id, d.title, w.text, "
        "ts_headline('english', w.text, w.q, 'StartSel=\"" + MARK + "\", StopSel=\"" + MARK
        + "\", MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=\" … \"') AS snippet "
        "FROM (SELECT c.id, c.document_id, c.text, q.q, "
        "             ts_rank(CAST(:weights AS real[]), c.search_vector, q.q) AS r "
        "      FROM knowledge_chunks c, to_tsquery('english', :tsquery) AS q(q) "
        f"      WHERE c.search_vector @@ q.q AND c.business_id = :business"
        f"{_scope(collection_ids)} ORDER BY r DESC, c.id LIMIT :limit) AS w "
        "JOIN knowledge_documents d ON d.id = w.document_id ORDER BY w.r DESC, w.id"),
        collection_ids),
        {"tsquery": " | ".join(terms), "business": business_id, "limit": limit,
         "weights": POSTGRES_WEIGHTS,
         "collections": collection_ids or []}))


def index_document(session: Session, document_id: int, title: str) -> None:
    """Write the index rows of a document's (flushed) chunks, in the caller's transaction."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(
            "INSERT INTO knowledge_fts (rowid, title, heading, text) "
            "SELECT id, title, coalesce(heading, ''), text FROM knowledge_chunk_texts "
            "WHERE document_id = :doc"), {"doc": document_id})
        return
    session.execute(text(
        "UPDATE knowledge_chunks SET search_vector = "
        "setweight(to_tsvector('english', :title), 'A') || "
        "setweight(to_tsvector('english', coalesce(heading, '') || ' ' || text), 'B') "
        "WHERE document_id = :doc"), {"doc": document_id, "title": title})


def unindex_documents(session: Session, document_ids: list[int]) -> None:
    """Remove the index rows of these documents' chunks (before the chunks go).

    PostgreSQL's vector is a column of the chunk row: it goes with the row."""
    if document_ids and session.get_bind().dialect.name == "sqlite":
        session.execute(text(
            "INSERT INTO knowledge_fts (knowledge_fts, rowid, title, heading, text) "
            "SELECT 'delete', id, title, coalesce(heading, ''), text FROM knowledge_chunk_texts "
            "WHERE document_id IN :docs").bindparams(bindparam("docs", expanding=True)),
            {"docs": document_ids})
