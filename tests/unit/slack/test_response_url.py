"""Which response_urls the plugin talks to: Slack's, over https, and the configured API's own origin."""

from __future__ import annotations

import pytest

from bot.slack.response_url import ResponseUrlRefused, ResponseUrls, origin_of

SLACK = "https://slack.com/api/"
HOOK = "https://hooks.slack.com/actions/T0001/1234567890/AbCdEf123"


def test_slack_hooks_are_accepted_with_the_default_api() -> None:
    responses = ResponseUrls(SLACK)
    assert responses.check(HOOK) == HOOK
    assert responses.check("https://hooks.slack.com:443/actions/T0001/1/x")
    assert responses.check("https://HOOKS.SLACK.COM/actions/T0001/1/x")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/actions/T0001/1/x",  # not https
        "https://hooks.slack.com:8443/actions/T0001/1/x",  # another port
        "https://hooks.slack.com.evil.test/actions/T0001/1/x",
        "https://evilhooks.slack.com/actions/T0001/1/x",
        "https://hooks.slack.com@evil.test/actions/x",  # evil.test, with a user name
        "https://user:pw@hooks.slack.com/actions/x",  # credentials have no place in it
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/actions/x",
        "https:///actions/x",
        "hooks.slack.com/actions/x",
        "javascript:alert(1)",
        "",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ResponseUrlRefused) as refused:
        ResponseUrls(SLACK).check(url)
    assert "evil" not in str(refused.value) and "actions" not in str(refused.value)  # names no address


def test_govslack_hooks_follow_the_api_host() -> None:
    responses = ResponseUrls("https://slack-gov.com/api/")
    assert responses.check("https://hooks.slack-gov.com/actions/T0001/1/x")
    assert responses.check("https://slack-gov.com/actions/T0001/1/x")
    assert responses.check(HOOK)
    with pytest.raises(ResponseUrlRefused):
        responses.check("http://hooks.slack-gov.com/actions/T0001/1/x")


def test_a_plain_http_api_on_loopback_allows_exactly_its_own_origin() -> None:
    """The fake Slack in the tests: response_urls on the API's scheme, host and port, and nowhere near them."""
    responses = ResponseUrls("http://127.0.0.1:5555/api/")
    assert responses.check("http://127.0.0.1:5555/actions/A0APP-x")
    for url in (
        "http://127.0.0.1:5556/actions/A0APP-x",
        "https://127.0.0.1:5555/actions/A0APP-x",
        "http://localhost:5555/actions/A0APP-x",
        "https://hooks.127.0.0.1/actions/x",
    ):
        with pytest.raises(ResponseUrlRefused):
            responses.check(url)


def test_origin_of() -> None:
    assert origin_of(HOOK) == ("https", "hooks.slack.com", 443)
    assert origin_of("http://127.0.0.1/x") == ("http", "127.0.0.1", 80)
    assert origin_of("http://[::1]:99999/") is None
    assert origin_of("ftp://hooks.slack.com/") is None
