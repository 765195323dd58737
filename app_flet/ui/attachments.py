"""Attachments in a bubble (images inline, other files as a link) and picking one to send.

The visitor screen and the inbox share these. A picked file comes from Flet's FilePicker:
on desktop it has a path, in web mode only its bytes (`with_data`); `upload_source` gives
whichever the headless client's `upload` takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

__all__ = ["FilePick", "PickFile", "attachment_controls", "is_image", "too_large",
           "upload_source"]

IMAGE_WIDTH = 220
# What the screens call to let the user choose one file; None when they cancelled.
PickFile = Callable[[], Awaitable[ft.FilePickerFile | None]]


def is_image(attachment: Any) -> bool:
    """True for an image the client can draw inline."""
    return str(attachment.mime_type).startswith("image/")


def attachment_controls(message: Any, color: str | None = None) -> list[ft.Control]:
    """One control per attachment: an image inline, any other file a button opening its URL."""
    controls: list[ft.Control] = []
    for a in getattr(message, "attachments", ()) or ():
        key = f"msg-{message.id}-att-{a.id}"
        name = ft.Text(a.file_name, color=color, size=13)
        if not a.signed_url:
            controls.append(ft.Row([ft.Icon(ft.Icons.ATTACH_FILE, size=16, color=color), name],
                                   key=key, spacing=4, tight=True))
        elif is_image(a):
            controls.append(ft.Image(src=a.signed_url, key=key, width=IMAGE_WIDTH,
                                     fit=ft.BoxFit.CONTAIN, border_radius=10,
                                     semantics_label=a.file_name, error_content=name))
        else:  # the URL opens in the browser (the server sends it as a download)
            controls.append(ft.TextButton(content=name, key=key, icon=ft.Icons.ATTACH_FILE,
                                          icon_color=color, url=a.signed_url,
                                          tooltip=a.file_name))
    return controls


def too_large(file: ft.FilePickerFile, max_upload_kb: int) -> bool:
    """Whether the server would refuse this file's size (refuse before sending it)."""
    return file.size > max_upload_kb * 1024


def upload_source(file: ft.FilePickerFile) -> str | bytes | None:
    """The picked file's path (desktop) or bytes (web), for `upload`."""
    return file.path or file.bytes


class FilePick:
    """Flet's FilePicker service, made on first use on the page that asks, asked for one file."""

    def __init__(self) -> None:
        self._picker: ft.FilePicker | None = None  # a strong reference keeps it registered

    async def __call__(self) -> ft.FilePickerFile | None:
        if self._picker is None:
            self._picker = ft.FilePicker()  # registers itself with the current page
        web = bool(ft.context.page.web)
        files = await self._picker.pick_files(with_data=web)  # web: no paths, only bytes
        return files[0] if files else None
