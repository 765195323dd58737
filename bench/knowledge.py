"""knowledge: retrieval quality on a labelled help centre, and search latency at scale.

    python -m bench.knowledge [--chunks 100000] [--repeats 5] [--database-url URL] [--json PATH]

In-process, on a fresh SQLite file migrated to head, or on --database-url (an empty database,
e.g. PostgreSQL); no HTTP: the figures are the search service's own. Loads
bench/data/knowledge (34 help-centre articles of a fictional invoicing app, Tallyo, and 68
questions naming the article that answers them; half are paraphrases
that share no word with the article's title, checked with FTS5's own tokenizer), and prints:
- recall@1 and recall@3 (the right article first / in the top 3) for each ranker, overall,
  for the lexical and the paraphrased half, alone and among --chunks synthetic chunks;
- search() p50/p95/p99 (wall and CPU) over the labelled questions once the business holds
  --chunks chunks: over all its collections (the score's counts are FTS5's own, the whole
  index), and over the help centre's collection only (each match's collection checked).
A ranker is (name, function(session, business_id, question) -> document ids, best first):
RANKERS holds full text (bm25 on SQLite, ts_rank on PostgreSQL); rankers() adds hybrid
(server.services.embeddings) when the `semantic` extra is on, its model
CHATDOCK_KNOWLEDGE_EMBEDDING_MODEL (the articles are embedded first, the filler is not).
"""

from __future__ import annotations

import itertools
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from bench.labelled import Question, load
from bench.lib import base_parser, machine, percentiles, print_table, write_json
from server import migrate
from server.config import load_config
from server.db import make_engine
from server.models import Business, KnowledgeChunk, KnowledgeCollection, KnowledgeDocument, utcnow
from server.services import embeddings, knowledge
from server.services.knowledge_search import _WORD as _WORDS
from server.services.knowledge_search import STOP_WORDS, fulltext_search, query_terms

Ranker = Callable[[Session, int, str], list[int]]
SYNTHETIC_WORDS = 60  # ~400 characters a chunk, about half a real chunk
DOCS_PER_BATCH = 1000


def fulltext(session: Session, business_id: int, question: str) -> list[int]:
    """Document ids by their best chunk's bm25 (SQLite) / ts_rank (PostgreSQL)."""
    hits = fulltext_search(session, business_id, question, None, 10)
    return list(dict.fromkeys(p.document_id for p in hits))


RANKERS: list[tuple[str, Ranker]] = [("fulltext", fulltext)]  # bm25 / ts_rank by database


def rankers() -> list[tuple[str, Ranker]]:
    """Full text, plus hybrid (server.services.embeddings) when the `semantic` extra is on."""
    if not embeddings.available():
        print("hybrid: not measured (the `semantic` extra is not installed, or "
              "CHATDOCK_KNOWLEDGE_SEMANTIC is off)")
        return RANKERS
    return [*RANKERS, ("hybrid", embeddings.hybrid_document_ids)]


def embed_all(engine: Any) -> float:
    """Embed every chunk not yet embedded (what server/embedding_worker.py does); seconds."""
    start = time.perf_counter()
    with Session(engine) as s:
        while embeddings.embed_pending(s, 256):
            pass
        s.commit()
    return time.perf_counter() - start


def check_labels(docs: dict[str, tuple[str, str]], questions: list[Question]) -> None:
    """Every question names an article; no paraphrase matches its title's words (FTS5's
    porter tokenizer decides, as the search does)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title, tokenize='porter unicode61 "
               "remove_diacritics 2')")
    for q in questions:
        assert q.slug in docs, q
        if q.kind != "paraphrase":
            continue
        db.execute("DELETE FROM t")
        db.execute("INSERT INTO t VALUES (?)", (docs[q.slug][0],))
        terms = query_terms(q.q)
        shared = [w for w in terms if db.execute("SELECT 1 FROM t WHERE t MATCH ?",
                                                 (f'"{w}"',)).fetchone()]
        assert not shared, f"paraphrase shares {shared} with its title: {q.q!r}"


def setup(url: str, docs: dict[str, tuple[str, str]]) -> tuple[Any, int, dict[int, str]]:
    """A migrated database with one business holding the articles: (engine, business id,
    document id -> slug)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        business = Business(name="Tallyo", slug="tallyo")
        s.add(business)
        s.flush()
        collection = knowledge.do_create_collection(
            s, business.id, knowledge.CollectionFields("Help centre", None))
        ids = {}
        for slug, (title, body) in docs.items():
            new = knowledge.check_json_document({"title": title, "text": body})
            ids[knowledge.do_add_document(s, business.id, collection["id"], new)["id"]] = slug
        s.commit()
        return engine, business.id, ids


