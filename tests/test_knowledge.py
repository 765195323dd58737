"""Knowledge base: collections, documents in three forms, chunking, ranked search on SQLite
(FTS5 bm25) and PostgreSQL (ts_rank), hostile questions, and deletes that leave no index."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from server import migrate
from server.app import create_app
from server.db import make_engine, session_scope
from server.models import KnowledgeChunk, KnowledgeCollection, KnowledgeDocument, utcnow
from server.services import knowledge
from server.services.knowledge_text import CHUNK_MAX, TARGET, chunk_sections, sections_from_text
from tests.conftest import agent_token, auth, make_business
from tests.test_scaleout import postgres_url  # noqa: F401  (a fixture: a fresh database)

KB = "/api/v1/knowledge"
HELP = {  # a small help centre: title -> text
    "Reset your password": "Click Forgot password on the sign-in page. We email you a link "
                           "that works for one hour.",
    "Download invoices": "Every invoice is in Settings, Billing. Invoices are PDF files.",
    "Change your plan": "Upgrade or downgrade in Settings, Subscription. The price changes "
                        "at the next renewal.",
    "Delete your account": "Closing the account removes your data after 30 days.",
    "Connect the mobile app": "Install the app, then scan the QR code shown under Devices.",
    "Export your data": "A CSV export of contacts and conversations is under Settings, "
                        "Export.",
}
HOSTILE = ['"', "'", '"unbalanced', "AND", "OR NOT", "NEAR(a b)", "*", "pass*", "(", ")",
           "title:password", "-password", "^password", "a & b | !c", "<->", "😀", "👍🏽 ok?",
           "\\", "%", "_", "x" * 5000, "password " * 555, "ünïcödé Ωμέγα 中文 العربية",
           "1e5 0x1F 3.14", "'); DROP TABLE knowledge_chunks; --"]


@pytest.fixture(params=["sqlite", "postgresql"])
def kb_app(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An app on SQLite or on a fresh PostgreSQL database migrated to head."""
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "PUBLIC_URL": ""})
    yield app
    app.extensions["engine"].dispose()


def new_collection(client: Any, sk: str, name: str = "Help centre") -> int:
    resp = client.post(f"{KB}/collections", json={"name": name}, headers=auth(sk))
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()["data"]["id"])


def add(client: Any, sk: str, collection_id: int, **body: Any) -> dict[str, Any]:
    resp = client.post(f"{KB}/collections/{collection_id}/documents", json=body,
                       headers=auth(sk))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def upload(client: Any, sk: str, collection_id: int, data: bytes, name: str,
           mime: str, **form: str) -> Any:
    return client.post(f"{KB}/collections/{collection_id}/documents", headers=auth(sk),
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name, mime), **form})


def search(client: Any, credential: str, q: str, **args: Any) -> list[dict[str, Any]]:
    resp = client.get(f"{KB}/search", query_string={"q": q, **args}, headers=auth(credential))
    assert resp.status_code == 200, (q[:50], resp.get_json())
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def titles(hits: list[dict[str, Any]]) -> list[str]:
    return [h["title"] for h in hits]


def help_centre(client: Any, sk: str) -> int:
    collection_id = new_collection(client, sk)
    for title, body in HELP.items():
        add(client, sk, collection_id, title=title, text=body)
    return collection_id


def counts(app: Any) -> tuple[int, int]:
    with session_scope(app) as s:
        return (s.scalar(select(func.count()).select_from(KnowledgeDocument)) or 0,
                s.scalar(select(func.count()).select_from(KnowledgeChunk)) or 0)


# ---------- collections -----------------------------------------------------------------------


