"""The away banner outside business hours: the control on its own, then ChatScreen with the
real AsyncChatClient against the real server (hours set through the agent API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app_flet.headless import AsyncChatClient, Availability
from app_flet.ui import ChatScreen, ChatStrings
from app_flet.ui.away import AwayBanner, back_at
from tests.conftest import Agent
from tests.ui.conftest import fire, run, until

STRINGS = ChatStrings()
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # Monday 10:00 in Tokyo
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def test_back_at_is_local_time_with_the_weekday_unless_today() -> None:
    assert back_at(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), STRINGS, NOW, TOKYO) == "18:00"
    assert back_at(datetime(2026, 12, 8, 0, 0, tzinfo=UTC), STRINGS, NOW, TOKYO) == "Tue 09:00"


def test_banner_hidden_while_open_or_without_availability() -> None:
    banner = AwayBanner(STRINGS, on_email=lambda email: None)  # type: ignore[arg-type,return-value]
    banner.show(None, email_known=False)
    assert not banner.visible
    banner.show(Availability(True, None, "Back soon"), email_known=False)
    assert not banner.visible


def test_banner_says_when_and_what_and_asks_for_an_email() -> None:
    saved: list[str] = []

    async def on_email(email: str) -> None:
        saved.append(email)

    async def scenario() -> None:
        banner = AwayBanner(STRINGS, on_email=on_email, tz=TOKYO)
        opens = datetime.now(UTC) + timedelta(days=2)
        banner.show(Availability(False, opens, "<b>Back</b> at dawn"), email_known=False)
        assert banner.visible
        assert banner.title.value == f"We're away — back at {opens.astimezone(TOKYO):%a %H:%M}"
        assert banner.message.value == "<b>Back</b> at dawn" and banner.message.visible
        assert banner.ask.visible
        banner.email.value = "nope"
        await fire(banner.save_button)
        assert saved == [] and banner.email.error == STRINGS.pre_chat_email_invalid
        banner.email.value = " ann@example.com "
        await fire(banner.email, "submit")
        assert saved == ["ann@example.com"] and banner.email.error is None
        banner.thank("ann@example.com")
        assert not banner.ask.visible
        assert banner.message.value == "Thanks! We'll reply to ann@example.com."
        banner.show(Availability(False, None, ""), email_known=True)
        assert banner.title.value == "We're away" and not banner.message.visible
        assert not banner.ask.visible
    run(scenario)


def close_until_tomorrow(agent: Agent, message: str) -> None:
    tomorrow = DAYS[(datetime.now(UTC).weekday() + 1) % 7]
    agent._call("PUT", "/availability", json={"timezone": "UTC", "offline_message": message,
                                              "hours": {tomorrow: [["09:00", "17:00"]]}})


def test_screen_shows_the_banner_keeps_the_composer_and_saves_the_email(
        chat_client: AsyncChatClient, agent: Agent) -> None:
    close_until_tomorrow(agent, "We answer on weekdays.")

    async def scenario() -> None:
        screen = ChatScreen(chat_client, visitor_id="v-away", autostart=False)
        screen.away.tz = TOKYO
        await screen.start()
        assert screen.state == "chat"
        assert screen.away.visible and screen.away.ask.visible
        assert screen.chat.controls.index(screen.away) == (
            screen.chat.controls.index(screen.composer) - 1)  # just above the composer
        assert screen.away.title.value.startswith("We're away — back at ")
        assert screen.away.message.value == "We answer on weekdays."
        screen.composer.field.value = "Anyone there?"
        assert await screen.composer.submit()  # still takes a message
        ticket = agent.ticket(screen.session.conversation_id)
        assert [m["content"] for m in ticket["messages"]] == ["Anyone there?"]
        assert ticket["customer"]["email"] is None
        screen.away.email.value = "night@owl.test"
        await screen.away.submit()
        assert not screen.away.ask.visible
        assert agent.ticket(screen.session.conversation_id)["customer"]["email"] == (
            "night@owl.test")
        # the owner opens all week: the server's AvailabilityUpdated (its watcher polls every
        # 2 s) reaches the screen through the real socket; no reload, no config re-read
        agent._call("PUT", "/availability",
                    json={"hours": {day: [["00:00", "24:00"]] for day in DAYS}})
        await until(lambda: not screen.away.visible, timeout=10,
                    what="the banner to hide on AvailabilityUpdated")
        assert screen.config.availability == Availability(True, None, "We answer on weekdays.")
        agent._call("PUT", "/availability", json={"hours": {}})  # and closed for good
        await until(lambda: screen.away.visible, timeout=10,
                    what="the banner to show on AvailabilityUpdated")
        assert screen.away.title.value == STRINGS.away_closed
        await screen.close()
    run(scenario)


def test_screen_without_hours_shows_no_banner(chat_client: AsyncChatClient) -> None:
    async def scenario() -> None:
        screen = ChatScreen(chat_client, visitor_id="v-open", email="known@example.com",
                            autostart=False)
        await screen.start()
        assert screen.config.availability == Availability(True, None, "")
        assert not screen.away.visible
        await screen.close()
    run(scenario)


def test_known_email_is_not_asked_for(chat_client: AsyncChatClient, agent: Agent) -> None:
    close_until_tomorrow(agent, "")

    async def scenario() -> None:
        screen = ChatScreen(chat_client, visitor_id="v-known", email="known@example.com",
                            autostart=False)
        await screen.start()
        assert screen.away.visible and not screen.away.ask.visible
        await screen.close()
    run(scenario)
