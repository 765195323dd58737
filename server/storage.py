"""Where attachment bytes live: a small storage interface and its directory implementation.

Any object with `save`, `open` and `delete` can stand in for DirectoryStorage (e.g. an
S3-compatible store: `save` streams the chunks into a multipart upload, `open` returns the
object's body stream, `delete` removes it); docs/api-attachments.md "Storage" says how to plug
one in. Keys are chosen by chatdock (`<business>/<random hex>`), never by a client.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy.engine import make_url


class Storage(Protocol):
    """A flat key -> bytes store for attachments."""

    def save(self, key: str, stream: Iterable[bytes]) -> int:
        """Write the chunks under key; return the byte count. On an exception from the
        stream, nothing stays stored under key."""

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the stored bytes (FileNotFoundError when absent)."""

    def delete(self, key: str) -> None:
        """Remove key; an absent key is not an error."""


class DirectoryStorage:
    """Files under a root directory, one per key; written to a temporary name, then renamed,
    so a reader never sees half a file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key outside the root: {key!r}")
        return path

    def save(self, key: str, stream: Iterable[bytes]) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        size = 0
        try:
            with partial.open("wb") as fh:
                for chunk in stream:
                    fh.write(chunk)
                    size += len(chunk)
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def new_key(business_id: int) -> str:
    """A fresh storage key for one of this business's files (128 random bits)."""
    return f"{business_id}/{secrets.token_hex(16)}"


def upload_dir(config: dict[str, object]) -> Path:
    """UPLOAD_DIR, else `uploads/` beside the SQLite file, else ./chatdock-uploads."""
    if config.get("UPLOAD_DIR"):
        return Path(str(config["UPLOAD_DIR"]))
    url = make_url(str(config["DATABASE_URL"]))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve().parent / "uploads"
    return Path("chatdock-uploads").resolve()