def test_collections_crud(client: Any, biz: dict[str, Any]) -> None:
    sk = biz["sk"]
    resp = client.post(f"{KB}/collections", json={"name": " FAQ ", "description": "Public"},
                       headers=auth(sk))
    assert resp.status_code == 201
    made = resp.get_json()["data"]
    assert made["name"] == "FAQ" and made["description"] == "Public"
    assert made["document_count"] == 0
    add(client, sk, made["id"], title="Hours", text="We open at nine.")
    listed = client.get(f"{KB}/collections", headers=auth(sk)).get_json()["data"]
    assert [(c["name"], c["document_count"]) for c in listed] == [("FAQ", 1)]
    resp = client.patch(f"{KB}/collections/{made['id']}",
                        json={"name": "Help", "description": None}, headers=auth(sk))
    assert resp.status_code == 200
    assert (resp.get_json()["data"]["name"], resp.get_json()["data"]["description"]) == \
        ("Help", None)
    other = new_collection(client, sk, "Other")
    clash = client.patch(f"{KB}/collections/{other}", json={"name": "Help"}, headers=auth(sk))
    assert clash.status_code == 409 and clash.get_json()["field"] == "name"
    again = client.post(f"{KB}/collections", json={"name": "Help"}, headers=auth(sk))
    assert again.status_code == 409
    assert client.delete(f"{KB}/collections/{made['id']}", headers=auth(sk)).status_code == 200
    assert client.get(f"{KB}/collections/{made['id']}", headers=auth(sk)).status_code == 404
    assert search(client, sk, "open nine") == []


def test_collection_input_is_validated(app: Any, client: Any, biz: dict[str, Any]) -> None:
    sk = biz["sk"]
    for body, field in [({}, "name"), ({"name": "  "}, "name"), ({"name": 5}, "name"),
                        ({"name": "x" * 201}, "name"),
                        ({"name": "ok", "description": "d" * 2001}, "description")]:
        resp = client.post(f"{KB}/collections", json=body, headers=auth(sk))
        assert resp.status_code == 400 and resp.get_json()["field"] == field, body
    cid = new_collection(client, sk)
    resp = client.patch(f"{KB}/collections/{cid}", json={"business_id": 9}, headers=auth(sk))
    assert resp.status_code == 400 and resp.get_json()["field"] == "business_id"
    with session_scope(app) as s:
        now = utcnow()
        s.execute(insert(KnowledgeCollection), [
            {"business_id": biz["id"], "name": f"c{i}", "created_at": now, "updated_at": now}
            for i in range(knowledge.MAX_COLLECTIONS - 1)])
    resp = client.post(f"{KB}/collections", json={"name": "one too many"}, headers=auth(sk))
    assert resp.status_code == 400 and "at most 100" in resp.get_json()["message"]


def test_an_agent_reads_and_searches_but_only_the_owner_writes(app: Any, client: Any,
                                                               biz: dict[str, Any]) -> None:
    cid = help_centre(client, biz["sk"])
    agent = agent_token(app, biz["id"], role="agent")
    assert titles(search(client, agent, "forgot password"))[0] == "Reset your password"
    denied = client.post(f"{KB}/collections/{cid}/documents", json={"title": "t", "text": "x"},
                         headers=auth(agent))
    assert denied.status_code == 403 and denied.get_json()["error"] == "insufficient_scope"
    owner = agent_token(app, biz["id"], role="owner")
    assert client.post(f"{KB}/collections", json={"name": "Owner's"},
                       headers=auth(owner)).status_code == 201


# ---------- documents -------------------------------------------------------------------------


MARKDOWN = """Intro line about the guide.

# Shipping

We ship worldwide within five days.

Tracking numbers arrive by email.

## Returns ##

Send the parcel back within 30 days for a refund.
"""


def test_markdown_text_is_chunked_by_headings(app: Any, client: Any,
                                              biz: dict[str, Any]) -> None:
    cid = new_collection(client, biz["sk"])
    doc = add(client, biz["sk"], cid, title="Orders guide", text=MARKDOWN)
    assert doc["chunk_count"] == 3 and doc["size"] == len(MARKDOWN.encode())
    assert set(doc) == {"id", "collection_id", "title", "chunk_count", "size", "created_at"}
    with session_scope(app) as s:
        rows = s.execute(select(KnowledgeChunk.heading, KnowledgeChunk.text)
                         .order_by(KnowledgeChunk.ordinal)).all()
    assert [tuple(r) for r in rows] == [
        (None, "Intro line about the guide."),
        ("Shipping", "We ship worldwide within five days.\n\nTracking numbers arrive by email."),
        ("Returns", "Send the parcel back within 30 days for a refund.")]
    hit = search(client, biz["sk"], "refund parcel")[0]
    assert hit["title"] == "Orders guide" and "**refund**" in hit["snippet"]


