"""The widget's rating card in headless Chromium against a real `chatdock serve`: an agent
resolves over the API, the visitor rates in the page, the ticket shows it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.browser import artifact
from tests.conftest import ServedProcess, auth
from tests.test_widget_browser import expect, open_demo, send, ticket_of, visitor_id, wait_stored
from tests.test_widget_browser import widget as widget_of


def set_status(served: ServedProcess, ticket_id: int, status: str) -> None:
    resp = httpx.patch(f"{served.base}/api/v1/tickets/{ticket_id}", json={"status": status},
                       headers=auth(served.sk))
    assert resp.status_code == 200, resp.text


def wait_rating(served: ServedProcess, page: Any) -> dict[str, Any]:
    """Poll the agent API until the visitor's ticket carries a rating; the rating."""
    deadline = time.monotonic() + 10
    while (rating := ticket_of(served, visitor_id(page, served.pk))["rating"]) is None:
        assert time.monotonic() < deadline, "the rating never reached the ticket"
        time.sleep(0.1)
    return rating  # type: ignore[no-any-return]


def session_token(page: Any, pk: str) -> str:
    return str(page.evaluate(
        "k => JSON.parse(localStorage.getItem('chatdock:' + k.slice(0, 20))).t", pk))


def test_resolve_shows_the_card_and_the_rating_reaches_the_ticket(
        served: ServedProcess, page: Any) -> None:
    open_demo(page, served)
    w = widget_of(page)
    w.locator(".launcher").click()
    send(page, "Can I change my address?")
    ticket = wait_stored(served, page, served.pk, "Can I change my address?")
    card = w.locator(".rate")
    expect(card).to_have_count(0)

    set_status(served, ticket["id"], "resolved")
    expect(card).to_be_visible()
    expect(card).to_contain_text("How did we do?")
    submit = card.get_by_role("button", name="Send rating")
    expect(submit).to_be_disabled()
    card.get_by_role("button", name="4 of 5").click()
    expect(card.get_by_role("button", name="4 of 5")).to_have_attribute("aria-pressed", "true")
    expect(card.get_by_role("button", name="5 of 5")).to_have_attribute("aria-pressed", "false")
    card.get_by_role("textbox", name="Comment (optional)").fill("Quick <b>answer</b>")
    page.screenshot(path=str(artifact("widget_rating.png")))
    submit.click()
    expect(card).to_have_text("Thank you for your rating!")
    rating = wait_rating(served, page)
    assert (rating["score"], rating["comment"]) == (4, "Quick <b>answer</b>")

    page.reload()  # rated: not asked again
    w.locator(".launcher").click()
    expect(w.locator(".log .msg:not(.welcome)")).to_have_count(1)
    expect(card).to_have_count(0)


def test_on_load_a_resolved_unrated_conversation_asks_and_a_refusal_shows_as_text(
        served: ServedProcess, page: Any) -> None:
    open_demo(page, served)
    w = widget_of(page)
    w.locator(".launcher").click()
    send(page, "Where is my parcel?")
    ticket = wait_stored(served, page, served.pk, "Where is my parcel?")
    page.goto("about:blank")
    set_status(served, ticket["id"], "resolved")  # while the visitor was away

    open_demo(page, served)
    w.locator(".launcher").click()
    card = w.locator(".rate")
    expect(card).to_be_visible()
    # the visitor's other tab rates first: this card's submit is refused, said as text
    other = httpx.post(f"{served.base}/api/v1/chat/sessions/{ticket['id']}/rating",
                       json={"score": 2}, headers=auth(served.pk, session_token(page, served.pk)))
    assert other.status_code == 201, other.text
    card.get_by_role("button", name="5 of 5").click()
    card.get_by_role("button", name="Send rating").click()
    expect(card.get_by_role("alert")).to_contain_text("already rated")
    assert wait_rating(served, page)["score"] == 2

    box = w.locator(".composer textarea")  # writing again reopens: the card goes
    box.fill("One more question")
    box.press("Enter")
    expect(card).to_have_count(0)
