"""Bad input is a clear, short, coded error or is left out of the card; never INTERNAL, never a lost notification.

Unparseable URLs (``http://[oops``), tokens with a line break, and huge values echoed into error details.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from bot.button_keys import ButtonKeys
from bot.cloudforet.callback_client import CallbackClient, CallbackRefused, Outcome, check_url
from bot.cloudforet.servicers import MAX_DETAILS_BYTES, bounded_details
from bot.core.cards import iter_buttons, render_card
from bot.core.errors import BotError, ErrorCode
from bot.core.models import Message, NotificationType
from bot.core.requests import parse_channel
from bot.core.text import MAX_ECHOED_CHARS, echo, is_web_url, split_url
from bot.delivery.card_builder import build_card, callback_values
from tests.samples import APP_TOKEN, CALLBACK_URL, LINK, TOKEN
from tests.support import Stack, details_of

BROKEN_URLS = ["http://[oops", "https://[::1/x", "http://host:99999/x", "http://host:port/x", "http://＃x/"]


# -- URLs ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", BROKEN_URLS)
def test_split_url_never_raises(url: str) -> None:
    assert split_url(url) is None and not is_web_url(url)


@pytest.mark.parametrize("url", [CALLBACK_URL, LINK, "http://[::1]:8080/x", "https://cf.example.test"])
def test_good_urls_are_web_urls(url: str) -> None:
    assert is_web_url(url)


def test_a_web_address_may_be_held_to_a_length() -> None:
    url = "https://cf.example.test/" + "a" * 100
    assert is_web_url(url, max_length=len(url)) and not is_web_url(url, max_length=len(url) - 1)
    assert not is_web_url("javascript:x", max_length=3000)


@pytest.mark.parametrize(
    "url",
    [
        *BROKEN_URLS,
        CALLBACK_URL,
        "HTTPS://cf.example.test/x",
        "https://cf.example.test/a b",
        "ftp://cf.example.test/x",
        "https:///x",
        " https://cf.example.test/x",
        "http://x",
    ],
)
def test_one_check_says_what_a_web_address_is(tmp_path: Path, url: str) -> None:
    """The card's link button, the sealing of callbacks and the callback check agree on every URL (each strips
    white space around it first)."""
    stripped = url.strip()
    message = Message.from_struct({"title": "t", "link": url, "callbacks": [{"label": "Ack", "url": url}]})
    sealed = callback_values(message, ButtonKeys([], tmp_path))[0] is not None
    payload = render_card(message, NotificationType.INFO).payload()
    linked = any(b.get("url") == stripped for b in iter_buttons(payload))
    try:
        check_url(stripped, None)
        callable_ = True
    except CallbackRefused:
        callable_ = False
    assert sealed == linked == callable_ == is_web_url(stripped)


@pytest.mark.parametrize("url", BROKEN_URLS)
def test_a_broken_link_or_image_is_left_off_the_card_with_a_note(url: str) -> None:
    card = render_card(Message.from_struct({"title": "t", "link": url, "image_url": url}), NotificationType.ERROR)
    payload = card.payload()
    assert list(iter_buttons(payload)) == [] and "'image_url'" not in str(payload)
    assert any("link" in note for note in card.truncated) and any("image" in note for note in card.truncated)


@pytest.mark.parametrize("url", BROKEN_URLS)
def test_a_broken_callback_gets_no_button(tmp_path: Path, url: str) -> None:
    keys = ButtonKeys([], tmp_path)
    message = Message.from_struct(
        {"title": "t", "callbacks": [{"label": "Ack", "url": url}, {"label": "Ok", "url": CALLBACK_URL}]}
    )
    assert [value is None for value in callback_values(message, keys)] == [True, False]
    card = build_card(message, NotificationType.ERROR, keys)
    assert [b["text"]["text"] for b in iter_buttons(card.payload())] == ["Ok"]


@pytest.mark.parametrize("url", BROKEN_URLS)
def test_a_broken_callback_url_is_refused_not_raised(url: str) -> None:
    with pytest.raises(CallbackRefused, match="not a web address"):
        check_url(url, None)


async def test_a_callback_host_the_client_cannot_encode_is_refused() -> None:
    client = CallbackClient(allowed_hosts=None, timeout=2)
    try:
        for url in ("http://" + "a" * 300 + "/alert/x/ACKNOWLEDGED", "http://a..b/x"):
            result = await client.call(client.check(url), "someone (Slack U1)")  # used to raise UnicodeError
            assert result.outcome is Outcome.REFUSED and "not a valid web address" in result.detail
    finally:
        await client.close()


def test_a_refused_host_is_quoted_briefly() -> None:
    host = "h" * 60 + "." + "x" * 5000 + ".test"
    with pytest.raises(CallbackRefused) as caught:
        check_url(f"https://{host}/cb", ["cf.example.test"])
    assert len(str(caught.value)) < 2 * MAX_ECHOED_CHARS


# -- channel settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("token", TOKEN + "\n", "channel_data.token must be a Slack bot token (xoxb-…, with no spaces or line breaks)"),
        ("token", TOKEN + "\r\n", "channel_data.token must be a Slack bot token"),
        (
            "app_token",
            APP_TOKEN + "\n",
            "channel_data.app_token must be a Slack app-level token (xapp-…, with no spaces",
        ),
        ("channel_id", "C" + "A" * 10_000, "channel_data.channel_id must be a channel ID"),
    ],
)
def test_values_that_used_to_slip_through_are_clear_errors(field: str, value: str, expected: str) -> None:
    data = {"token": TOKEN, "channel": "#alerts", field: value}
    with pytest.raises(BotError) as caught:
        parse_channel(data)
    assert caught.value.code is ErrorCode.INVALID_CHANNEL_DATA and expected in caught.value.message
    assert TOKEN not in caught.value.details and APP_TOKEN not in caught.value.details
    assert len(caught.value.details) < 300


def test_a_huge_channel_name_is_a_short_error() -> None:
    with pytest.raises(BotError) as caught:
        parse_channel({"token": TOKEN, "channel": "#" + "é" * 10_000, "channel_id": "x" * 10_000})
    assert caught.value.code is ErrorCode.INVALID_CHANNEL_DATA and len(caught.value.details) < 400
    assert "é" * 20 not in caught.value.details


# -- bounded details -----------------------------------------------------------------------------------------------


def test_echo_cuts_visibly() -> None:
    assert echo("short") == "short"
    assert len(echo("x" * 10_000)) == MAX_ECHOED_CHARS and echo("x" * 10_000).endswith("…")


@pytest.mark.parametrize("text", ["a" * 10_000, "é" * 10_000, "😀" * 10_000, "ERROR_X: " + "a\n" * 5000])
def test_bounded_details_fit_in_grpc_metadata(text: str) -> None:
    details = bounded_details(text)
    assert len(details.encode()) <= MAX_DETAILS_BYTES and details.endswith("…") and text.startswith(details[:5])


def test_short_details_are_unchanged() -> None:
    assert bounded_details("ERROR_SLACK_AUTH: check the token") == "ERROR_SLACK_AUTH: check the token"


# -- over gRPC -----------------------------------------------------------------------------------------------------


def test_a_ten_thousand_character_channel_id_is_a_short_coded_error(stack: Stack) -> None:
    """The regression: Slack's channel_not_found echoed all 10,000 characters into the details, past the client's
    metadata limit (Cloudforet saw RESOURCE_EXHAUSTED without ERROR_)."""
    with pytest.raises(grpc.RpcError) as caught:
        stack.dispatch(
            {"title": "t"}, channel_data={"token": TOKEN, "channel": "#alerts", "channel_id": "C" + "A" * 9_999}
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(caught.value).startswith("ERROR_INVALID_CHANNEL_DATA") and len(details_of(caught.value)) < 300


def test_an_unknown_long_channel_name_is_quoted_briefly(stack: Stack) -> None:
    name = "#" + "ü" * 80
    with pytest.raises(grpc.RpcError) as caught:
        stack.dispatch({"title": "t"}, channel_data={"token": TOKEN, "channel": name})
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    details = details_of(caught.value)
    assert details.startswith("ERROR_SLACK_CHANNEL_NOT_FOUND") and "ü" * 40 in details and name not in details


def test_a_token_with_a_trailing_newline_is_invalid_argument_not_internal(stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stack.dispatch({"title": "t"}, channel_data={"token": TOKEN + "\n", "channel": "#alerts"})
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(caught.value).startswith("ERROR_INVALID_CHANNEL_DATA: channel_data.token")


@pytest.mark.parametrize("key", ["link", "callbacks"])
def test_a_broken_url_in_a_message_is_delivered(stack: Stack, key: str) -> None:
    value = "http://[oops" if key == "link" else [{"label": "Ack", "url": "http://[oops"}]
    stack.dispatch({"title": "broken url", key: value})
    [posted] = stack.posted()
    payload = {"blocks": posted.blocks, "attachments": posted.attachments}
    assert posted.blocks[0]["text"]["text"].endswith("broken url") and list(iter_buttons(payload)) == []