def test_chunks_sent_as_json_are_kept(client: Any, biz: dict[str, Any]) -> None:
    cid = new_collection(client, biz["sk"])
    doc = add(client, biz["sk"], cid, title="Hours", chunks=["Mon-Fri 9-17.", " ", "Sat 10-14."])
    assert doc["chunk_count"] == 2
    hits = search(client, biz["sk"], "saturday sat")
    assert [h["chunk_id"] for h in hits] and "**Sat**" in hits[0]["snippet"]


HTML = b"""<!doctype html><html><head><title>Ignored head</title>
<style>.secretstyle { color: red }</style></head><body>
<script>var trackingpixel = "zzscriptword";</script>
<h1>Two-factor login</h1><p>Turn on two-factor in <b>Security</b>.</p>
<h2>Lost phone</h2><p>Use a backup code &amp; then reset the device.</p>
<noscript>zznoscriptword</noscript></body></html>"""


def test_an_html_file_is_reduced_to_text(app: Any, client: Any, biz: dict[str, Any]) -> None:
    cid = new_collection(client, biz["sk"])
    resp = upload(client, biz["sk"], cid, HTML, "2fa.html", "text/html")
    assert resp.status_code == 201, resp.get_json()
    doc = resp.get_json()["data"]
    assert doc["title"] == "2fa" and doc["chunk_count"] == 2 and doc["size"] == len(HTML)
    with session_scope(app) as s:
        rows = [tuple(r) for r in s.execute(select(KnowledgeChunk.heading, KnowledgeChunk.text)
                                            .order_by(KnowledgeChunk.ordinal))]
    assert rows == [("Two-factor login", "Turn on two-factor in Security."),
                    ("Lost phone", "Use a backup code & then reset the device.")]
    for hidden in ("zzscriptword", "trackingpixel", "secretstyle", "zznoscriptword"):
        assert search(client, biz["sk"], hidden) == [], hidden
    assert titles(search(client, biz["sk"], "backup code")) == ["2fa"]


def test_text_and_markdown_files(client: Any, biz: dict[str, Any]) -> None:
    cid = new_collection(client, biz["sk"])
    plain = upload(client, biz["sk"], cid, "Café opening hours: 8 to 6.".encode(), "hours.txt",
                   "text/plain; charset=utf-8", title="Opening hours")
    assert plain.status_code == 201 and plain.get_json()["data"]["title"] == "Opening hours"
    md = upload(client, biz["sk"], cid, MARKDOWN.encode(), "orders.md", "text/markdown")
    assert md.get_json()["data"]["chunk_count"] == 3
    guessed = upload(client, biz["sk"], cid, b"# Wifi\n\nThe password is on the router.",
                     "wifi.md", "application/octet-stream")
    assert guessed.status_code == 201 and guessed.get_json()["data"]["title"] == "wifi"
    assert titles(search(client, biz["sk"], "cafe"))[0] == "Opening hours"  # diacritics folded
    listed = client.get(f"{KB}/collections/{cid}/documents", headers=auth(biz["sk"])).get_json()
    assert [d["title"] for d in listed["data"]] == ["wifi", "orders", "Opening hours"]
    assert listed["meta"] == {"total": 3, "page": 1, "per_page": 25}


