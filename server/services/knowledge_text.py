"""Turning a document into chunks: sections by heading (markdown `#` lines, HTML h1-h6),
paragraphs by blank lines (HTML block elements), small paragraphs merged up to TARGET
characters and long ones split at sentence ends, no chunk over CHUNK_MAX."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

TARGET = 800  # a chunk grows by whole paragraphs up to this many characters
CHUNK_MAX = 2000  # the most a chunk holds (a chunk sent as JSON is refused beyond it)
HEADING_MAX = 200
_HEADING = re.compile(r"#{1,6}[ \t]+(.*?)[ \t#]*")
_BLANK = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_SPACES = re.compile(r"\s+")


@dataclass
class Section:
    """A heading (None before the first) and the paragraphs under it."""

    heading: str | None
    paragraphs: list[str] = field(default_factory=list)


def sections_from_text(text: str) -> list[Section]:
    """Split plain text or markdown at `#` heading lines and blank lines."""
    sections = [Section(None)]
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        heading = _HEADING.fullmatch(line.strip())
        if heading is None:
            lines.append(line)
            continue
        sections[-1].paragraphs += _paragraphs("\n".join(lines))
        lines = []
        sections.append(Section(_clip(heading.group(1)) or None))
    sections[-1].paragraphs += _paragraphs("\n".join(lines))
    return sections


def _paragraphs(block: str) -> list[str]:
    return [p for p in (_SPACES.sub(" ", part).strip() for part in _BLANK.split(block)) if p]


def _clip(heading: str) -> str:
    return _SPACES.sub(" ", heading).strip()[:HEADING_MAX]


class _HtmlSections(HTMLParser):
    """Collect an HTML page's text by section: h1-h6 open a section, block elements end a
    paragraph, script/style/template content is dropped (never indexed)."""

    SKIP = frozenset({"script", "style", "template", "noscript", "head", "svg"})
    HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "table", "tr", "br", "section",
                        "article", "blockquote", "pre", "dd", "dt", "hr", "main", "header",
                        "footer", "nav", "aside", "form", "figure", "figcaption", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections = [Section(None)]
        self.buffer: list[str] = []
        self.skipping = 0
        self.in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.HEADINGS:
            self._end_paragraph()
            self.in_heading = True
        elif tag in self.BLOCKS:
            self._end_paragraph()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self._end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.HEADINGS and self.in_heading:
            self.in_heading = False
            self.sections.append(Section(_clip("".join(self.buffer)) or None))
            self.buffer = []
        elif tag in self.BLOCKS:
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.buffer.append(data)

    def _end_paragraph(self) -> None:
        if self.in_heading:
            return
        paragraph = _SPACES.sub(" ", "".join(self.buffer)).strip()
        if paragraph:
            self.sections[-1].paragraphs.append(paragraph)
        self.buffer = []

    def result(self) -> list[Section]:
        self.close()
        self.in_heading = False
        self._end_paragraph()
        return self.sections


def sections_from_html(html: str) -> list[Section]:
    """Reduce an HTML document to its text by section (the stdlib parser, never a regex)."""
    parser = _HtmlSections()
    parser.feed(html)
    return parser.result()


def chunk_sections(sections: list[Section]) -> list[tuple[str | None, str]]:
    """(heading, text) chunks: a section's paragraphs packed up to TARGET characters."""
    chunks: list[tuple[str | None, str]] = []
    for section in sections:
        current = ""
        for piece in (p for paragraph in section.paragraphs for p in _split_long(paragraph)):
            if current and len(current) + 2 + len(piece) > TARGET:
                chunks.append((section.heading, current))
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
        if current:
            chunks.append((section.heading, current))
    return chunks


def _split_long(paragraph: str) -> list[str]:
    """A paragraph over TARGET as pieces of whole sentences (a sentence over CHUNK_MAX is cut
    at a space)."""
    if len(paragraph) <= TARGET:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in (s for long in _SENTENCE_END.split(paragraph) for s in _cut(long)):
        if current and len(current) + 1 + len(sentence) > TARGET:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    return pieces + [current] if current else pieces


def _cut(sentence: str) -> list[str]:
    pieces = []
    while len(sentence) > CHUNK_MAX:
        at = sentence.rfind(" ", 0, CHUNK_MAX)
        at = at if at > 0 else CHUNK_MAX
        pieces.append(sentence[:at])
        sentence = sentence[at:].lstrip()
    return pieces + [sentence] if sentence else pieces
