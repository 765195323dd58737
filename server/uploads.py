"""Receive one multipart upload straight from the request stream into the storage.

Werkzeug's form parser would spool the whole file before the view sees it; this reads the
body in chunks through werkzeug's sans-IO MultipartDecoder, counts the file's bytes as they
pass and stops at the limit (413), sniffs the type from the first bytes (415), and leaves
nothing stored when anything fails.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import filetype
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    Preamble,
)

from server.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType, ValidationError
from server.storage import Storage

READ_CHUNK = 64 * 1024
SNIFF_BYTES = 8192  # filetype looks at the first 262; text is checked to the end
FIELD_BYTES = 64 * 1024  # a form field (the caption) held in memory at most
# The decoder's buffer: one chunk read plus what it keeps back between chunks; a part's
# headers that never end cannot grow it past this (413).
DECODER_BUFFER = 4 * READ_CHUNK
FORM_OVERHEAD = 64 * 1024  # multipart headers and fields around the file, in Content-Length
TEXT = "text/plain"


@dataclass
class Upload:
    """What was stored: under key, sniffed type, size and digest; the form's other fields."""

    key: str
    file_name: str
    mime_type: str
    file_size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


class _Inspector:
    """Passes the file's chunks through, enforcing the size limit and learning the type."""

    def __init__(self, max_bytes: int, allowed: frozenset[str]) -> None:
        self.max_bytes, self.allowed = max_bytes, allowed
        self.size = 0
        self.head = b""
        self.mime: str | None = None
        self.digest = hashlib.sha256()
        self.text = codecs.getincrementaldecoder("utf-8")()
        self.is_text = True

    def wrap(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(f"The file is larger than {self.max_bytes // 1024} KB.")
            self.digest.update(chunk)
            self._check_text(chunk)
            if self.mime is None and len(self.head) < SNIFF_BYTES:
                self.head += chunk[:SNIFF_BYTES - len(self.head)]
                if len(self.head) >= SNIFF_BYTES:
                    self._sniff()
            yield chunk
        self._check_text(b"", final=True)
        if self.size == 0:
            raise ValidationError("The file is empty.", field="file")
        if self.mime is None:
            self._sniff()

    def _check_text(self, chunk: bytes, final: bool = False) -> None:
        if not self.is_text:
            return
        try:
            self.text.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.is_text = False
        if b"\0" in chunk:
            self.is_text = False

    def _sniff(self) -> None:
        """Name the type from the head (plain text: valid UTF-8 without NUL), or 415."""
        guessed = filetype.guess_mime(self.head) or (TEXT if self.is_text else None)
        if guessed not in self.allowed:
            raise UnsupportedMediaType(f"Files of type {guessed or 'unknown'} are not accepted; "
                                       f"allowed: {', '.join(sorted(self.allowed))}.")
        self.mime = guessed

    def final_mime(self) -> str:
        # a head sniffed as text must still be text to the end
        if self.mime == TEXT and not self.is_text:
            raise UnsupportedMediaType("The file is not plain UTF-8 text.")
        assert self.mime is not None
        return self.mime


def _events(stream: IO[bytes], decoder: MultipartDecoder) -> Iterator[Field | File | Data]:
    """The multipart events of the body, reading it a chunk at a time."""
    while True:
        try:
            event = decoder.next_event()
        except ValueError:
            raise MalformedBody("The multipart body is malformed.") from None
        if isinstance(event, NeedData):
            chunk = stream.read(READ_CHUNK)
            decoder.receive_data(chunk or None)
        elif isinstance(event, Epilogue):
            return
        elif not isinstance(event, Preamble):
            yield event  # type: ignore[misc]


def _data(events: Iterator[Field | File | Data]) -> Iterator[bytes]:
    """The Data chunks of the part that just started, up to its end."""
    for event in events:
        if not isinstance(event, Data):
            raise MalformedBody("The multipart body is malformed.")
        if event.data:
            yield event.data
        if not event.more_data:
            return


def _field(events: Iterator[Field | File | Data]) -> str:
    value = b""
    for chunk in _data(events):
        value += chunk
        if len(value) > FIELD_BYTES:
            raise PayloadTooLarge("A form field is too large.")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ValidationError("Form fields must be UTF-8 text.") from None


def clean_file_name(raw: str | None) -> str:
    """The last path segment of the client's name, without control characters, <= 255."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:255] or "file"


def boundary_of(content_type: str | None) -> bytes:
    """The multipart/form-data boundary, or 415 when the body is not a form upload."""
    mimetype, options = parse_options_header(content_type or "")
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaType("Send multipart/form-data with the file in the field 'file'.")
    return options["boundary"].encode("latin-1")


def receive(storage: Storage, key: str, stream: IO[bytes], content_type: str | None,
            content_length: int | None, *, max_bytes: int,
            allowed: frozenset[str]) -> Upload:
    """Store the form's `file` part under key and return what was stored; on any error
    nothing stays stored."""
    if content_length is not None and content_length > max_bytes + FORM_OVERHEAD:
        raise PayloadTooLarge(f"The file is larger than {max_bytes // 1024} KB.")
    events = _events(stream, MultipartDecoder(boundary_of(content_type), DECODER_BUFFER))
    fields: dict[str, str] = {}
    found: tuple[str, _Inspector] | None = None
    try:
        for event in events:
            if isinstance(event, File) and event.name == "file" and found is None:
                inspector = _Inspector(max_bytes, allowed)
                storage.save(key, inspector.wrap(_data(events)))
                found = (clean_file_name(event.filename), inspector)
            elif isinstance(event, Field):
                fields[event.name] = _field(events)
            else:
                for _ in _data(events):  # another file part: skipped, not stored
                    pass
        if found is None:
            raise ValidationError("Send the file in the multipart field 'file'.", field="file")
        name, inspector = found
        return Upload(key, name, inspector.final_mime(), inspector.size,
                      inspector.digest.hexdigest(), fields)
    except BaseException:
        storage.delete(key)
        raise


def allowed_types(config_value: str) -> frozenset[str]:
    """UPLOAD_MIME_TYPES (comma-separated) as a set."""
    return frozenset(t.strip().lower() for t in config_value.split(",") if t.strip())