def test_bad_documents_are_refused_and_change_nothing(app: Any, client: Any,
                                                      biz: dict[str, Any]) -> None:
    sk = biz["sk"]
    cid = new_collection(client, sk)
    url = f"{KB}/collections/{cid}/documents"
    cases: list[tuple[Any, int, str | None]] = [
        (client.post(url, json={"text": "no title"}, headers=auth(sk)), 400, "title"),
        (client.post(url, json={"title": "t"}, headers=auth(sk)), 400, "text"),
        (client.post(url, json={"title": "t", "text": "a", "chunks": ["b"]}, headers=auth(sk)),
         400, "text"),
        (client.post(url, json={"title": "t", "text": 5}, headers=auth(sk)), 400, "text"),
        (client.post(url, json={"title": "t", "text": " \n\n "}, headers=auth(sk)), 400, "text"),
        (client.post(url, json={"title": "t", "chunks": "one"}, headers=auth(sk)), 400,
         "chunks"),
        (client.post(url, json={"title": "t", "chunks": [1]}, headers=auth(sk)), 400, "chunks"),
        (client.post(url, json={"title": "t", "chunks": []}, headers=auth(sk)), 400, "chunks"),
        (client.post(url, json={"title": "t", "chunks": ["x" * (CHUNK_MAX + 1)]},
                     headers=auth(sk)), 400, "chunks"),
        (client.post(url, json={"title": "t", "chunks": ["x"] * (knowledge.MAX_CHUNKS + 1)},
                     headers=auth(sk)), 400, "chunks"),
        (client.post(url, json={"title": "x" * 201, "text": "a"}, headers=auth(sk)), 400,
         "title"),
        (upload(client, sk, cid, b"\x89PNG\r\n", "logo.png", "image/png"), 415, "file"),
        (upload(client, sk, cid, b"%PDF", "doc.pdf", "application/octet-stream"), 415, "file"),
        (upload(client, sk, cid, b"a" * (knowledge.DOCUMENT_MAX_BYTES + 1), "big.txt",
                "text/plain"), 413, "file"),
        (upload(client, sk, cid, b"caf\xe9", "latin1.txt", "text/plain"), 400, "file"),
        (upload(client, sk, cid, b"a\x00b", "nul.txt", "text/plain"), 400, "file"),
        (upload(client, sk, cid, b"<script>only()</script>", "empty.html", "text/html"), 400,
         "file"),
        (client.post(url, headers=auth(sk), content_type="multipart/form-data",
                     data={"title": "no file"}), 400, "file"),
        (client.post(url, data="not json", content_type="application/json", headers=auth(sk)),
         400, None),
    ]
    for resp, status, field in cases:
        body = resp.get_json()
        assert resp.status_code == status, body
        assert set(body) <= {"error", "message", "field"} and body["message"]
        assert body.get("field") == field, body
    big = client.post(url, json={"title": "t", "text": "a" * (knowledge.DOCUMENT_MAX_BYTES + 1)},
                      headers=auth(sk))
    assert big.status_code == 413 and big.get_json()["error"] == "payload_too_large"
    assert counts(app) == (0, 0)


def test_another_business_neither_sees_nor_searches_them(client: Any, app: Any,
                                                         biz: dict[str, Any]) -> None:
    cid = help_centre(client, biz["sk"])
    other = make_business(app, "Other")
    assert search(client, other["sk"], "password") == []
    for resp in (client.get(f"{KB}/search", query_string={"q": "password", "collection_id": cid},
                            headers=auth(other["sk"])),
                 client.get(f"{KB}/collections/{cid}/documents", headers=auth(other["sk"]))):
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    assert client.get(f"{KB}/collections", headers=auth(other["sk"])).get_json()["data"] == []
    # the other business's many better matches fill the index's global best 50: A still
    # gets its own passage, and B only its own
    theirs = new_collection(client, other["sk"])
    add(client, other["sk"], theirs, title="Password password",
        chunks=["Password reset: forgot password? Reset the password."] * 60)
    assert titles(search(client, biz["sk"], "forgot password reset")) == ["Reset your password"]
    assert set(titles(search(client, other["sk"], "forgot password", limit=20))) == \
        {"Password password"}


# ---------- search on both databases ----------------------------------------------------------


