"""Attachments in the inbox against the real server: a visitor's files show in the thread
(live and when opened), and the attach button sends the agent's file to the visitor."""

from __future__ import annotations

from typing import Any

import flet as ft
import httpx

from app_flet.headless import AsyncAgentClient, MessageCreated
from tests.e2e.png import solid_png
from tests.flet_page import find
from tests.inbox.conftest import Team, logged_in
from tests.ui.conftest import PDF, Picker, fire, picked, run, until

PNG = solid_png(24, 24, (79, 70, 229))


def attachment_of(view: Any, message: Any) -> Any:
    row = view.thread.row(message.id)
    assert row is not None, f"message {message.id} is not in the thread"
    return find(row, f"msg-{message.id}-att-{message.attachments[0].id}")


def test_visitor_files_show_live_and_in_history(inbox_client: AsyncAgentClient, team: Team,
                                               visitors: Any) -> None:
    async def scenario() -> None:
        dana = await visitors("Dana")
        photo = await dana.session.upload(PNG, "receipt.png")
        shell = await logged_in(inbox_client)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        image = attachment_of(view, photo)  # from the history page
        assert isinstance(image, ft.Image) and image.semantics_label == "receipt.png"
        assert httpx.get(str(image.src)).content == PNG
        assert not view.thread.row(photo.id).text.visible  # no caption, no empty line

        terms = await dana.session.upload(PDF, "order.pdf")
        await until(lambda: view.thread.row(terms.id), what="the visitor's PDF, live")
        link = attachment_of(view, terms)
        assert isinstance(link, ft.TextButton) and link.content.value == "order.pdf"
        assert httpx.get(str(link.url)).content == PDF
        shell.close()
    run(scenario)


def test_attach_sends_the_agents_file_with_the_reply_as_caption(
        inbox_client: AsyncAgentClient, team: Team, visitors: Any) -> None:
    picker = Picker()
    picker.files = [picked("invoice.pdf", data=PDF),
                    picked("tool.exe", data=b"MZ\x90\x00" + bytes(200))]

    async def scenario() -> None:
        dana = await visitors("Dana")
        await dana.say("can I have the invoice?")
        shell = await logged_in(inbox_client, pick_file=picker)
        await shell.open_ticket(dana.conversation_id)
        view = shell.conversation
        button = view.composer.attach_button
        assert button.visible and button.key == "attach" and button.tooltip == "Attach a file"
        view.composer.field.value = "Here it is"
        await fire(button)
        assert view.composer.field.value == ""  # the caption went with the file
        got = await until(lambda: [e.message for e in dana.events
                                   if isinstance(e, MessageCreated) and e.message.attachments],
                          what="the file at the visitor")
        [sent] = got
        assert (sent.content, sent.attachments[0].file_name) == ("Here it is", "invoice.pdf")
        assert not sent.from_visitor
        assert attachment_of(view, sent).url == sent.attachments[0].signed_url
        row = view.thread.row(sent.id)
        assert row is not None and row.kind == "agent" and row.text.value == "Here it is"

        await fire(button)  # a type the server refuses: its words, nothing sent
        notice = view.composer.notice
        assert notice.visible and "type" in str(notice.value).lower()
        assert not view.composer.upload_status.visible and not button.disabled
        history = await dana.session.load_history()
        assert len(history.messages) == 2
        shell.close()
    run(scenario)