def recall(session: Session, business_id: int, ranker: Ranker, questions: list[Question],
           slugs: dict[int, str]) -> dict[str, float]:
    """recall@1 and @3, overall and per kind."""
    ranks = {q: [slugs.get(d) for d in ranker(session, business_id, q.q)] for q in questions}
    out = {}
    for kind in ("all", "lexical", "paraphrase"):
        subset = [q for q in questions if kind in ("all", q.kind)]
        for k in (1, 3):
            out[f"{kind}@{k}"] = sum(q.slug in ranks[q][:k] for q in subset) / len(subset)
    return out


def vocabulary(docs: dict[str, tuple[str, str]],
               rng: random.Random) -> tuple[list[str], list[float]]:
    """The articles' own words (so questions hit long posting lists) and 20,000 made-up
    ones with Zipf cumulative weights: filler text as bm25 sees many help centres."""
    real = sorted({w for _, body in docs.values() for w in _WORDS.findall(body.lower())
                   if w not in STOP_WORDS})
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "qu", "ze", "xo"]
    fake = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(30000)}
    words = real + sorted(fake - set(real))[:20000]
    rng.shuffle(words)
    return words, list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))


def fill(engine: Any, business_id: int, total: int, docs: dict[str, tuple[str, str]]) -> float:
    """Add synthetic chunks (10 per document, in a second collection) until the business
    holds `total`; write their FTS rows in one statement per batch. Seconds taken."""
    rng = random.Random(7)
    words, cumulative = vocabulary(docs, rng)
    start = time.perf_counter()
    with Session(engine) as s:
        have = s.scalar(text("SELECT count(*) FROM knowledge_chunks")) or 0
        filler = knowledge.do_create_collection(s, business_id,
                                                knowledge.CollectionFields("Filler", None))
        made = have
        while made < total:
            batch = min(DOCS_PER_BATCH * 10, total - made)
            first_doc = _documents(s, filler["id"], (batch + 9) // 10)
            first_chunk = s.scalar(text("SELECT coalesce(max(id), 0) FROM knowledge_chunks")) + 1
            s.execute(insert(KnowledgeChunk), [
                {"document_id": first_doc + i // 10, "business_id": business_id,
                 "collection_id": filler["id"], "ordinal": i % 10, "heading": None,
                 "text": " ".join(rng.choices(words, cum_weights=cumulative, k=SYNTHETIC_WORDS))}
                for i in range(batch)])
            _index_from(s, first_chunk)
            s.execute(update(KnowledgeCollection).where(KnowledgeCollection.id == filler["id"])
                      .values(chunk_count=KnowledgeCollection.chunk_count + batch))
            made += batch
        s.commit()
    if engine.dialect.name == "postgresql":
        # what autovacuum does to a table that grew this much: without it the planner
        # takes the business's 100,000 chunks for 1,000 and ANDs their bitmap in
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE knowledge_chunks"))
    return time.perf_counter() - start


def _index_from(s: Session, first_chunk: int) -> None:
    """Index the chunks from first_chunk on, in one statement (what index_document writes)."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("INSERT INTO knowledge_fts (rowid, title, heading, text) SELECT id, "
                       "title, coalesce(heading, ''), text FROM knowledge_chunk_texts "
                       "WHERE id >= :first"), {"first": first_chunk})
        return
    s.execute(text("UPDATE knowledge_chunks AS c SET search_vector = "
                   "setweight(to_tsvector('english', d.title), 'A') || setweight(to_tsvector("
                   "'english', coalesce(c.heading, '') || ' ' || c.text), 'B') "
                   "FROM knowledge_documents AS d WHERE d.id = c.document_id AND c.id >= :first"),
              {"first": first_chunk})


def _documents(s: Session, collection_id: int, n: int) -> int:
    """Insert n filler documents; the first one's id (ids are consecutive in one insert)."""
    first = (s.scalar(text("SELECT coalesce(max(id), 0) FROM knowledge_documents")) or 0) + 1
    s.execute(insert(KnowledgeDocument), [
        {"id": first + i, "collection_id": collection_id, "title": f"Filler article {first + i}",
         "size": 4000, "chunk_count": 10, "created_at": utcnow()} for i in range(n)])
    return first


def latency(engine: Any, business_id: int, questions: list[Question], repeats: int,
            collection_ids: list[int] | None = None) -> tuple[list[float], list[float]]:
    """search() milliseconds for every question, `repeats` times (after one warm-up pass):
    wall clock, and this process's CPU time (what a shared, loaded machine inflates less)."""
    wall, cpu = [], []
    with Session(engine) as s:
        for q in questions:
            knowledge.search(s, business_id, q.q, collection_ids=collection_ids)
        for _ in range(repeats):
            for q in questions:
                start, start_cpu = time.perf_counter(), time.process_time()
                knowledge.search(s, business_id, q.q, collection_ids=collection_ids)
                wall.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def timing_row(scope: str, chunks: int, wall: list[float], cpu: list[float],
               fill_s: float) -> dict[str, Any]:
    """One row of the latency table."""
    cpu_pcts = percentiles(cpu)
    return {"scope": scope, "chunks": chunks, "searches": len(wall),
            **{f"{k}_ms": v for k, v in percentiles(wall).items()},
            "cpu_p50_ms": cpu_pcts["p50"], "cpu_p99_ms": cpu_pcts["p99"],
            "load_1m": os.getloadavg()[0], "fill_s": fill_s}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--chunks", type=int, default=100_000,
                        help="chunks the business holds for the latency figures")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", help="an EMPTY database to use instead of a fresh "
                        "SQLite file, e.g. postgresql+psycopg://postgres@127.0.0.1/kb_bench")
    args = parser.parse_args()
    docs, questions = load()
    check_labels(docs, questions)
    print(f"{len(docs)} articles, {len(questions)} questions "
          f"({sum(q.kind == 'paraphrase' for q in questions)} paraphrased)")
    with tempfile.TemporaryDirectory(prefix="chatdock-knowledge-") as tmp:
        engine, business_id, slugs = setup(args.database_url or f"sqlite:///{tmp}/k.db", docs)
        dialect = engine.dialect.name
        embeddings.configure(load_config())  # CHATDOCK_KNOWLEDGE_EMBEDDING_MODEL
        ranked_by = rankers()
        if len(ranked_by) > 1:
            print(f"embedded the articles' chunks with {embeddings.model_name()} in "
                  f"{embed_all(engine):.1f} s (the synthetic chunks below are not embedded: "
                  "they rank by full text only)")
        with Session(engine) as s:
            real_chunks = s.scalar(text("SELECT count(*) FROM knowledge_chunks")) or 0
            alone = [{"ranker": name, "chunks": real_chunks,
                      **recall(s, business_id, fn, questions, slugs)} for name, fn in ranked_by]
        seconds = fill(engine, business_id, args.chunks, docs)
        with Session(engine) as s:
            crowded = [{"ranker": name, "chunks": args.chunks,
                        **recall(s, business_id, fn, questions, slugs)} for name, fn in ranked_by]
        timings = [timing_row("all", args.chunks,
                              *latency(engine, business_id, questions, args.repeats), seconds)]
        with Session(engine) as s:  # the help centre: its first collection, the filler's next
            help_centre = s.scalar(select(func.min(KnowledgeCollection.id))
                                   .where(KnowledgeCollection.business_id == business_id))
        timings.append(timing_row("help centre", args.chunks, *latency(
            engine, business_id, questions, args.repeats, [help_centre]), seconds))
        engine.dispose()
    print_table("recall (share of questions whose article ranks first / in the top 3)",
                alone + crowded)
    print_table(f"search() latency, {dialect}, one business holding all chunks; scope: the "
                "searched collections (all; the help centre's 35 chunks only)", timings)
    write_json(args.json, {"machine": machine(), "database": dialect, "recall": alone + crowded,
                           "latency": timings})


if __name__ == "__main__":
    main()