@pytest.mark.parametrize("question,expected", [
    ("I forgot my password", "Reset your password"),
    ("where can I find my invoices?", "Download invoices"),
    ("how do I upgrade my subscription", "Change your plan"),
    ("close my account", "Delete your account"),
    ("scan the QR code on my phone", "Connect the mobile app"),
    ("export contacts to csv", "Export your data"),
])
def test_search_ranks_the_right_document_first(kb_app: Any, question: str,
                                               expected: str) -> None:
    client = kb_app.test_client()
    biz = make_business(kb_app)
    help_centre(client, biz["sk"])
    hits = search(client, biz["sk"], question)
    assert titles(hits)[0] == expected, hits
    scores = [h["score"] for h in hits]
    assert all(0 <= s <= 1 for s in scores) and scores[0] > 0
    assert "**" in hits[0]["snippet"] or expected.lower().split()[-1] in question.lower()
    assert set(hits[0]) == {"document_id", "title", "chunk_id", "snippet", "score"}


def test_search_limit_collection_and_the_service(kb_app: Any) -> None:
    client = kb_app.test_client()
    biz = make_business(kb_app)
    cid = help_centre(client, biz["sk"])
    second = new_collection(client, biz["sk"], "Internal")
    add(client, biz["sk"], second, title="Settings tour", text="Settings has Billing, "
        "Subscription and Export pages.")
    assert len(search(client, biz["sk"], "settings", limit=2)) == 2
    assert "Settings tour" not in titles(search(client, biz["sk"], "settings",
                                                collection_id=cid, limit=10))
    assert titles(search(client, biz["sk"], "settings", collection_id=second)) == \
        ["Settings tour"]
    with session_scope(kb_app) as s:
        passages = knowledge.search(s, biz["id"], "reset the password", limit=1)
        assert knowledge.search(s, biz["id"], "the and of it", limit=3) == []
        assert knowledge.search(s, biz["id"], "password", collection_ids=[second]) == []
    assert len(passages) == 1 and passages[0].title == "Reset your password"
    assert "one hour" in passages[0].text and 0 < passages[0].score <= 1


def test_no_visitor_text_makes_search_fail(kb_app: Any) -> None:
    client = kb_app.test_client()
    biz = make_business(kb_app)
    help_centre(client, biz["sk"])
    for question in HOSTILE:
        search(client, biz["sk"], question)
        with session_scope(kb_app) as s:
            knowledge.search(s, biz["id"], question)
    assert titles(search(client, biz["sk"], '"password" AND (reset*'))[0] == \
        "Reset your password"
    assert search(client, biz["sk"], "what is the") == []
    with session_scope(kb_app) as s:
        assert knowledge.search(s, biz["id"], "") == knowledge.search(s, biz["id"], "\t\n") == []
    for bad in ({}, {"q": " "}, {"q": "x" * 5001}, {"q": "a", "limit": 0},
                {"q": "a", "limit": 21}, {"q": "a", "collection_id": "x"}):
        resp = client.get(f"{KB}/search", query_string=bad, headers=auth(biz["sk"]))
        assert resp.status_code == 400 and resp.get_json()["error"] == "validation_error", bad


def fts_rows(app: Any, word: str) -> int:
    """Index rows matching word: FTS5's index itself, or PostgreSQL's vectors."""
    with session_scope(app) as s:
        if s.get_bind().dialect.name == "sqlite":
            return s.scalar(text("SELECT count(*) FROM knowledge_fts WHERE knowledge_fts "
                                 "MATCH :w"), {"w": word}) or 0
        return s.scalar(text("SELECT count(*) FROM knowledge_chunks WHERE search_vector @@ "
                             "to_tsquery('english', :w)"), {"w": word}) or 0


