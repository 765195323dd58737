"""The owner's Availability page with the real AsyncAgentClient against the real server, and
the shell listing it for owners."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app_flet.headless.agent import AsyncAgentClient
from app_flet.inbox.availability_page import AvailabilityPage, parse_ranges
from app_flet.inbox.pages import SAVED
from app_flet.ui.theme import ERROR
from tests.conftest import auth
from tests.inbox.test_pages import shown
from tests.ui.conftest import fire, run


@pytest.mark.parametrize(("text", "ranges"), [
    ("", []), ("  ", []),
    ("09:00-12:00, 13:00-17:30", [["09:00", "12:00"], ["13:00", "17:30"]]),
    ("9:00 – 17:00", [["09:00", "17:00"]]),
    ("nine to five", None), ("09:00-", None), ("09:00-12:00,", None),
])
def test_parse_ranges(text: str, ranges: list[list[str]] | None) -> None:
    assert parse_ranges(text) == ranges


def test_load_edit_and_save_reach_the_widget_config(owner_client: AsyncAgentClient,
                                                    base: str, owner: dict[str, Any]) -> None:
    async def scenario() -> None:
        page = AvailabilityPage(owner_client)
        await page.load()
        assert page.timezone.value == "UTC"  # never set: always open
        assert page.days["mon"].value == "00:00-24:00" and page.offline.value == ""
        page.timezone.value = "Europe/Berlin"
        for day in ("mon", "tue", "wed", "thu", "fri"):
            page.days[day].value = "09:00-12:00, 13:00-17:30"
        page.days["sat"].value = page.days["sun"].value = ""
        page.offline.value = "We're back on Monday."
        await fire(page.save_button)
        assert shown(page) == SAVED
        saved = await owner_client.get_availability()
        assert saved.timezone == "Europe/Berlin"
        assert saved.hours["fri"] == (("09:00", "12:00"), ("13:00", "17:30"))
        assert saved.hours["sun"] == () and saved.offline_message == "We're back on Monday."
        config = httpx.get(f"{base}/api/v1/chat/config", headers=auth(owner["pk"])).json()
        assert config["data"]["availability"]["offline_message"] == "We're back on Monday."
        again = AvailabilityPage(owner_client)
        await again.load()
        assert again.days["wed"].value == "09:00-12:00, 13:00-17:30"
        assert again.days["sat"].value == ""
    run(scenario)


def test_bad_input_shows_why_and_changes_nothing(owner_client: AsyncAgentClient) -> None:
    async def scenario() -> None:
        page = AvailabilityPage(owner_client)
        await page.load()
        page.days["tue"].value = "morning"
        await fire(page.save_button)
        assert page.days["tue"].error and page.status.color == ERROR
        page.days["tue"].value = "09:00-12:00, 11:00-13:00"
        await fire(page.save_button)
        assert page.days["tue"].error is None
        assert "overlapping" in (shown(page) or "") and page.status.color == ERROR
        page.days["tue"].value = ""
        page.timezone.value = "Mars/Olympus"
        await fire(page.save_button)
        assert "not a known IANA timezone" in (shown(page) or "")
        unchanged = await owner_client.get_availability()
        assert unchanged.timezone == "UTC" and unchanged.hours["tue"] == (("00:00", "24:00"),)
    run(scenario)