def test_deletes_remove_chunks_and_index_rows(kb_app: Any) -> None:
    client = kb_app.test_client()
    biz = make_business(kb_app)
    cid = new_collection(client, biz["sk"])
    doc = add(client, biz["sk"], cid, title="Zebra crossings", text="Zebras cross here.")
    keep = add(client, biz["sk"], cid, title="Lions", text="Lions sleep here.")
    assert fts_rows(kb_app, "zebra") == 1
    resp = client.delete(f"{KB}/collections/{cid}/documents/{doc['id']}", headers=auth(biz["sk"]))
    assert resp.status_code == 200
    assert fts_rows(kb_app, "zebra") == 0 and search(client, biz["sk"], "zebra") == []
    assert counts(kb_app) == (1, 1) and fts_rows(kb_app, "lion") == 1
    assert client.delete(f"{KB}/collections/{cid}/documents/{doc['id']}",
                         headers=auth(biz["sk"])).status_code == 404
    assert client.delete(f"{KB}/collections/{cid}", headers=auth(biz["sk"])).status_code == 200
    assert fts_rows(kb_app, "lion") == 0 and counts(kb_app) == (0, 0)
    assert keep["id"] and search(client, biz["sk"], "lions sleep") == []
    with session_scope(kb_app) as s:
        if s.get_bind().dialect.name == "sqlite":  # the index's own vocabulary is empty too
            s.execute(text("CREATE VIRTUAL TABLE temp.kv USING fts5vocab(main, "
                           "knowledge_fts, 'row')"))
            assert s.scalar(text("SELECT count(*) FROM temp.kv")) == 0


def test_the_score_counts_the_scope_searched_whatever_else_the_index_holds(
        kb_app: Any) -> None:
    """A passage's score weighs the question's words over the chunks searched: another
    business's chunks, another collection's, a document added and deleted change nothing
    (SQLite counts with FTS5 alone when the scope is the whole index, else checks each
    match's scope; the totals come from the collections' kept chunk counts)."""
    client = kb_app.test_client()
    biz = make_business(kb_app)
    cid = help_centre(client, biz["sk"])
    question = "forgot password spaceship"  # the passage holds two of the three words

    def score(**args: Any) -> float:
        hits = search(client, biz["sk"], question, **args)
        assert hits[0]["title"] == "Reset your password", hits
        return float(hits[0]["score"])

    alone = score()
    assert 0.2 < alone < 1
    other = make_business(kb_app, "Other")
    theirs = new_collection(client, other["sk"])
    add(client, other["sk"], theirs, title="Password password",
        chunks=["Password reset: forgot password? Reset the password."] * 60)
    assert score() == pytest.approx(alone, rel=1e-12)
    assert score(collection_id=cid) == pytest.approx(alone, rel=1e-12)
    extra = add(client, biz["sk"], cid, title="Password tips",
                chunks=["A long password is a strong password."] * 3)
    assert score() != pytest.approx(alone, rel=1e-6)  # three more chunks searched
    assert client.delete(f"{KB}/collections/{cid}/documents/{extra['id']}",
                         headers=auth(biz["sk"])).status_code == 200
    assert score() == pytest.approx(alone, rel=1e-12)
    assert client.delete(f"{KB}/collections/{theirs}",
                         headers=auth(other["sk"])).status_code == 200
    assert score() == pytest.approx(alone, rel=1e-12)
    with session_scope(kb_app) as s:
        assert s.scalar(select(KnowledgeCollection.chunk_count)
                        .where(KnowledgeCollection.id == cid)) == counts(kb_app)[1]


# ---------- chunking --------------------------------------------------------------------------


def test_long_paragraphs_split_at_sentences_and_small_ones_merge() -> None:
    sentence = "This sentence is about forty characters. "
    long = sentence * 60  # ~2,500 characters in one paragraph
    texts = [c for _, c in chunk_sections(sections_from_text(f"short one\n\nshort two\n\n{long}"))]
    assert texts[0].startswith("short one\n\nshort two\n\nThis sentence")  # merged
    assert len(texts) == 4 and all(len(c) <= TARGET for c in texts)
    assert all(c.endswith("characters.") for c in texts)  # cut between sentences only
    assert re.sub(r"\s+", " ", " ".join(texts)) == "short one short two " + long.strip()
    unbroken = chunk_sections(sections_from_text("x" * 5000))
    assert [len(c) for _, c in unbroken] == [CHUNK_MAX, CHUNK_MAX, 1000]
